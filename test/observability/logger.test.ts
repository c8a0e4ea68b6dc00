import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, temporalLogger } from '../../src/observability/logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const SECRET = 'hunter2-very-secret-value';

describe('the process logger (pino)', () => {
  it('writes one JSON object per line with level, time and name', () => {
    const out = capture();
    const log = createLogger({ name: 'trellis-worker', destination: out.destination });
    log.info({ executionId: 'run-1' }, 'hello');
    const [line] = out.parsed();
    expect(line).toMatchObject({ level: 'info', name: 'trellis-worker', msg: 'hello', executionId: 'run-1' });
    expect(typeof line!.time).toBe('string');
  });

  it('never writes a credential: by key, inside URLs, in error messages, stacks and causes, in the message itself', () => {
    const out = capture();
    const log = createLogger({ name: 'trellis-api', destination: out.destination });
    log.info({ password: SECRET, config: { token: SECRET, headers: { 'x-api-key': SECRET } }, req: { authorization: `Bearer ${SECRET}` } }, 'by key');
    log.info({ url: `https://api.example.com/v1?api_key=${SECRET}&page=2` }, 'url field');
    log.error({ err: new Error(`connect failed: postgres://trellis:${SECRET}@db:5432/app`, { cause: new Error(`GET /hooks/wf/${SECRET} failed`) }) }, 'error');
    log.warn(`retrying https://x.example/?token=${SECRET}`);
    log.warn(`DATABASE_URL=postgresql://app:${SECRET}@10.0.0.5/trellis`);
    expect(out.lines).toHaveLength(5);
    for (const line of out.lines) expect(line).not.toContain(SECRET);
    const [byKey, url, error, message] = out.parsed();
    expect(byKey).toMatchObject({ password: '[redacted]', config: { token: '[redacted]', headers: '[redacted]' }, req: { authorization: '[redacted]' } });
    expect(url!.url).toBe('https://api.example.com/v1?api_key=[redacted]&page=2');
    expect((error!.err as { message: string }).message).toBe('connect failed: postgres://[redacted]@db:5432/app');
    expect(message!.msg).toBe('retrying https://x.example/?token=[redacted]');
  });

  it('routes the Temporal SDK logger with its metadata renamed to the run context', () => {
    const out = capture();
    const sdk = temporalLogger(createLogger({ name: 'trellis-worker', level: 'debug', destination: out.destination }));
    sdk.warn('Activity failed', { workflowId: 'exec-1', activityId: 'fetch', nodeId: 'fetch', activityType: 'http', attempt: 2, tenantId: 't-1', taskToken: 'opaque', error: new Error(`401 for ?access_token=${SECRET}`) });
    sdk.debug('debug line', {});
    sdk.trace('below the level', {});
    const lines = out.parsed();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'Activity failed', executionId: 'exec-1', nodeId: 'fetch', tenantId: 't-1', attempt: 2, activityType: 'http' });
    expect(out.lines[0]).not.toContain(SECRET);
    expect(lines[0]).not.toHaveProperty('taskToken');
  });
});
