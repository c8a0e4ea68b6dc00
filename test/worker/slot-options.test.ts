import { describe, expect, it } from 'vitest';
import { fairShareWorker } from '../../src/activities/fair-share';
import { loadConfig } from '../../src/config';
import { fairShareCapacity, workerSlotOptions, workerTuning } from '../../src/worker';

/** The SDK options a worker process gets for its config: what `trellis worker` and dev mode pass to Worker.create. */
function sdkOptions(env: Record<string, string>) {
  const config = loadConfig(env, { role: 'library' });
  return { ...workerSlotOptions(config, fairShareWorker(fairShareCapacity(config)).options), ...workerTuning(config) };
}

describe("the worker's slot options come from one place", () => {
  it('defaults: fair share derives the activity and local slots from the node capacities; workflow tasks stay the SDK default', () => {
    expect(sdkOptions({})).toEqual({ maxConcurrentActivityTaskExecutions: 400, maxConcurrentLocalActivityExecutions: 600, shutdownGraceTime: 30_000 });
  });

  it('capacities scale the derived slots (4x, local + 200 for bookkeeping)', () => {
    expect(sdkOptions({ TRELLIS_WORKER_NODE_CAPACITY: '10', TRELLIS_WORKER_LOCAL_NODE_CAPACITY: '5', TRELLIS_WORKER_SHUTDOWN_GRACE: '4s' })).toEqual({
      maxConcurrentActivityTaskExecutions: 40,
      maxConcurrentLocalActivityExecutions: 220,
      shutdownGraceTime: 4_000,
    });
  });

  it('TRELLIS_WORKER_MAX_* replace the derived counts, each on its own', () => {
    expect(sdkOptions({ TRELLIS_WORKER_NODE_CAPACITY: '10', TRELLIS_WORKER_MAX_ACTIVITIES: '7' })).toEqual({
      maxConcurrentActivityTaskExecutions: 7,
      maxConcurrentLocalActivityExecutions: 600,
      shutdownGraceTime: 30_000,
    });
    expect(sdkOptions({ TRELLIS_WORKER_MAX_LOCAL_ACTIVITIES: '50', TRELLIS_WORKER_MAX_WORKFLOW_TASKS: '12', TRELLIS_WORKER_SHUTDOWN_GRACE: '0ms' })).toEqual({
      maxConcurrentActivityTaskExecutions: 400,
      maxConcurrentLocalActivityExecutions: 50,
      maxConcurrentWorkflowTaskExecutions: 12,
      shutdownGraceTime: 0,
    });
  });

  it('the reserve passes through to fair share only when set', () => {
    expect(fairShareCapacity(loadConfig({}, { role: 'library' }))).toEqual({ activity: 100, local: 100 });
    expect(fairShareCapacity(loadConfig({ TRELLIS_WORKER_FAIR_SHARE_RESERVE: '0' }, { role: 'library' }))).toEqual({ activity: 100, local: 100, reserve: 0 });
  });
});
