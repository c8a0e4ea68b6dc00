import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { readSecretValues } from '../../src/services/secrets';

const keyring = new Keyring(parseKey(generateKeyText(), 'test key'));
const VALUE = 'sk_live_5d1c0ffee-top-secret';

let api: TestApi;
let keyless: TestApi;
beforeAll(async () => {
  api = await createTestApi({ masterKeys: keyring });
  keyless = await createTestApi();
});
afterAll(async () => {
  await api?.close();
  await keyless?.close();
});

describe('/secrets', () => {
  it('stores a value write-only: PUT answers name and version, GET lists without values', async () => {
    const put = await api.request({ method: 'PUT', url: '/secrets/STRIPE_KEY', payload: { value: VALUE } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({ name: 'STRIPE_KEY', version: 1, createdAt: expect.any(String), updatedAt: expect.any(String) });
    expect(put.body).not.toContain(VALUE);

    const again = await api.request({ method: 'PUT', url: '/secrets/STRIPE_KEY', payload: { value: `${VALUE}-2` } });
    expect(again.json().version).toBe(2);

    const list = await api.request({ method: 'GET', url: '/secrets' });
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toEqual([{ name: 'STRIPE_KEY', version: 2, createdAt: expect.any(String), updatedAt: expect.any(String) }]);
    expect(list.body).not.toContain(VALUE);
  });

  it('keeps only ciphertext in the database, bound to tenant and name', async () => {
    await api.request({ method: 'PUT', url: '/secrets/DB_PASSWORD', payload: { value: VALUE } });
    const rows = await api.database.db.$queryRawUnsafe<Record<string, unknown>[]>('SELECT * FROM secrets');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(VALUE);
    expect(dump).not.toContain(Buffer.from(VALUE).toString('base64'));
    const row = await api.database.db.secret.findUniqueOrThrow({ where: { tenantId_name: { tenantId: api.acmeTenantId, name: 'DB_PASSWORD' } } });
    expect(row.masterKeyId).toBe(keyring.current.id);
    expect(await readSecretValues(api.database.db, keyring, api.acmeTenantId, ['DB_PASSWORD'])).toEqual(new Map([['DB_PASSWORD', VALUE]]));
    // The same ciphertext under another tenant (a copied row) does not decrypt.
    await api.database.db.secret.create({ data: { ...row, tenantId: api.globexTenantId } });
    await expect(readSecretValues(api.database.db, keyring, api.globexTenantId, ['DB_PASSWORD'])).rejects.toThrow(/does not authenticate/);
    await api.database.db.secret.delete({ where: { tenantId_name: { tenantId: api.globexTenantId, name: 'DB_PASSWORD' } } });
  });

  it('POST creates once (201), then answers 409', async () => {
    const first = await api.request({ method: 'POST', url: '/secrets/WEBHOOK_TOKEN', payload: { value: 'abcdef' } });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ name: 'WEBHOOK_TOKEN', version: 1 });
    const second = await api.request({ method: 'POST', url: '/secrets/WEBHOOK_TOKEN', payload: { value: 'ghijkl' } });
    expect(second.statusCode).toBe(409);
    expect(second.json().error.code).toBe('CONFLICT');
  });

  it('scopes secrets by tenant', async () => {
    await api.request({ method: 'PUT', url: '/secrets/ACME_ONLY', payload: { value: 'acme-value' } });
    const asGlobex = { authorization: `Bearer ${api.otherKey}` };
    const list = await api.request({ method: 'GET', url: '/secrets', headers: asGlobex });
    expect(list.json().items.map((s: { name: string }) => s.name)).not.toContain('ACME_ONLY');
    const del = await api.request({ method: 'DELETE', url: '/secrets/ACME_ONLY', headers: asGlobex });
    expect(del.statusCode).toBe(404);
    const mine = await api.request({ method: 'DELETE', url: '/secrets/ACME_ONLY' });
    expect(mine.statusCode).toBe(204);
    const gone = await api.request({ method: 'DELETE', url: '/secrets/ACME_ONLY' });
    expect(gone.statusCode).toBe(404);
  });

  it('rejects bad names and values with 400, and answers 401 without a key', async () => {
    for (const url of ['/secrets/1abc', '/secrets/with-dash', '/secrets/a.b']) {
      const res = await api.request({ method: 'PUT', url, payload: { value: 'x' } });
      expect(res.statusCode, url).toBe(400);
    }
    // Past the router's parameter length limit: still a client error in the API's shape.
    const tooLong = await api.request({ method: 'PUT', url: `/secrets/${'a'.repeat(200)}`, payload: { value: 'x' } });
    expect(tooLong.statusCode).toBeGreaterThanOrEqual(400);
    expect(tooLong.statusCode).toBeLessThan(500);
    for (const payload of [{}, { value: '' }, { value: 12 }, { value: 'x', extra: 1 }, { value: 'x'.repeat(64 * 1024 + 1) }]) {
      const res = await api.request({ method: 'PUT', url: '/secrets/OK', payload });
      expect(res.statusCode, JSON.stringify(payload).slice(0, 40)).toBe(400);
    }
    const anonymous = await api.app.inject({ method: 'GET', url: '/secrets' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('checks secret names when a workflow is saved, and warns about literal credentials on validate', async () => {
    await api.request({ method: 'PUT', url: '/secrets/PARTNER_TOKEN', payload: { value: 'partner-token-value' } });
    const node = (header: string) => ({ id: 'call', type: 'http', config: { url: 'https://partner.example/x', headers: { authorization: header } } });
    const unknown = await api.request({
      method: 'POST',
      url: '/workflows',
      payload: { name: 'w', definition: { name: 'w', nodes: [node('Bearer {{ secrets.NOPE }}')] } },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.details).toEqual([
      { path: '/definition/nodes/0/config/headers/authorization', message: 'unknown secret "NOPE" (create it with PUT /secrets/NOPE)' },
    ]);
    // Another tenant's secret of that name does not count.
    const asGlobex = await api.request({
      method: 'POST',
      url: '/workflows',
      headers: { authorization: `Bearer ${api.otherKey}` },
      payload: { name: 'w', definition: { name: 'w', nodes: [node('Bearer {{ secrets.PARTNER_TOKEN }}')] } },
    });
    expect(asGlobex.statusCode).toBe(400);
    const known = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'w', definition: { name: 'w', nodes: [node('Bearer {{ secrets.PARTNER_TOKEN }}')] } } });
    expect(known.statusCode, known.body).toBe(201);
    // Stored and returned as the reference only.
    const stored = await api.request({ method: 'GET', url: `/workflows/${known.json().id}` });
    expect(stored.json().definition.nodes[0].config.headers.authorization).toBe('Bearer {{ secrets.PARTNER_TOKEN }}');

    const literal = await api.request({ method: 'POST', url: '/workflows/validate', payload: { definition: { name: 'w', nodes: [node('Bearer sk_live_abc')] } } });
    expect(literal.json()).toEqual({
      valid: true,
      errors: [],
      warnings: [{ path: '/nodes/0/config/headers/authorization', message: expect.stringContaining('{{ secrets.NAME }}') }],
    });
  });

  it('answers 503 for writes when the server has no master key; lists still work', async () => {
    const put = await keyless.request({ method: 'PUT', url: '/secrets/X_TOKEN', payload: { value: 'abcdef' } });
    expect(put.statusCode).toBe(503);
    expect(put.json().error).toMatchObject({ code: 'SECRETS_UNAVAILABLE', message: expect.stringContaining('TRELLIS_MASTER_KEY') });
    const list = await keyless.request({ method: 'GET', url: '/secrets' });
    expect(list.json()).toEqual({ items: [] });
  });
});
