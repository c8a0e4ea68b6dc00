import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { WorkerMetrics } from '../../src/observability/worker-metrics';
import { TEST_NODE_WORKFLOW_PREFIX } from '../../src/contracts/dag-workflow';
import type { NodeActivityInput } from '../../src/contracts/node-activity';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const input = { nodeId: 'call', executionId: 'x', config: {} } as unknown as NodeActivityInput;

async function attemptsCounted(workflowId: string): Promise<number> {
  const metrics = new WorkerMetrics();
  const { http } = metrics.wrapNodeActivities({ http: async () => ({ output: 1, attempt: 1 }) });
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r' } }, { logger: quiet });
  await env.run(http!, input);
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'trellis_worker_node_attempts_total');
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

describe('worker node metrics', () => {
  it("count a run's attempts and leave out POST /workflows/test-node's", async () => {
    expect(await attemptsCounted('ex_abc')).toBe(1);
    expect(await attemptsCounted(`${TEST_NODE_WORKFLOW_PREFIX}123`)).toBe(0);
  });
});
