import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseRunEvent, type RunEvent } from '../../ui/src/run-events';

// The console's reading of GET /executions/:id/events. The samples are typed by the server's
// union, so a change of the protocol fails the typecheck here before it fails in a browser.
const node = { nodeId: 'fetch', type: 'http', status: 'RUNNING', attempt: 1, startedAt: '2030-01-01T00:00:00.000Z', finishedAt: null, output: null, error: null } as const;
const samples: RunEvent[] = [
  {
    event: 'snapshot',
    id: 4,
    data: {
      run: {
        id: 'run-1',
        workflowId: 'wf',
        version: 1,
        status: 'RUNNING',
        trigger: 'MANUAL',
        idempotencyKey: null,
        retryOf: null,
        rerunOf: null,
        createdAt: '2030-01-01T00:00:00.000Z',
        startedAt: '2030-01-01T00:00:00.000Z',
        finishedAt: null,
        output: null,
        error: null,
        test: false,
        paused: false,
        pausedAt: null,
        pausedBy: null,
      },
      nodes: [node, { ...node, nodeId: 'ask', type: 'approval', status: 'WAITING', approval: { message: 'ok?', deadline: null, onTimeout: 'reject' } }],
    },
  },
  { event: 'node', id: 5, data: { ...node, status: 'SUCCEEDED', output: { status: 200 } } },
  { event: 'run', id: 6, data: { status: 'SUCCEEDED', output: { ok: true }, error: null, finishedAt: '2030-01-01T00:00:05.000Z', paused: false, pausedAt: null, pausedBy: null } },
  { event: 'retry', data: { nodeId: 'fetch', state: 'SCHEDULED', attempt: 2, maximumAttempts: 5, lastFailure: { message: 'HTTP 503', type: 'HttpError' }, nextAttemptAt: null } },
  { event: 'items', data: { nodeId: 'each', counts: { recorded: 3, succeeded: 2, failed: 1, cancelled: 0 } } },
];

/** The SSE message the server writes for an event (execution-event-stream.ts). */
const message = (e: RunEvent) => ({ event: e.event, ...('id' in e && { id: String(e.id) }), data: JSON.stringify(e.data) });

afterEach(() => vi.restoreAllMocks());

describe('parseRunEvent', () => {
  it('reads every kind of event the server sends, unchanged', () => {
    for (const sample of samples) expect(parseRunEvent(message(sample))).toEqual(sample);
  });

  it('drops, with a warning, an event it does not know or whose data has not its shape, instead of throwing', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const dropped = [
      { event: 'message', data: '{}' },
      { event: 'node', id: '5', data: '{not json' },
      { event: 'node', id: '5', data: 'null' },
      { event: 'node', id: '5', data: JSON.stringify({ ...node, status: 'EXPLODED' }) },
      { event: 'node', id: '5', data: JSON.stringify({ ...node, attempt: '1' }) },
      { event: 'node', data: JSON.stringify(node) }, // a transition without its sequence number
      { event: 'run', id: 'x', data: JSON.stringify({ status: 'SUCCEEDED' }) },
      { event: 'run', id: '6', data: JSON.stringify(['SUCCEEDED']) },
      { event: 'snapshot', id: '4', data: JSON.stringify({ run: { status: 'RUNNING' }, nodes: [node, { nodeId: 'b' }] }) },
      { event: 'snapshot', id: '4', data: JSON.stringify({ run: { status: 'RUNNING' } }) },
      { event: 'retry', data: JSON.stringify({ nodeId: 'fetch', attempt: 2 }) },
      { event: 'items', data: JSON.stringify({ nodeId: 'each', counts: { recorded: -1, succeeded: 0, failed: 0, cancelled: 0 } }) },
      { event: 'items', data: JSON.stringify({ nodeId: 'each' }) },
    ];
    for (const m of dropped) expect(parseRunEvent(m), JSON.stringify(m)).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(dropped.length);
    expect(warn.mock.calls[0]![0]).toContain("'message'");
  });
});
