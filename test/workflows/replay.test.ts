import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker';
import { quietTemporalLogs } from '../support/temporal';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');
const SHARED = path.join(__dirname, '..', '..', '..', 'shared', 'histories');
/**
 * Runs whose mirror batches once depended on where a local activity's result fell in its
 * activation (src/workflows/run-mirror.ts, afterLocalResult); they replay since that was fixed.
 */
const SHARED_ONCE_NONDETERMINISTIC = path.join(SHARED, 'nondeterministic');

function historiesIn(dir: string): { workflowId: string; history: ReturnType<typeof historyFromJSON> }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))) }));
}

describe('dagWorkflow determinism (no server needed)', () => {
  it('bundles for the Temporal sandbox', { timeout: 120_000 }, async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietTemporalLogs() });
    expect(bundle.code).toContain('dagWorkflow');
  });

  it('replays every recorded history with the current workflow code', async () => {
    quietTemporalLogs();
    const histories = [...historiesIn(FIXTURES), ...historiesIn(SHARED), ...historiesIn(SHARED_ONCE_NONDETERMINISTIC)];
    // The server tests record one history per scenario; an empty folder would make this vacuous.
    expect(histories.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    // Map and loop histories (children, continue-as-new) add replays; a busy CI box needs the room
    // (2.5-6 min seen on this 2-core machine with other work running, against ~60 s idle).
  }, 600_000);
});
