import { getActivator } from '@temporalio/workflow/lib/global-attributes';
import { SdkFlags } from '@temporalio/workflow/lib/flags';

/**
 * The SDK's own behaviour flags, as every Trellis run was executed with them.
 *
 * The TypeScript SDK changes some of its behaviour behind internal flags, which it records in
 * each workflow task's `sdkMetadata` and honours on replay only where the history says a flag
 * was used. Temporal servers before 1.20 (the development server these tests run on is 1.19)
 * drop `sdkMetadata`. Every workflow task Trellis ever completed live used both flags below
 * (SDK 1.24: on by default, and no worker of ours was older than 1.11), but a replay of such a
 * history ran without them, and for `ProcessWorkflowActivationJobsAsSingleBatch` that means
 * another order of work in any activation that holds a signal beside other jobs: a node
 * concurrency grant beside an activity result, say. A run whose worker lost its cache (a
 * workflow task timed out on a saturated worker) then failed every workflow task with a
 * nondeterminism error and hung. The flags are declared known at the start of every workflow,
 * live and on replay alike, so replay does what the live run did. With a server that keeps
 * `sdkMetadata` (1.20 and later, docker-compose's 1.29) the history names both flags already
 * and this changes nothing. Flags 3–6 belong to the OpenTelemetry interceptors, which
 * tracing-interceptors.ts does not use.
 */
const FLAGS_EVERY_RUN_USED = [SdkFlags.NonCancellableScopesAreShieldedFromPropagation.id, SdkFlags.ProcessWorkflowActivationJobsAsSingleBatch.id];

/** Called first in every workflow function (workflows/index.ts lists them). */
export function useRecordedSdkFlags(): void {
  getActivator().addKnownFlags(FLAGS_EVERY_RUN_USED);
}
