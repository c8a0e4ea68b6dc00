import { Type } from '@sinclair/typebox';
import { ApplicationFailure } from '@temporalio/common';
import { defineNodeType } from '../../src/activities/registry';

/** What probe activities did, per execution: lets server tests check overlap, retries, cancellation. */
export interface ProbeEvent {
  nodeId: string;
  attempt: number;
  event: 'start' | 'end' | 'fail' | 'cancelled';
  at: number;
}
export const probeJournal = new Map<string, ProbeEvent[]>();

function record(executionId: string, event: ProbeEvent): void {
  const list = probeJournal.get(executionId) ?? [];
  list.push(event);
  probeJournal.set(executionId, list);
}

/**
 * A custom node type registered the same way users register theirs: sleeps, fails its first
 * attempts on demand, and honours cancellation.
 */
export const probeNodeType = defineNodeType({
  type: 'probe',
  configSchema: Type.Object(
    {
      sleepMs: Type.Optional(Type.Integer({ minimum: 0 })),
      failTimes: Type.Optional(Type.Integer({ minimum: 0 })),
      failType: Type.Optional(Type.String()),
      nonRetryable: Type.Optional(Type.Boolean()),
      value: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: false },
  ),
  async run(config, ctx) {
    record(ctx.executionId, { nodeId: ctx.nodeId, attempt: ctx.attempt, event: 'start', at: Date.now() });
    if (config.sleepMs) {
      try {
        await abortableSleep(config.sleepMs, ctx.signal);
      } catch (err) {
        record(ctx.executionId, { nodeId: ctx.nodeId, attempt: ctx.attempt, event: 'cancelled', at: Date.now() });
        throw err;
      }
    }
    if (ctx.attempt <= (config.failTimes ?? 0)) {
      record(ctx.executionId, { nodeId: ctx.nodeId, attempt: ctx.attempt, event: 'fail', at: Date.now() });
      throw ApplicationFailure.create({
        type: config.failType ?? 'ProbeFailure',
        message: `probe ${ctx.nodeId} failed on attempt ${ctx.attempt}`,
        nonRetryable: config.nonRetryable ?? false,
      });
    }
    record(ctx.executionId, { nodeId: ctx.nodeId, attempt: ctx.attempt, event: 'end', at: Date.now() });
    return { value: config.value ?? null, attempt: ctx.attempt };
  },
});

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
