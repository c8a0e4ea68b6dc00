// The console's only door to the server: the REST API with the key from session storage.

import createClient from 'openapi-fetch';
import type { paths } from './api-types';
import type { RunEventMessage } from './run-events';

const KEY_STORAGE = 'trellis.apiKey';

export function getKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}
export function setKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new Event('trellis:key'));
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/**
 * The API client, typed by the paths of the API's own OpenAPI document (./api-types.ts): a path,
 * method, parameter or body the API does not have fails the typecheck. Every request carries the
 * key; a 401 sends the user back to the key form.
 */
export const client = createClient<paths>({ baseUrl: '' });
client.use({
  onRequest({ request }) {
    request.headers.set('authorization', `Bearer ${getKey() ?? ''}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) setKey(null);
    return response;
  },
});

/** The data of a client call, or an ApiError with the API's code and message. */
export async function ok<D>(call: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  const { data, error, response } = await call;
  if (response.ok) return data as D;
  const err = (error as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
  throw new ApiError(response.status, err?.code ?? 'HTTP_' + response.status, err?.message ?? (typeof error === 'string' && error ? error : response.statusText), err?.details);
}

// ---- shapes: generated from the OpenAPI document (npm run api:types → ./api-types.ts) ---------

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

// The status model is the server's own (src/domain/status.ts), not a copy.
export { EXECUTION_STATUSES, isOpenExecution, type ExecutionStatus, type NodeStatus } from '../../src/domain/status';
import type { ExecutionStatus, NodeStatus } from '../../src/domain/status';

/** The JSON body of an operation's `status` response, as the API's OpenAPI document declares it. */
type Json<P extends keyof paths, M extends Method, S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

export type Page<T> = { items: T[]; nextCursor: string | null };

export type ErrorDetail = { path: string; message: string };

export type ExecutionSummary = Json<'/executions', 'get', 200>['items'][number];
export type ExecutionDetail = Json<'/executions/{id}', 'get', 200>;
export type NodeView = ExecutionDetail['nodes'][number];
/** Temporal's view of a node it runs or retries (GET ?live=1, and SSE `retry` events). */
export type RetryInfo = NonNullable<NodeView['retry']>;
/** A waiting approval's rendered message and deadline. */
export type ApprovalPrompt = NonNullable<NodeView['approval']>;
export type MapItemsPage = Json<'/executions/{id}/nodes/{nodeId}/items', 'get', 200>;

// The generated status types must be the domain's exactly: a status added on one side fails the build.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _statusesAgree: [Same<ExecutionSummary['status'], ExecutionStatus>, Same<NodeView['status'], NodeStatus>] = [true, true];
void _statusesAgree;

/**
 * The API leaves definitions opaque (they are checked by validateDefinition, not by the route
 * schema); the console reads them through this loose view, drafts and invalid ones included.
 */
export interface DefinitionNode {
  id: string;
  type: string;
  config?: unknown;
  [key: string]: unknown;
}
export interface DefinitionEdge {
  from: string;
  to: string;
  when?: string;
  on?: string;
}
export interface Definition {
  name?: string;
  nodes?: DefinitionNode[];
  edges?: DefinitionEdge[];
  [key: string]: unknown;
}

type WithDefinition<T> = Omit<T, 'definition'> & { definition: Definition };
export type WorkflowSummary = Json<'/workflows', 'get', 200>['items'][number];
export type WorkflowDetail = WithDefinition<Json<'/workflows/{id}', 'get', 200>>;
export type WorkflowVersion = WithDefinition<Json<'/workflows/{id}/versions/{version}', 'get', 200>>;
export type ValidationResult = Json<'/workflows/validate', 'post', 200>;

/** A schedule; `workflowName` only in GET /schedules (the tenant-wide list). */
export type Schedule = Json<'/workflows/{id}/schedules', 'get', 200>['items'][number] & { workflowName?: string };
export type ScheduleDetail = Json<'/schedules/{id}', 'get', 200>;

// A path or status renamed in the API would turn a shape into `never`, which type-checks silently: fail the build instead.
type Known<T> = [T] extends [never] ? false : true;
const _shapesKnown: [Known<ExecutionDetail>, Known<ExecutionSummary>, Known<MapItemsPage>, Known<WorkflowSummary>, Known<WorkflowDetail>, Known<WorkflowVersion>, Known<ValidationResult>, Known<Schedule>, Known<ScheduleDetail>] = [
  true, true, true, true, true, true, true, true, true,
];
void _shapesKnown;

export interface UiConfig {
  temporalUiUrl: string;
  namespace: string;
  /** Dev mode's demo target: the examples' sampleInput URLs are rewritten to it. */
  demoBaseUrl?: string;
}

export { temporalRunUrl } from './temporal-links';

/** Workflow names by id (first 100 workflows, newest first), for lists that would otherwise show ids. */
let namesPromise: Promise<Map<string, string>> | undefined;
export function workflowNames(refresh = false): Promise<Map<string, string>> {
  if (refresh || !namesPromise) {
    namesPromise = ok(client.GET('/workflows', { params: { query: { limit: 100 } } })).then(
      (page) => new Map(page.items.map((w) => [w.id, w.name])),
      () => new Map(),
    );
  }
  return namesPromise;
}

let configPromise: Promise<UiConfig> | undefined;
export function uiConfig(): Promise<UiConfig> {
  configPromise ??= fetch('/ui/config.json')
    .then((r) => r.json() as Promise<UiConfig>)
    .catch(() => ({ temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default' }));
  return configPromise;
}

// ---- Server-Sent Events over fetch ------------------------------------------------------------

/** One message of an event stream (declared in run-events.ts, which reads run streams' messages). */
export type SseMessage = RunEventMessage;

/**
 * GET /executions/:id/events read with fetch and a stream reader: EventSource cannot send the
 * Authorization header. Reconnects with Last-Event-ID until `isFinished()` says the run reached a
 * terminal status (the server then ends the stream) or the returned stop function is called.
 * A server without live events (503) gets `onUnavailable()` instead.
 */
export function streamEvents(
  executionId: string,
  onMessage: (m: SseMessage) => void,
  isFinished: () => boolean,
  onUnavailable: () => void,
): () => void {
  const controller = new AbortController();
  let lastId: string | undefined;
  let stopped = false;

  const run = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${getKey() ?? ''}`, accept: 'text/event-stream' };
        if (lastId !== undefined) headers['last-event-id'] = lastId;
        const res = await fetch(`/executions/${encodeURIComponent(executionId)}/events`, { headers, signal: controller.signal });
        if (!res.ok || !res.body) {
          if (res.status === 401) setKey(null);
          if (res.status >= 400 && res.status < 500) return; // 404, 401: nothing to stream
          if (res.status === 503) return onUnavailable(); // this server has no live events: the caller polls
          throw new Error(`events: HTTP ${res.status}`);
        }
        failures = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const message = parseBlock(buffer.slice(0, boundary));
            buffer = buffer.slice(boundary + 2);
            if (message) {
              if (message.id !== undefined) lastId = message.id;
              onMessage(message);
            }
          }
        }
        // The server ends the stream after the run's terminal event; any other end is a dropped connection.
        if (isFinished()) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
      } catch (err) {
        if (stopped) return;
        failures += 1;
        console.warn('event stream interrupted; reconnecting', err);
        await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** failures)));
      }
    }
  };
  void run();
  return () => {
    stopped = true;
    controller.abort();
  };
}

function parseBlock(block: string): SseMessage | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { event, id, data: data.join('\n') } : undefined;
}
