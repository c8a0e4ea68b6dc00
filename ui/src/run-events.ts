// The events of GET /executions/:id/events, typed by the server's own union and checked on arrival.

import type { ExecutionStreamEvent } from '../../src/services/execution-event-stream';
import { EXECUTION_STATUSES, NODE_STATUSES } from '../../src/domain/status';

/**
 * One event of a run's stream: the server's union (src/services/execution-event-stream.ts),
 * imported as a type only, so the console and the server cannot drift apart unnoticed.
 */
export type RunEvent = ExecutionStreamEvent;
export type RunEventOf<E extends RunEvent['event']> = Extract<RunEvent, { event: E }>;
/** A node as the stream sends it (no failed attempts, no `reused`: those come from GET /executions/:id). */
export type StreamNode = RunEventOf<'node'>['data'];

/**
 * One message of the stream as read off the wire (api.ts's SseMessage). Declared here, not
 * imported from api.ts, so that server-side tests, type-checked without the DOM, can use this file.
 */
export interface RunEventMessage {
  event: string;
  id?: string;
  data: string;
}

type Fields = Record<string, unknown>;
const isFields = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isIn = (list: readonly string[], value: unknown) => typeof value === 'string' && list.includes(value);
const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;

// Each check covers the fields the console reads to place and merge an event (ids, statuses,
// attempt numbers, counts); the payloads it only displays (output, error) stay as sent.
const isNode = (v: unknown) => isFields(v) && typeof v.nodeId === 'string' && typeof v.type === 'string' && isIn(NODE_STATUSES, v.status) && isCount(v.attempt);
const isRun = (v: unknown) => isFields(v) && isIn(EXECUTION_STATUSES, v.status);
const isRetry = (v: unknown) => isFields(v) && typeof v.nodeId === 'string' && typeof v.state === 'string' && isCount(v.attempt) && isCount(v.maximumAttempts);
const isItems = (v: unknown) =>
  isFields(v) && typeof v.nodeId === 'string' && isFields(v.counts) && ['recorded', 'succeeded', 'failed', 'cancelled'].every((k) => isCount((v.counts as Fields)[k]));
const isSnapshot = (v: unknown) => isFields(v) && isRun(v.run) && Array.isArray(v.nodes) && v.nodes.every(isNode);

/** The sequence number of a transition event (its `id:` line); undefined when absent or not one. */
function sequence(id: string | undefined): number | undefined {
  if (id === undefined || !/^\d{1,15}$/.test(id)) return undefined;
  return Number(id);
}

/**
 * The typed event of one SSE message, or undefined for an event this console does not know or
 * whose data does not have the event's shape: such an event is dropped (with a warning) instead
 * of breaking the page or the stream.
 */
export function parseRunEvent(message: RunEventMessage): RunEvent | undefined {
  const event = toRunEvent(message);
  if (!event) console.warn(`run events: dropped a malformed or unknown '${message.event}' event`);
  return event;
}

function toRunEvent(message: RunEventMessage): RunEvent | undefined {
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    return undefined;
  }
  const id = sequence(message.id);
  switch (message.event) {
    case 'snapshot':
      return id !== undefined && isSnapshot(data) ? { event: 'snapshot', id, data: data as RunEventOf<'snapshot'>['data'] } : undefined;
    case 'node':
      return id !== undefined && isNode(data) ? { event: 'node', id, data: data as StreamNode } : undefined;
    case 'run':
      return id !== undefined && isRun(data) ? { event: 'run', id, data: data as RunEventOf<'run'>['data'] } : undefined;
    case 'retry':
      return isRetry(data) ? { event: 'retry', data: data as RunEventOf<'retry'>['data'] } : undefined;
    case 'items':
      return isItems(data) ? { event: 'items', data: data as RunEventOf<'items'>['data'] } : undefined;
    default:
      return undefined;
  }
}
