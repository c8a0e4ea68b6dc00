import { createHash, randomFillSync } from 'node:crypto';
import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import type { ExecutionStatus, ExecutionTrigger } from '../domain/status';
import {
  createExecutionOfStartableVersion,
  IdempotencyKeyTaken,
  findByIdempotencyKey,
  markStartFailed,
  toExecutionSummary,
  type ExecutionRow as Execution,
  type ExecutionSummary,
  type StartableExecution,
} from '../mirror';
import { ServiceError, conflict, invalid, notFound, temporalUnavailable } from './errors';
import { releaseDropSlot, reserveDropSlot } from './run-slots';
import type { RunSlotReservation } from '../temporal/limiters';
import type { TemporalGateway } from '../temporal/gateway';
import type { DagWorkflowInput } from '../contracts/dag-workflow';
import type { WorkflowDefinition } from '../domain/definition';
import { ExecutionAdmission, tooManyRuns } from './execution-admission';
import { parseDuration } from '../domain/duration';
import { MAX_RUN_TIMEOUT_MS } from '../domain/policy';
import { signClaim } from '../crypto/claim-signing';
import type { NodeMock } from '../domain/mocks';
import { pinVersionForMocks } from './test-runs';


export type { ExecutionStatus, ExecutionTrigger, ExecutionSummary };

/** Largest run input, as JSON; Temporal payloads and the mirror row both carry it. */
export const MAX_INPUT_BYTES = 256 * 1024;

export interface ExecutionContext {
  db: Db;
  temporal: TemporalGateway;
  /** The bound on a tenant's runs in progress; without it, TRELLIS_MAX_RUNNING_PER_TENANT. Exact either way. */
  executionAdmission?: ExecutionAdmission;
}

export interface StartRequest {
  tenantId: string;
  workflowId: string;
  version?: number;
  input?: unknown;
  idempotencyKey?: string;
  trigger: ExecutionTrigger;
  retryOf?: string;
  /** Outputs of nodes that succeeded in an earlier run (retry from failure), by node id. */
  reuse?: Record<string, unknown>;
  /** Overrides the definition's runTimeout for this run (checked here: a duration up to 30 days). */
  runTimeout?: string | number;
  /** Outputs of map nodes that failed in that run: only their failed items run again. */
  reuseItems?: Record<string, unknown>;
  /** A test run: these top-level nodes do not run, they end with the given output or error (DESIGN.md §6). */
  mocks?: Record<string, NodeMock>;
}

/** The error kept on a run whose start never reached Temporal; a retry with the same key heals it. */
export const START_FAILED = 'StartFailed';

export function newExecutionId(): string {
  // 16 random bytes are exactly 22 base64url characters: unguessable, and a valid Temporal workflow id.
  // Drawn from a pool refilled 256 ids at a time (as Node's randomUUID does): one call into the
  // CSPRNG per start was ~4% of the API's CPU under load.
  if (idBytesUsed + 16 > idBytes.length) {
    randomFillSync(idBytes);
    idBytesUsed = 0;
  }
  const id = idBytes.toString('base64url', idBytesUsed, idBytesUsed + 16);
  idBytesUsed += 16;
  return `ex_${id}`;
}

const idBytes = Buffer.alloc(16 * 256);
let idBytesUsed = idBytes.length;

/** How to retry a request Temporal did not take: a retried start with the same key never runs twice. */
export const RETRY_HINT = '(with the same idempotency key, if any)';

/**
 * Creates the run's row and starts its workflow. The row is written first so a run is never
 * live in Temporal without its mirror; a crash between the two is healed by the client retrying
 * with the same idempotency key, because a replay starts the workflow again (starting is idempotent).
 */
export async function startExecution(
  ctx: ExecutionContext,
  request: StartRequest,
): Promise<{ execution: ExecutionSummary; created: boolean }> {
  checkInputSize(request.input);
  checkRunTimeout(request.runTimeout);
  const { tenantId, idempotencyKey } = request;

  if (idempotencyKey !== undefined) {
    const existing = await findByIdempotencyKey(ctx.db, tenantId, idempotencyKey);
    if (existing) return replay(ctx, existing, request);
  }
  // A test run's mocks are checked (and its version pinned) before the row exists: a bad mock starts nothing.
  const pinned = request.mocks && (await pinVersionForMocks(ctx.db, { tenantId, workflowId: request.workflowId, version: request.version, mocks: request.mocks }));

  // Admitted by the statement that writes the row (under the tenant's admission lock).
  return createAndStart(ctx, pinned === undefined ? request : { ...request, version: pinned }, newExecutionId(), admissionOf(ctx).limit());
}

