import http from 'node:http';
import { parseRunEvent } from '../../ui/src/run-events';

/** One SSE frame: an event (with its fields) or a `:` comment line (heartbeats). */
export interface SseFrame {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
}

/**
 * A real HTTP client that parses a text/event-stream as it arrives, so tests see events in the
 * order and at the time the server writes them (app.inject would buffer the whole response).
 */
export class SseClient {
  readonly frames: SseFrame[] = [];
  ended = false;
  private buffer = '';
  private cursor = 0;
  private wake: (() => void) | undefined;

  private constructor(
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    private readonly request: http.ClientRequest,
    readonly response: http.IncomingMessage,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.push(chunk));
    const done = () => {
      this.ended = true;
      this.notify();
    };
    response.on('end', done);
    response.on('close', done);
    response.on('error', done);
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
        resolve(new SseClient(response.statusCode ?? 0, response.headers, request, response));
      });
      request.on('error', reject);
    });
  }

  /** The whole body, for error responses (which are ordinary JSON, not a stream). */
  async json(): Promise<unknown> {
    await this.closed();
    return JSON.parse(this.buffer);
  }

  /** The next unread event, skipping comments unless `comments` is set; throws after `timeoutMs`. */
  async next(options: { comments?: boolean; timeoutMs?: number } = {}): Promise<SseFrame> {
    const deadline = Date.now() + (options.timeoutMs ?? 5_000);
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (frame.comment === undefined || options.comments) return frame;
      }
      if (this.ended) throw new Error('stream ended while waiting for an event');
      if (!(await this.waitForChange(deadline))) throw new Error('timed out waiting for an event');
    }
  }

  /** Events (not comments) not read yet; call after `closed()` to see everything left. */
  rest(): SseFrame[] {
    const left = this.frames.slice(this.cursor).filter((f) => f.comment === undefined);
    this.cursor = this.frames.length;
    return left;
  }

  /** Resolves once the server has ended the response; throws after `timeoutMs`. */
  async closed(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (!(await this.waitForChange(deadline))) throw new Error('timed out waiting for the stream to end');
    }
  }

  /** Client-side disconnect, as a browser tab closing. */
  close(): void {
    this.request.destroy();
  }

  private push(chunk: string): void {
    this.buffer += chunk;
    if (!String(this.headers['content-type']).startsWith('text/event-stream')) return this.notify();
    let boundary: number;
    while ((boundary = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, boundary);
      this.buffer = this.buffer.slice(boundary + 2);
      this.frames.push(parseFrame(block));
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private waitForChange(deadline: number): Promise<boolean> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), remaining);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

function parseFrame(block: string): SseFrame {
  const frame: SseFrame = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      frame.comment = line.slice(1).trim();
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event' || field === 'id') frame[field] = value;
    if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
  }
  return frame;
}

/**
 * Every event frame as the console reads it (ui/src/run-events.ts) beside what the server sent:
 * equal when the console accepts each event as sent (none dropped as malformed or unknown).
 */
export function consoleReads(frames: SseFrame[]): { read: unknown[]; sent: unknown[] } {
  const events = frames.filter((f) => f.event !== undefined);
  return {
    read: events.map((f) => parseRunEvent({ event: f.event!, ...(f.id !== undefined && { id: f.id }), data: f.data ?? '' })),
    sent: events.map((f) => ({ event: f.event, ...(f.id !== undefined && { id: Number(f.id) }), data: JSON.parse(f.data ?? 'null') as unknown })),
  };
}

/** Polls `check` every 20 ms until it holds; fails after `timeoutMs` (frames arrive asynchronously). */
export async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
