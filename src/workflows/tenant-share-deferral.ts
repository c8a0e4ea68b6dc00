import { condition, patched } from '@temporalio/workflow';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import { TENANT_SHARE_DEFERRAL_PATCH } from '../contracts/patches';

/**
 * The run's side of fair share (DESIGN.md §8, last point; the worker's gate is
 * activities/fair-share.ts). Temporal 1.19 hands a task queue's tasks out first come first
 * served, and a worker polls only while it has a free task slot. A tenant whose nodes wait at
 * the gate holds slots while they wait; once one tenant's backlog filled them all, another
 * tenant's first node waited in Temporal's queue behind it, where no gate could help.
 *
 * So a first attempt whose tenant already has its share of the gate's backlog waiting comes
 * back `deferred` at once, and the run schedules it again: when one of its own node activities
 * settles (a slot of its tenant's just freed: the relaunch keeps the tenant's backlog full, so a
 * lone tenant still saturates the worker), or after a backoff when none does (its other runs
 * hold the backlog). Each deferral costs three history events and a timer; after
 * MAX_DEFERRALS an attempt is sent without the offer and waits at the gate, as before, so a
 * node's history stays bounded.
 */

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

/** Deferrals of one attempt before it is sent without the offer (and waits in a task slot). */
export const MAX_DEFERRALS = 8;
/** How long a deferred attempt waits at most for one of the run's node activities to settle. */
const BACKOFF_MS = [1_000, 2_000, 4_000, 8_000, 15_000, 30_000] as const;

/** A deferred attempt waiting for its turn to be scheduled again (module state is per run in the sandbox). */
interface Waiter {
  go: boolean;
}
const waiters: Waiter[] = [];
/** Ids of the activities deferred right now, for the run's state query (`waitingFor: tenantShare`). */
const deferredIds = new Set<string>();

/** The node's activity, taking deferred results when the run is recorded with the patch. */
export function deferrable(activity: NodeActivity, activityId: string): NodeActivity {
  if (!patched(TENANT_SHARE_DEFERRAL_PATCH)) return activity;
  return (input) => attempt(activity, input, activityId, 0);
}

function attempt(activity: NodeActivity, input: NodeActivityInput, activityId: string, deferrals: number): Promise<NodeActivityResult> {
  const offered = deferrals < MAX_DEFERRALS;
  return activity(offered ? { ...input, deferrable: true } : input).then(
    (result) => {
      // Only an offered attempt may come back deferred (the gate strips a node type's own flag).
      if (!(offered && result.deferred === true)) {
        settled();
        return result;
      }
      deferredIds.add(activityId);
      return turn(deferrals).then(() => {
        deferredIds.delete(activityId);
        return attempt(activity, input, activityId, deferrals + 1);
      });
    },
    (err: unknown) => {
      settled();
      throw err;
    },
  );
}

/** Waits for one of the run's node activities to settle (first deferred, first woken), or the backoff. */
async function turn(deferrals: number): Promise<void> {
  const waiter: Waiter = { go: false };
  waiters.push(waiter);
  await condition(() => waiter.go, BACKOFF_MS[Math.min(deferrals, BACKOFF_MS.length - 1)]!);
  const at = waiters.indexOf(waiter);
  if (at >= 0) waiters.splice(at, 1);
}

/** A node activity of the run came back for good: its tenant's slot freed, the first deferred goes. */
function settled(): void {
  const next = waiters.shift();
  if (next) next.go = true;
}

/** The activities deferred now (by activity id: a run's own nodes are their node ids). */
export function deferredActivities(): ReadonlySet<string> {
  return deferredIds;
}
