import { ApplicationFailure, CancellationScope, condition, proxyLocalActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { WorkflowDefinition } from '../domain/definition';
import type { ExpressionCompiler } from '../domain/expressions';
import { resolveTemplates } from '../domain/expressions';
import { SHARED_RUN_KEY, evaluatedKey } from '../domain/flow-control';
import { limitDeniedSignal, limitQueuedSignal, type LimitRequest, type LimiterActivities, type LimiterIdentity } from '../contracts/limiter';
import { grants, release, type Slot } from './node-limits';
import type { RunMirror } from './run-mirror';
import type { DroppedStartActivities } from '../contracts/dropped-starts';
import type { StopRequest } from './run-stop';
import { cancelSignal } from '../contracts/dag-workflow';
import { runTimeoutMs } from './run-timer';

/**
 * Run-level `concurrency` (DESIGN.md §5): before any node starts, the run asks the tenant's
 * limiter for this workflow and key (limiter-workflow.ts, kind `run`) for a slot. While it waits
 * it is QUEUED (the limiter says so: a run granted at once never shows QUEUED); cancelled or
 * past its runTimeout there, it ends without running a node. The slot is released when the run
 * finishes; a run that ends any other way (terminate, crash) is found by the limiter's lease
 * check within RUN_SLOT_LEASE_MS.
 */

/** DESIGN.md §5: a run slot left by a run that ended outside the workflow frees within 30 s. */
export const RUN_SLOT_LEASE_MS = 30_000;
/** A waiter that heard nothing asks again this often (its limiter may have ended idle meanwhile). */
const ASK_AGAIN_MS = 15_000;

const { requestLimitSlot } = proxyLocalActivities<LimiterActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 10 },
  summary: 'request run slot',
});

/** A dropped start Temporal started itself (schedule, UI, CLI) is recorded as dropped: no run row. */
export const { recordDroppedStart } = proxyLocalActivities<DroppedStartActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10 },
  summary: 'record dropped start',
});

export interface RunQueueHost {
  definition: WorkflowDefinition;
  workflowId?: string;
  tenantId: string | undefined;
  version: number | undefined;
  input?: unknown;
  /** The start's override; else the definition's. */
  runTimeout?: string | number;
  /** The slot the API reserved for this run (onLimit drop), if it did. */
  runSlot?: string;
  compiler: ExpressionCompiler;
  mirror: RunMirror;
  /** The run's stop request: recorded while it waits, set (hard: nothing runs) when it ends there. */
  stop: StopRequest;
  /** The run's own cancel, handed the cancel signal back once the wait is over. */
  cancel(reason: string, force: boolean): void;
  /** Told when the run starts and stops waiting in line (its state query says QUEUED meanwhile). */
  onQueued?(queued: boolean): void;
}

/** How the wait ended when it did not end with the slot: the run then stops without running a node. */
interface QueueExit {
  reason: string;
  timedOut?: boolean;
  /** onLimit drop: no slot was free; the evaluated key. */
  droppedKey?: string;
}

/** How the queue let the run go on: `dropped` when onLimit drop found no slot (the run is stopped hard). */
export interface QueueOutcome {
  dropped?: { key: string; reason: string };
}

/** The run's slot while it holds one (module state is per workflow run in Temporal's sandbox). */
let held: Slot | undefined;

/**
 * Waits for the run's slot. Ends with the slot held, or with the run's stop request set to a hard
 * stop (cancelled, dropped, timed out while queued): the run then cancels every node at once,
 * cleanup nodes included, since nothing ran.
 */
export async function takeRunSlot(host: RunQueueHost): Promise<QueueOutcome> {
  // While queued a cancel is only recorded: the run's own handler would start cleanup nodes.
  setHandler(cancelSignal, ({ reason, force } = {}) => void host.stop.request(reason ?? 'cancelled by request', force === true));
  let cancelledByTemporal = false;
  CancellationScope.current().cancelRequested.catch(() => (cancelledByTemporal = true));
  const stopped = () => host.stop.stopping || cancelledByTemporal;
  try {
    const exit = await waitForSlot(host, stopped);
    if (exit) {
      host.stop.reason ??= exit.reason;
      host.stop.timedOut = exit.timedOut === true && host.stop.reason === exit.reason;
      host.stop.mode = 'hard';
      if (exit.droppedKey !== undefined) return { dropped: { key: exit.droppedKey, reason: exit.reason } };
    }
    return {};
  } finally {
    setHandler(cancelSignal, ({ reason, force } = {}) => host.cancel(reason ?? 'cancelled by request', force === true));
  }
}

