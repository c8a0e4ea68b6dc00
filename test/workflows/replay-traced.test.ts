import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker';
import { TRACING_WORKFLOW_INTERCEPTORS } from '../../src/observability/tracing';
import { quietTemporalLogs } from '../support/temporal';

const DIRS = [path.join(__dirname, '..', 'fixtures', 'histories'), path.join(__dirname, '..', '..', '..', 'shared', 'histories')];

// The OpenTelemetry workflow interceptors (in every prebuilt bundle, and bundled by a worker with
// OTEL_* tracing on) add headers and spans, never commands: every history recorded without them
// replays with them. (replay.test.ts replays the same histories without.)
/**
 * KNOWN DEFECT (open, issue 28): untraced runs where a node-limit grant signal arrives in the
 * same activation as activity results replay with the tracing interceptors in another order (a
 * timer cancellation missing). It was hidden until replays honoured the SDK's single-batch flag
 * (src/workflows/recorded-sdk-flags.ts), which the live runs always used. The cause is not found:
 * outbound spans that hand back the command's own promise and a synchronous signal span did not
 * change it (tried and reverted). Workers running the
 * prebuilt bundle are traced live and on replay alike; the risk is switching tracing on for a
 * deployment with such runs in flight. Listed exactly, so a fix (or a new case) shows here.
 */
const KNOWN_TRACED_ORDER_DEFECT = ['limits-grants-beside-results-flags', 'node-limits-hot-key-burst'];

describe('dagWorkflow determinism with the tracing workflow interceptors', () => {
  it('replays every recorded history with the OpenTelemetry workflow interceptors', async () => {
    quietTemporalLogs();
    const histories = DIRS.filter((dir) => fs.existsSync(dir)).flatMap((dir) =>
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))) })),
    );
    expect(histories.length).toBeGreaterThanOrEqual(20);
    const failures: { workflowId: string; message: string }[] = [];
    const options = {
      workflowsPath: WORKFLOWS_PATH,
      interceptors: { workflowModules: [TRACING_WORKFLOW_INTERCEPTORS] },
      sinks: { exporter: { export: { fn: () => undefined } } },
    };
    for await (const result of Worker.runReplayHistories(options, histories)) {
      if (result.error) failures.push({ workflowId: result.workflowId, message: result.error.message });
    }
    const failed = failures.map((f) => f.workflowId).sort();
    expect(failed, failures.filter((f) => !KNOWN_TRACED_ORDER_DEFECT.includes(f.workflowId)).map((f) => `${f.workflowId}: ${f.message}`).join('\n')).toEqual(KNOWN_TRACED_ORDER_DEFECT);
  }, 600_000);
});
