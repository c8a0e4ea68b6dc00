import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  proxyLocalActivities,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { NodeDef, WorkflowDefinition } from '../domain/definition';
import { durationMs } from '../domain/duration';
import { executionModeOf, resolveLocalActivityPolicy } from '../domain/execution-mode';
import type { ExpressionCompiler, ExpressionContext } from '../domain/expressions';
import { resolveTemplates } from '../domain/expressions';
import { ANY_ERROR } from '../domain/definition';
import { evaluatedKey, limiterWorkflowId, type LimitKind, type WaitingFor } from '../domain/flow-control';
import { resolveActivityPolicy, type ResolvedActivityPolicy, type ResolvedRetrier } from '../domain/policy';
import type { EmptyTemplate } from '../domain/template-trace';
import { limitGrantedSignal, limitReleaseSignal, type LimitRequest, type LimiterActivities, type LimiterIdentity } from '../contracts/limiter';
import { activityCall, afterFailedAttempt } from './node-runners';
import type { Settled } from '../contracts/settled';

/**
 * Node-level `concurrency` and `rateLimit` (DESIGN.md §5): every attempt of a limited node first
 * takes its turn from the tenant's limiter for the key (limiter-workflow.ts), so retries count,
 * and map items count one each. Temporal then makes one attempt per activity; the workflow
 * retries with the node's own policy, as it does for retry lists.
 */

/** A waiter that heard nothing asks again this often (its limiter may have ended or been reset). */
const ASK_AGAIN_MS = 15_000;
/** The lease of a holder whose node has no heartbeat timeout (a local activity). */
const DEFAULT_LEASE_MS = 30_000;

const { requestLimitSlot } = proxyLocalActivities<LimiterActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 10 },
  summary: 'request limit slot',
});

/** A node's limits with their keys evaluated. */
export interface NodeLimits {
  concurrency?: { key: string; limit: number };
  rateLimit?: { key: string; limit: number; perMs: number };
}

/** Evaluates the keys (templates see what the node's config sees); a bad key fails the node, never shares a slot. */
export async function resolveNodeLimits(node: NodeDef, context: () => ExpressionContext, compiler: ExpressionCompiler): Promise<NodeLimits> {
  const keyOf = async (raw: string, field: string): Promise<string> => {
    const value = raw.includes('{{') ? await resolveTemplates(raw, context(), compiler) : raw;
    const checked = evaluatedKey(value);
    if ('problem' in checked) throw ApplicationFailure.nonRetryable(`${field}.key: ${checked.problem}`, 'LimitKeyInvalid');
    return checked.key;
  };
  const limits: NodeLimits = {};
  if (node.concurrency) limits.concurrency = { key: await keyOf(node.concurrency.key, 'concurrency'), limit: node.concurrency.limit };
  if (node.rateLimit) {
    limits.rateLimit = { key: await keyOf(node.rateLimit.key, 'rateLimit'), limit: node.rateLimit.limit, perMs: durationMs(node.rateLimit.per) };
  }
  return limits;
}

/** What the interpreter shows while a node waits and once an attempt runs. */
export interface LimitHooks {
  waiting(waitingFor: WaitingFor): void;
  running(attempt: number): void;
}

export interface LimitedActivityCall {
  node: NodeDef;
  config: Record<string, unknown>;
  defaults: WorkflowDefinition['defaults'];
  tenantId: string | undefined;
  inlineOutputBytes: number;
  limits: NodeLimits;
  hooks: LimitHooks;
  activityId?: string;
  secretPaths?: string[];
  emptyTemplates?: EmptyTemplate[];
}