async function waitForSlot(host: RunQueueHost, stopped: () => boolean): Promise<QueueExit | undefined> {
  const concurrency = host.definition.concurrency!;
  const key = await runKey(host);
  const info = workflowInfo();
  const identity: LimiterIdentity = { tenantId: host.tenantId, kind: 'run', key, workflowId: host.workflowId ?? `inline:${info.workflowType}` };
  const onLimit = concurrency.onLimit ?? 'queue';
  const request: LimitRequest = {
    id: host.runSlot ?? uuid4(),
    holder: { workflowId: info.workflowId, runId: info.runId },
    limit: concurrency.limit,
    leaseMs: RUN_SLOT_LEASE_MS,
    onLimit,
    queuedAt: info.startTime.getTime(),
  };
  const slot: Slot = { identity, id: request.id };
  const granted = grants();
  let denied = false;
  let queued = false;
  setHandler(limitDeniedSignal, (id) => void (id === request.id && (denied = true)));
  setHandler(limitQueuedSignal, (id) => void (id === request.id && (queued = true)));
  const runTimeout = host.runTimeout ?? host.definition.runTimeout;
  const remaining = runTimeoutMs(runTimeout);
  const deadline = remaining === undefined ? undefined : Date.now() + remaining;

  // Shielded: a Temporal cancellation reaches the run as stopped(), and the request is withdrawn.
  const exit = await CancellationScope.nonCancellable(async (): Promise<QueueExit | undefined> => {
    await requestLimitSlot({ identity, request });
    let shownQueued = false;
    for (;;) {
      const wait = deadline === undefined ? ASK_AGAIN_MS : Math.min(ASK_AGAIN_MS, deadline - Date.now());
      const answered = wait > 0 && (await condition(() => granted.has(request.id) || denied || stopped() || (queued && !shownQueued), wait));
      if (granted.has(request.id)) break;
      if (denied) return { reason: `dropped: ${concurrency.limit} run(s) with concurrency key "${key}" are running (onLimit: drop)`, droppedKey: key };
      if (stopped()) return { reason: 'cancelled while queued' };
      if (deadline !== undefined && Date.now() >= deadline) return { reason: `run timed out after ${runTimeout} (runTimeout) while queued`, timedOut: true };
      if (queued && !shownQueued) {
        shownQueued = true;
        host.mirror.run({ status: 'QUEUED' });
        host.onQueued?.(true);
        continue;
      }
      if (!answered) await requestLimitSlot({ identity, request }); // asked again: counted once
    }
    if (shownQueued) host.mirror.run({ status: 'RUNNING' });
    return undefined;
  });
  host.onQueued?.(false);
  if (exit) {
    await release(slot);
    return exit;
  }
  granted.delete(request.id);
  held = slot;
  return undefined;
}

/** The run is over: its slot goes to the next in line. */
export async function releaseRunSlot(): Promise<void> {
  const slot = held;
  held = undefined;
  if (slot) await release(slot);
}

/** The evaluated key (a template over `input`); a key that evaluates badly fails the run before any node. */
async function runKey(host: RunQueueHost): Promise<string> {
  const raw = host.definition.concurrency!.key;
  if (raw === undefined) return SHARED_RUN_KEY;
  const info = workflowInfo();
  const context = {
    input: host.input ?? null,
    nodes: {},
    execution: { id: info.workflowId, workflowId: host.workflowId ?? '', version: host.version ?? 0, startedAt: info.startTime.toISOString() },
  };
  let checked: ReturnType<typeof evaluatedKey>;
  try {
    checked = evaluatedKey(raw.includes('{{') ? await resolveTemplates(raw, context, host.compiler) : raw);
  } catch (err) {
    checked = { problem: err instanceof Error ? err.message : String(err) };
  }
  if ('key' in checked) return checked.key;
  const message = `concurrency.key: ${checked.problem}`;
  host.mirror.run({ status: 'FAILED', error: { type: 'LimitKeyInvalid', message }, finishedAt: new Date().toISOString() });
  await host.mirror.drain();
  throw ApplicationFailure.nonRetryable(message, 'LimitKeyInvalid');
}
