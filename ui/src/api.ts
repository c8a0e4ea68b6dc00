// The console's only door to the server: the REST API with the key from session storage.

const KEY_STORAGE = 'trellis.apiKey';

export function getKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}
export function setKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new Event('trellis:key'));
}

export interface ErrorDetail {
  path: string;
  message: string;
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

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${getKey() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const json: unknown = text ? safeParse(text) : undefined;
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    if (res.status === 401) setKey(null); // back to the key form
    throw new ApiError(res.status, err?.code ?? 'HTTP_' + res.status, err?.message ?? (text || res.statusText), err?.details);
  }
  return json as T;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---- shapes (DESIGN.md §3; src/api/routes/*-schemas.ts) ---------------------------------------

// The status model is the server's own (src/domain/status.ts), not a copy.
export { EXECUTION_STATUSES, type ExecutionStatus, type NodeStatus } from '../../src/domain/status';
import type { ExecutionStatus, NodeStatus } from '../../src/domain/status';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface WorkflowSummary {
  id: string;
  name: string;
  description: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  archived: boolean;
}
export interface WorkflowDetail extends WorkflowSummary {
  definition: Definition;
}
export interface WorkflowVersion {
  id: string;
  name: string;
  version: number;
  createdAt: string;
  definition: Definition;
}

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

export interface ValidationResult {
  valid: boolean;
  errors: ErrorDetail[];
}

export interface ExecutionSummary {
  id: string;
  workflowId: string;
  version: number;
  status: ExecutionStatus;
  trigger: string;
  retryOf: string | null;
  createdAt: string;
  startedAt: string;
  finishedAt: string | null;
}
export interface NodeView {
  nodeId: string;
  type: string;
  status: NodeStatus;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: unknown;
  /** Temporal's view of a node it runs or retries (GET ?live=1, and SSE `retry` events). */
  retry?: RetryInfo;
  /** A waiting approval's rendered message and deadline. */
  approval?: ApprovalPrompt;
}
export interface RetryInfo {
  state: string;
  attempt: number;
  maximumAttempts: number;
  lastFailure: { message: string; type?: string } | null;
  nextAttemptAt: string | null;
}
export interface ApprovalPrompt {
  message: string | null;
  deadline: string | null;
  onTimeout: 'approve' | 'reject';
  renderError?: string;
}
export interface ExecutionDetail extends ExecutionSummary {
  input: unknown;
  output: unknown;
  error: unknown;
  progress: { total: number; done: number };
  nodes: NodeView[];
  temporalRunId?: string | null;
}

export interface Schedule {
  id: string;
  workflowId: string;
  cron: string;
  timezone: string;
  input: unknown;
  overlap: string;
  paused: boolean;
  note: string | null;
  createdAt: string;
  updatedAt: string;
  workflowName?: string;
}
export interface ScheduleDetail extends Schedule {
  info?: { paused: boolean; note?: string; nextActionTimes: string[]; recentActions: { scheduledAt: string; executionId: string }[]; numActionsTaken: number } | null;
}

export interface UiConfig {
  temporalUiUrl: string;
  namespace: string;
  /** Dev mode's demo target: the examples' sampleInput URLs are rewritten to it. */
  demoBaseUrl?: string;
}

/** The Temporal Web UI page of a run; with Temporal's run id it opens the run itself (without it, a search). */
export function temporalRunUrl(config: UiConfig, executionId: string, runId?: string | null): string {
  const ns = `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}`;
  if (runId) return `${ns}/workflows/${encodeURIComponent(executionId)}/${encodeURIComponent(runId)}/history`;
  return `${ns}/workflows?query=${encodeURIComponent(`WorkflowId="${executionId}"`)}`;
}

/** Workflow names by id (first 100 workflows, newest first), for lists that would otherwise show ids. */
let namesPromise: Promise<Map<string, string>> | undefined;
export function workflowNames(refresh = false): Promise<Map<string, string>> {
  if (refresh || !namesPromise) {
    namesPromise = api<Page<WorkflowSummary>>('GET', '/workflows?limit=100').then(
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

export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

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