/** The bound on runs in progress for an API process (TRELLIS_MAX_RUNNING_PER_TENANT unless `maxRunning` says otherwise). */
export function executionAdmissionFor(db: Db, options?: ConstructorParameters<typeof ExecutionAdmission>[1]): ExecutionAdmission {
  return new ExecutionAdmission(db, options);
}

function admissionOf(ctx: ExecutionContext): ExecutionAdmission {
  return ctx.executionAdmission ?? executionAdmissionFor(ctx.db);
}

async function createAndStart(
  ctx: ExecutionContext,
  request: StartRequest,
  id: string,
  maxRunning: number,
): Promise<{ execution: ExecutionSummary; created: boolean }> {
  const { tenantId, idempotencyKey } = request;
  const row = {
    id,
    tenantId,
    workflowId: request.workflowId,
    trigger: request.trigger,
    retryOf: request.retryOf ?? null,
    idempotencyKey: idempotencyKey ?? null,
    input: request.input,
    test: request.mocks !== undefined,
  };
  let workflow: StartableExecution | undefined;
  try {
    // The lookup of the workflow and its version, and the insert when it can start: one statement.
    workflow = await createExecutionOfStartableVersion(ctx.db, { ...row, maxRunning, ...(request.version !== undefined && { version: request.version }) });
  } catch (err) {
    // Two requests with one key raced past the lookup: the loser answers with the winner's run.
    if (idempotencyKey !== undefined && err instanceof IdempotencyKeyTaken) {
      const winner = await findByIdempotencyKey(ctx.db, tenantId, idempotencyKey);
      if (winner) return replay(ctx, winner, request);
    }
    throw err;
  }
  if (!workflow) throw notFound(`workflow ${request.workflowId}`);
  if (workflow.archived) throw conflict(`workflow ${workflow.workflowId} is archived; it starts no new runs`);
  const { version, definition, created, limited } = workflow;
  if (limited) throw tooManyRuns(limited.running, maxRunning);
  if (definition === undefined || !created) throw notFound(`version ${version} of workflow ${workflow.workflowId}`);
  const summary: ExecutionSummary = toExecutionSummary({ ...row, version, status: 'RUNNING', finishedAt: null, pausedAt: null, pausedBy: null, ...created });

  // onLimit drop: the key's limiter decides before the run starts (409 CONCURRENCY_LIMITED, row gone).
  let runSlot: RunSlotReservation | undefined;
  try {
    runSlot = await reserveDropSlot(ctx, { executionId: row.id, tenantId, workflowId: workflow.workflowId, version, input: row.input, definition: definition as WorkflowDefinition });
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    await markStartFailed(ctx.db, row.id, { type: START_FAILED, message: err instanceof Error ? err.message : String(err) });
    throw temporalUnavailable('the run could not be started (its concurrency slot could not be reserved)', { hint: RETRY_HINT });
  }

  try {
    // The pinned definition travels with the start: the run skips a loadDefinition round trip,
    // and the Temporal UI shows exactly what ran.
    // Signed: a run with an inline definition and a tenant is believed only with Trellis's claim.
    await ctx.temporal.startRun(row.id, await signClaim(ctx.db, row.id, {
      ...workflowInput({ ...row, version, input: row.input ?? null }, request.reuse, request.reuseItems, request.mocks),
      definition: definition as WorkflowDefinition,
      ...(request.runTimeout === undefined ? {} : { runTimeout: request.runTimeout }),
      ...(runSlot && { runSlot: runSlot.id }),
    }), { trigger: request.trigger });
  } catch (err) {
    await releaseDropSlot(ctx.temporal, runSlot);
    const message = err instanceof Error ? err.message : String(err);
    // Only while still RUNNING: a racing replay may have started it after all, and the mirror moved on.
    await markStartFailed(ctx.db, row.id, { type: START_FAILED, message });
    throw temporalUnavailable('the run could not be started', { hint: RETRY_HINT });
  }
  return { execution: summary, created: true };
}

