import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';
import { unstorable } from '../../src/api/validation';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => api?.close());

const definition = { name: 'x', nodes: [{ id: 'a', type: 'noop' }] };

describe('request validation', () => {
  it('refuses wrong types in a JSON body instead of coercing them', async () => {
    for (const body of [{ name: 123, definition }, { name: 'x', description: ['d'], definition }, { name: true, definition }]) {
      const res = await api.request({ method: 'POST', url: '/workflows', payload: body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
    const res = await api.request({ method: 'POST', url: '/workflows', payload: { name: 123, definition } });
    expect(res.json().error.details).toEqual([expect.objectContaining({ path: '/body/name' })]);
    expect(await api.database.db.workflow.count()).toBe(0);
  });

  it('still reads numbers and booleans from the query string', async () => {
    const res = await api.request({ method: 'GET', url: '/workflows?limit=5' });
    expect(res.statusCode).toBe(200);
    expect((await api.request({ method: 'GET', url: '/workflows?limit=five' })).statusCode).toBe(400);
  });
});

describe('version numbers', () => {
  it('refuses a version past Postgres integer range with a 400, not an overflow', async () => {
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'v', definition } });
    const res = await api.request({ method: 'POST', url: '/executions', payload: { workflowId: created.json().id, version: 9007199254740992 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toEqual([expect.objectContaining({ path: '/body/version' })]);
  });
});

describe('unstorable: what Postgres could not store, with its JSON pointer', () => {
  const nul = 'a\u0000b';
  it('names the value, the key, the array index and the depth that fail', () => {
    expect(unstorable({ a: { 'x/y~z': [1, 'ok', nul] } }, '/body')).toEqual({ path: '/body/a/x~1y~0z/2', message: expect.stringMatching(/U\+0000/) });
    expect(unstorable({ a: { [`k${nul}`]: 1 } }, '/body')?.path).toBe(`/body/a/k${nul}`);
    expect(unstorable('lone\ud800', '/params')?.path).toBe('/params');
    let deep: unknown = 1;
    for (let i = 0; i < 102; i++) deep = { d: deep };
    expect(unstorable(deep, '/body')).toEqual({ path: `/body${'/d'.repeat(101)}`, message: 'must not nest deeper than 100 levels' });
    expect(unstorable({ a: [1, true, null, { b: 'fine \ud83d\ude00' }], c: 'x' }, '/body')).toBeUndefined();
  });

  it('answers a deep input with a 400 whose message stays short and whose detail has the whole path', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 150; i++) deep = { level: deep };
    const res = await api.request({ method: 'POST', url: '/executions', payload: { workflowId: 'any', input: deep } });
    expect(res.statusCode).toBe(400);
    const { message, details } = res.json().error;
    expect(message.length).toBeLessThan(200);
    expect(details[0].path).toBe(`/body/input${'/level'.repeat(100)}`);
  });
});
