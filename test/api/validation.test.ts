import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';

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
