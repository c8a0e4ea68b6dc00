import { ApplicationFailure } from '@temporalio/common';
import type { Dispatcher } from 'undici';
import { HEAVY_OUTPUT_BYTES, runHeavy } from '../heavy-lane';

/**
 * How many response bytes this worker buffers at once past the first HEAVY_OUTPUT_BYTES of each
 * body: a body that grows larger waits for room (its socket paused, so the sender is held back by
 * TCP) instead of failing. Eight 16 MiB responses at once raised a worker's RSS by 1 GB.
 */
export const BUFFERED_RESPONSE_BYTES = 32 * 1024 * 1024;

/** A byte semaphore: waiters are served in order; a request larger than the capacity takes all of it. */
export class ByteBudget {
  private available: number;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  /** Resolves with a release function once `bytes` (at most the capacity) are free. */
  async acquire(bytes: number): Promise<() => void> {
    const amount = Math.min(Math.max(bytes, 0), this.capacity);
    if (this.waiting.length === 0 && amount <= this.available) this.available -= amount;
    else await new Promise<void>((grant) => this.waiting.push({ bytes: amount, grant }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.available += amount;
      this.grantWaiting();
    };
  }

  private grantWaiting(): void {
    for (let next = this.waiting[0]; next !== undefined && next.bytes <= this.available; next = this.waiting[0]) {
      this.waiting.shift();
      this.available -= next.bytes;
      next.grant();
    }
  }
}

const responseBudget = new ByteBudget(BUFFERED_RESPONSE_BYTES);

export interface ReadBody {
  buffer: Buffer;
  truncated: boolean;
  /** Gives the body's share of the worker's response budget back; call once the body is parsed. */
  release: () => void;
}

/**
 * Reads at most `limit` bytes and then drops the connection, so an oversized response never
 * sits in memory. `strict` turns overflow into HttpResponseTooLarge instead of a truncation.
 * A body past HEAVY_OUTPUT_BYTES takes room for all it may still grow to (its declared length,
 * else `limit`) from the worker's budget before reading on.
 */
export async function readBody(
  body: Dispatcher.ResponseData['body'],
  headers: Record<string, string>,
  limit: number,
  strict: boolean,
  budget: ByteBudget = responseBudget,
): Promise<ReadBody> {
  const tooLarge = () =>
    ApplicationFailure.create({
      type: 'HttpResponseTooLarge',
      message: `response body exceeds maxResponseBytes (${limit} bytes)`,
      nonRetryable: true,
      details: [{ limit }],
    });
  const declared = Number(headers['content-length']);
  if (strict && Number.isFinite(declared) && declared > limit) {
    body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let release: (() => void) | undefined;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size + chunk.length > limit) {
        body.destroy();
        if (strict) throw tooLarge();
        chunks.push(chunk.subarray(0, limit - size));
        return { buffer: Buffer.concat(chunks), truncated: true, release: release ?? noop };
      }
      size += chunk.length;
      chunks.push(chunk);
      if (release === undefined && size > HEAVY_OUTPUT_BYTES) {
        // Not pulling from the iterator meanwhile pauses the socket.
        release = await budget.acquire(Number.isFinite(declared) && declared <= limit ? declared : limit);
      }
    }
  } catch (err) {
    release?.();
    throw err;
  }
  return { buffer: Buffer.concat(chunks, size), truncated: false, release: release ?? noop };
}

function noop(): void {}

/**
 * Decodes and (for a JSON content type) parses a body. A large one is decoded and parsed in the
 * worker's heavy lane, so it cannot stall other activities' heartbeats for longer than one step.
 */
export async function decodeAndParse(buffer: Buffer, contentType: string | undefined): Promise<unknown> {
  if (buffer.length < HEAVY_OUTPUT_BYTES) return parseBody(decode(buffer, contentType), contentType);
  const text = await runHeavy(() => decode(buffer, contentType));
  return isJson(contentType) ? runHeavy(() => parseBody(text, contentType)) : text;
}

export function decode(buffer: Buffer, contentType: string | undefined): string {
  const charset = /charset="?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(buffer);
  } catch {
    return new TextDecoder('utf-8').decode(buffer); // unknown charset label
  }
}

export function parseBody(text: string, contentType: string | undefined): unknown {
  if (!isJson(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isJson(contentType: string | undefined): boolean {
  return /^application\/([\w.-]+\+)?json\b/i.test(contentType?.trim() ?? '');
}
