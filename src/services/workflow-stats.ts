/**
 * Aggregates over the mirror: one workflow's stats (GET /workflows/:id/stats) and the operator's
 * counts (GET /metrics). The queries live in src/mirror/stats.ts.
 */
export {
  executionStatusCounts,
  nodeDurationQuantiles,
  nodeRunStatusCounts,
  workflowStats,
  type WorkflowStats,
} from '../mirror';