export async function runLimitedActivityNode(call: LimitedActivityCall): Promise<Settled> {
  const { node, defaults, tenantId, limits, hooks } = call;
  const { activity, input } = activityCall(node, call.config, defaults, tenantId, call.inlineOutputBytes, {
    singleAttempt: true,
    ...(call.activityId !== undefined && { activityId: call.activityId }),
    ...(call.secretPaths && { secretPaths: call.secretPaths }),
    ...(call.emptyTemplates && { emptyTemplates: call.emptyTemplates }),
  });
  const policy = executionModeOf(node, defaults) === 'local' ? resolveLocalActivityPolicy(node, defaults) : resolveActivityPolicy(node, defaults);
  const retriers = policy.retriers ?? retriersOf(policy.retry);
  const leaseMs = ('heartbeatTimeout' in policy ? policy.heartbeatTimeout : undefined) ?? DEFAULT_LEASE_MS;
  for (let attempt = 1; ; attempt++) {
    let delay: number | undefined;
    const slot = limits.concurrency ? await acquire({ tenantId, kind: 'concurrency', key: limits.concurrency.key }, { limit: limits.concurrency.limit, leaseMs }, hooks) : undefined;
    try {
      if (limits.rateLimit) await acquire({ tenantId, kind: 'rateLimit', key: limits.rateLimit.key }, { limit: limits.rateLimit.limit, perMs: limits.rateLimit.perMs }, hooks);
      hooks.running(attempt);
      try {
        const result = await activity(attempt === 1 ? input : { ...input, priorAttempts: attempt - 1 });
        return { status: 'SUCCEEDED', output: result.output, attempt };
      } catch (err) {
        const next = afterFailedAttempt(err, attempt, retriers);
        if (typeof next !== 'number') return next;
        delay = next;
      }
    } finally {
      if (slot) await release(slot);
    }
    await sleep(Math.max(1, delay));
  }
}

/** A single retry policy as retriers: its non-retryable types stop at once, the rest retry as it says. */
function retriersOf(retry: ResolvedActivityPolicy['retry']): ResolvedRetrier[] {
  const base = { initialInterval: retry.initialInterval, backoffCoefficient: retry.backoffCoefficient, maximumInterval: retry.maximumInterval };
  const list: ResolvedRetrier[] = [];
  if (retry.nonRetryableErrorTypes?.length) list.push({ errors: [...retry.nonRetryableErrorTypes], maximumAttempts: 1, ...base });
  list.push({ errors: [ANY_ERROR], maximumAttempts: retry.maximumAttempts, ...base });
  return list;
}

// -- talking to the limiter -----------------------------------------------------------------------

/**
 * Grants received by this workflow; the handler is set on first use (a signal before it is
 * buffered). Shared with the run's own slot (run-queue.ts): one handler per signal.
 */
let granted: Set<string> | undefined;
export function grants(): Set<string> {
  if (!granted) {
    const set = (granted = new Set<string>());
    setHandler(limitGrantedSignal, (id) => void set.add(id));
  }
  return granted;
}

export interface Slot {
  identity: LimiterIdentity;
  id: string;
}

/** Waits for this attempt's turn; cancelled while waiting, it withdraws its request and rethrows. */
async function acquire(identity: LimiterIdentity, terms: { limit: number; perMs?: number; leaseMs?: number }, hooks: LimitHooks): Promise<Slot> {
  const set = grants();
  const info = workflowInfo();
  const request: LimitRequest = { id: uuid4(), holder: { workflowId: info.workflowId, runId: info.runId }, ...terms };
  const slot = { identity, id: request.id };
  try {
    await requestLimitSlot({ identity, request });
    if (!set.has(request.id)) hooks.waiting({ kind: identity.kind as LimitKind, key: identity.key });
    while (!(await condition(() => set.has(request.id), ASK_AGAIN_MS))) await requestLimitSlot({ identity, request });
  } catch (err) {
    await release(slot);
    throw err;
  }
  set.delete(request.id);
  return slot;
}

/** Frees a held slot, or withdraws a waiting request; a limiter that is gone holds nothing. */
export async function release(slot: Slot): Promise<void> {
  if (slot.identity.kind === 'rateLimit' && grants().has(slot.id)) return; // a start once granted stays counted
  await CancellationScope.nonCancellable(async () => {
    try {
      await getExternalWorkflowHandle(limiterWorkflowId(slot.identity.tenantId, slot.identity.kind, slot.identity.key, slot.identity.workflowId)).signal(limitReleaseSignal, slot.id);
    } catch {
      // the limiter ended (idle) or was never started: nothing is held there
    }
  });
}
