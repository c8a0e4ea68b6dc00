// The workflow bundle's entry: Temporal registers every exported function as a workflow type.
export { dagWorkflow } from './dag-workflow';
// Children of map and loop nodes whose work does not fit in one history.
export { loopWorkflow, mapBatchWorkflow, mapWorkflow } from './iteration-workflows';
// One per tenant + key of a node-level concurrency or rate limit (DESIGN.md §5).
export { limiterWorkflow } from './limiter-workflow';
export type { DagRunResult, DagRunState, DagWorkflowInput, NodeState } from '../contracts/dag-workflow';
// Deletes finished runs past their retention, on the deployment's Temporal Schedule.
export { retentionWorkflow } from './retention-workflow';
