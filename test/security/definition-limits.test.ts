import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS, parseDuration } from '../../src/domain/duration';
import { validateDefinition } from '../../src/domain/validate';
import { createNodeRegistry } from '../../src/activities';

const catalog = createNodeRegistry().catalog();

const def = (nodes: unknown[]) => ({ name: 'hostile', nodes }) as never;

describe('hostile definitions are refused at save time', () => {
  it('durations past one year are not durations (they overflowed Temporal timers and hung runs)', () => {
    expect(parseDuration('99999999999h')).toBeUndefined();
    expect(parseDuration(1e30)).toBeUndefined();
    expect(parseDuration('366d')).toBe(MAX_DURATION_MS);
    for (const node of [
      { id: 'd', type: 'delay', config: { duration: '99999999999h' } },
      { id: 'h', type: 'http', config: { method: 'GET', url: 'https://x.test' }, timeout: { startToClose: '99999999999h' } },
      { id: 'a', type: 'approval', config: { timeout: '400d' } },
    ]) {
      const result = validateDefinition(def([node]), { catalog });
      expect(result.valid, node.id).toBe(false);
      expect(result.errors[0]!.message).toMatch(/not a duration of at most 366d/);
    }
  });

  it('a definition cannot forge a reference to a stored output', () => {
    const result = validateDefinition(
      def([{ id: 'h', type: 'http', config: { method: 'POST', url: 'https://x.test', body: { stolen: { $trellisRef: 'output_blobs/0f6c1f7e-3c8e-4c69-9a51-5d7f2b1c0a11', sizeBytes: 1 } } } }]),
      { catalog },
    );
    expect(result.valid).toBe(false);
    expect(result.errors).toContainEqual({ path: '/nodes/0/config/body/stolen/$trellisRef', message: expect.stringMatching(/made by Trellis/) });
  });

  it('postgres sql and connection cannot be templated (SQL injection), params can', () => {
    const sql = validateDefinition(def([{ id: 'q', type: 'postgres', config: { connection: 'main', sql: "select * from t where name = '{{ input.name }}'" } }]), { catalog });
    expect(sql.errors).toEqual([{ path: '/nodes/0/config/sql', message: expect.stringMatching(/must be written out.*params/) }]);
    const connection = validateDefinition(def([{ id: 'q', type: 'postgres', config: { connection: '{{ input.c }}', sql: 'select 1' } }]), { catalog });
    expect(connection.errors).toEqual([{ path: '/nodes/0/config/connection', message: expect.stringMatching(/must be written out/) }]);
    const safe = validateDefinition(def([{ id: 'q', type: 'postgres', config: { connection: 'main', sql: 'select * from t where name = $1', params: ['{{ input.name }}'] } }]), { catalog });
    expect(safe).toEqual({ valid: true, errors: [] });
  });

  it('http timeouts and response limits are bounded', () => {
    const result = validateDefinition(def([{ id: 'h', type: 'http', config: { url: 'https://x.test', timeoutMs: 1e30, maxResponseBytes: 1e12 } }]), { catalog });
    expect(result.errors.map((e) => e.path).sort()).toEqual(['/nodes/0/config/maxResponseBytes', '/nodes/0/config/timeoutMs']);
  });
});
