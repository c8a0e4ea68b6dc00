// The workflow bundle's entry: Temporal registers every exported function as a workflow type.
export { dagWorkflow } from './dag-workflow';
export type { DagRunResult, DagRunState, DagWorkflowInput, NodeState } from './contract';
