/**
 * Every `patched()` id of the workflow code, in one place. Recorded histories hold these ids as
 * markers: a run recorded before a change replays the old command sequence because its history
 * lacks the marker. Never rename or reuse an id; a new change that alters the command sequence
 * adds one here (and a call site that imports it).
 */

// -- dagWorkflow (workflows/dag-workflow.ts and the core it drives) --------------------------------

/** Runs recorded before loadDefinition became a local activity replay with the regular one. */
export const LOCAL_LOAD_DEFINITION_PATCH = 'load-definition-as-local-activity';
/**
 * Cancel runs cleanup like `finally` (issue 12). Runs recorded before it replay the old way:
 * every node not started is CANCELLED, cleanup nodes included.
 */
export const CANCEL_RUNS_CLEANUP_PATCH = 'cancel-runs-cleanup';
/** A switch whose expression yields null goes to its `default` edge instead of failing. */
export const SWITCH_NULL_DEFAULT_PATCH = 'switch-null-default';
/**
 * Activity nodes without templates are scheduled without the interpreter's async frames (see
 * scheduleActivityNode): fewer promises per node, so wide fan-outs keep their workflow tasks
 * short. Runs recorded before it replay with the old microtask order.
 */
export const LEAN_ACTIVITY_NODES_PATCH = 'lean-activity-nodes';
/** Runs recorded before node activities wrote their own results replay without the reserved seqs. */
export const NODE_RESULT_MIRROR_PATCH = 'node-activities-write-own-result';
/** Marks runs whose workflow tasks may be split to keep expression work per task bounded (run-budget.ts). */
export const SPLIT_EXPRESSION_WORK_PATCH = 'trellis-split-expression-work';
/** Runs recorded before local mirror writes replay with their regular mirror activities (run-mirror.ts). */
export const LOCAL_MIRROR_PATCH = 'mirror-writes-as-local-activities';
/**
 * Runs with other local activities beside the mirror (node limits, run-level concurrency, local
 * nodes in bodies) write the mirror with regular activities: with local writes their replay could
 * batch differently and fail (execution-mode.ts, runsLocalActivitiesBesideMirror). Runs recorded
 * before replay with the local writes they made.
 */
export const REGULAR_MIRROR_BESIDE_LOCAL_ACTIVITIES_PATCH = 'regular-mirror-beside-local-activities';
/**
 * Runs recorded before node activities confirmed their own result writes replay writing every
 * SUCCEEDED state themselves (a confirmed write leaves a batch out, or makes it smaller; run-mirror.ts).
 */
export const CONFIRMED_RESULTS_PATCH = 'mirror-node-results-confirmed';
/**
 * Runs that name a tenant with an inline definition are checked before anything runs (issue 22,
 * tenant-claim.ts). Runs recorded before the check replay without it; they never reach the new command.
 */
export const SIGNED_TENANT_CLAIMS_PATCH = 'signed-tenant-claims';
/**
 * Runs recorded before expressions could read stored outputs evaluated them in the workflow
 * (seeing the `$trellisRef`); they replay that way (stored-reads.ts).
 */
export const STORED_READS_PATCH = 'expressions-read-stored-outputs';
/** A subworkflow node's timeout.startToClose bounds its child run (node-runners.ts). */
export const SUBWORKFLOW_TIMEOUT_PATCH = 'subworkflow-timeout';
/**
 * A test run's mocked nodes settle with the given output or error instead of running
 * (node-mocks.ts). Only runs started with `mocks` ask; runs recorded before it never had any.
 */
export const MOCKED_NODES_PATCH = 'mocked-nodes';

/**
 * Node activities are offered deferral by the fair-share gate: a deferred first attempt is
 * scheduled again by the run when one of its own node activities settles, or after a backoff
 * (tenant-share-deferral.ts). Runs recorded before it never see a deferred result.
 */
export const TENANT_SHARE_DEFERRAL_PATCH = 'tenant-share-deferral';

// -- map workflows (workflows/iteration-workflows.ts) ---------------------------------------------

/** Batch results past 1 KB (not 16 KB) go to the store by reference; see RESULTS_INLINE_BYTES_PATCHED. */
export const MAP_BATCH_RESULTS_PATCH = 'map-batch-results-by-reference-past-1kb';
/**
 * Runs recorded before the coordinator stored its inline results carried them all: a 100,000-item
 * map's (~2.7 MB) then passed the 2 MB payload limit in its continue-as-new input.
 */
export const MAP_COMPACT_RESULTS_PATCH = 'map-compact-inline-results';

// -- flow control (workflows/node-limits.ts) -----------------------------------------------------

/** Runs recorded before node limits replay without their commands (only limited nodes ask). */
export const NODE_LIMITS_PATCH = 'node-limits';
/**
 * Run-level concurrency: a run whose definition has `concurrency` asks for its slot before any
 * node (run-queue.ts). Asked only by such runs, which validation refused before this change.
 */
export const RUN_CONCURRENCY_PATCH = 'run-concurrency';
/**
 * Limiter: a slot reserved by the API for a run not started yet (onLimit drop, answered by
 * query, no signal) is handed to that run when it asks with the reservation's id.
 */
export const LIMITER_RESERVATION_PATCH = 'limiter-run-reservation';
/**
 * Limiter: run requests that carry `queuedAt` join the line in start order, not arrival order
 * (limiter-workflow.ts). Limiters recorded before it appended every request.
 */
export const RUN_QUEUE_START_ORDER_PATCH = 'limiter-run-queue-start-order';
/**
 * A run started outside the API (schedule, Temporal UI, CLI) whose start is dropped (onLimit
 * drop) leaves no run row: it records the drop (on its schedule) and deletes its row.
 */
export const DROPPED_START_PATCH = 'run-dropped-start-recorded';

// -- search attributes (workflows/search-attributes.ts) ------------------------------------------

/** Runs recorded before a run completed its own labels (version, name) replay without the upserts. */
export const RUN_LABELS_PATCH = 'trellis-run-labels';

/**
 * Runs recorded before it wrote map item rows only 250 at a time: a 200-item map showed "0 items"
 * until it finished. Under it rows also go out by time (workflows/map-items.ts, ItemRowWriter).
 */
export const MAP_ITEMS_LIVE_PATCH = 'map-items-live-rows';

// -- pause and resume (workflows/run-pause.ts) ---------------------------------------------------

/**
 * A paused run holds what became ready, mirrors its pause and forwards it to its map and loop
 * workflows. Asked only once a pause is requested: a run recorded before pausing existed that
 * got a `pause` signal (its worker had no handler) replays ignoring it.
 */
export const RUN_PAUSE_PATCH = 'run-pause';
