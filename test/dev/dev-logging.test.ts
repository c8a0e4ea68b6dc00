import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Runtime } from '@temporalio/worker';
import { installDevLogging } from '../../src/dev/dev-logger';

// Dev mode honours LOG_FORMAT (pretty stays its default): with json, the Temporal SDK's lines
// are the production processes' JSON lines and Fastify logs JSON too. Temporal's Runtime is
// per process (vitest runs each file in a process of its own).
describe('dev mode logging', () => {
  it('writes JSON lines with LOG_FORMAT=json, for the SDK and the API', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const fastify = installDevLogging('info', 'json', destination);
    expect(fastify).toMatchObject({ name: 'trellis-dev', level: 'info' });
    expect(fastify.transport).toBeUndefined(); // JSON to stdout, no pino-pretty
    Runtime.instance().logger.warn('Activity failed', { workflowId: 'run-1', activityType: 'http' });
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed).toContainEqual(expect.objectContaining({ name: 'trellis-dev', level: 'warn', msg: 'Activity failed', executionId: 'run-1', activityType: 'http' }));
  });
});