/** A request whose idempotency key already names a run: answer with that run, making sure it started. */
async function replay(
  ctx: ExecutionContext,
  row: Execution,
  request: StartRequest,
): Promise<{ execution: ExecutionSummary; created: boolean }> {
  if (row.workflowId !== request.workflowId) {
    throw conflict(`idempotency key already used for a run of workflow ${row.workflowId}`, { executionId: row.id });
  }
  if (request.version !== undefined && request.version !== row.version) {
    throw conflict(`idempotency key already used for a run of version ${row.version}`, { executionId: row.id });
  }
  // Stripe's rule: a key names one request. The same key with another input is a client bug, not a retry.
  const [first, now] = [inputFingerprint(row.input), inputFingerprint(request.input)];
  if (first !== now) {
    throw conflict(
      `idempotency key "${row.idempotencyKey}" was first used with a different input (fingerprint ${first}; this request's is ${now}). ` +
        'Re-send a key only to retry the very same request; use a new key for a new run.',
      { executionId: row.id, storedInputFingerprint: first, requestInputFingerprint: now },
    );
  }
  // A test run and a real one are different requests, whatever their input.
  if (row.test !== (request.mocks !== undefined)) {
    throw conflict(`idempotency key already used for a ${row.test ? 'test run (with mocks)' : 'run without mocks'}`, { executionId: row.id });
  }
  // lastSeq 0: the workflow never wrote to the mirror, so it really did not start.
  const startFailed = row.status === 'FAILED' && row.lastSeq === 0 && errorType(row.error) === START_FAILED;
  // A finished run is left alone: starting its workflow id again would run it a second time.
  if (row.status !== 'RUNNING' && !startFailed) return { execution: toExecutionSummary(row), created: false };

  // Reviving a run whose start failed makes it RUNNING again: it takes a slot like a new start
  // (its FAILED row gave its slot back), admitted before Temporal is asked, as a new start is.
  // A replay of a live run takes none.
  if (startFailed && !(await admissionOf(ctx).revive(row))) {
    // Another request revived (or the run moved on) meanwhile: answer with the row as it is now.
    // (Not FAILED-at-start any more, so this replay does not come back here.)
    const now = await findByIdempotencyKey(ctx.db, row.tenantId, row.idempotencyKey!);
    if (!now) throw notFound(`execution ${row.id}`);
    return replay(ctx, now, request);
  }
  try {
    await ctx.temporal.startRun(row.id, await signClaim(ctx.db, row.id, workflowInput(row, request.reuse, request.reuseItems, request.mocks)), { trigger: row.trigger });
  } catch (err) {
    // A revived row goes back to FAILED (its slot freed); a live one is left alone: an earlier
    // request created this run, and it may well be running already.
    if (startFailed) await markStartFailed(ctx.db, row.id, { type: START_FAILED, message: err instanceof Error ? err.message : String(err) });
    throw temporalUnavailable('the run could not be started', { hint: RETRY_HINT });
  }
  if (startFailed) {
    const healed = await findByIdempotencyKey(ctx.db, row.tenantId, row.idempotencyKey!);
    if (healed) return { execution: toExecutionSummary(healed), created: false };
  }
  return { execution: toExecutionSummary(row), created: false };
}

function workflowInput(
  row: Pick<Execution, 'tenantId' | 'workflowId' | 'version'> & { input: unknown },
  reuse: Record<string, unknown> | undefined,
  reuseItems?: Record<string, unknown>,
  mocks?: Record<string, NodeMock>,
): DagWorkflowInput {
  return {
    tenantId: row.tenantId,
    workflowId: row.workflowId,
    version: row.version,
    ...(row.input === null ? {} : { input: row.input }),
    ...(reuse === undefined ? {} : { reuse }),
    ...(reuseItems === undefined || Object.keys(reuseItems).length === 0 ? {} : { reuseItems }),
    ...(mocks === undefined ? {} : { mocks }),
  };
}

/**
 * A short SHA-256 of the input as canonical JSON (object keys sorted), so `{a,b}` and `{b,a}` are
 * one input; a missing input and `null` are the same run input too.
 */
export function inputFingerprint(input: unknown): string {
  return createHash('sha256').update(canonicalJson(input ?? null)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function checkRunTimeout(runTimeout: string | number | undefined): void {
  if (runTimeout === undefined) return;
  const ms = parseDuration(runTimeout);
  if (ms === undefined || ms <= 0 || ms > MAX_RUN_TIMEOUT_MS) {
    throw invalid(`runTimeout ${JSON.stringify(runTimeout)} is not a duration between 1 ms and 30 days`, [
      { path: '/body/runTimeout', message: 'must be a duration ("90s", "2h") or milliseconds, at most 30 days' },
    ]);
  }
}

function checkInputSize(input: unknown): void {
  if (input === undefined) return;
  const bytes = Buffer.byteLength(JSON.stringify(input) ?? '', 'utf8');
  if (bytes > MAX_INPUT_BYTES) {
    throw invalid(`input is ${bytes} bytes of JSON; the limit is ${MAX_INPUT_BYTES}`, [
      { path: '/input', message: `must be at most ${MAX_INPUT_BYTES} bytes as JSON` },
    ]);
  }
}

function errorType(error: Prisma.JsonValue | null): unknown {
  return error !== null && typeof error === 'object' && !Array.isArray(error) ? error.type : undefined;
}
