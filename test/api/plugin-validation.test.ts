import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeRegistry, loadPlugins } from '../../src/activities';
import { createTestApi, type TestApi } from '../support/api';

/** The API built as `trellis api --plugin examples/plugins/checksum.mjs` builds it, and one without the plugin. */
let api: TestApi;
let plain: TestApi;
beforeAll(async () => {
  const { nodeTypes } = await loadPlugins([path.join(__dirname, '..', '..', 'examples', 'plugins', 'checksum.mjs')]);
  api = await createTestApi({ catalog: createNodeRegistry(nodeTypes).catalog() });
  plain = await createTestApi();
});
afterAll(async () => {
  await api?.close();
  await plain?.close();
});

const withNode = (node: Record<string, unknown>) => ({
  name: 'digest',
  nodes: [{ id: 'source', type: 'noop' }, { id: 'digest', ...node }],
  edges: [{ from: 'source', to: 'digest' }],
});

describe('validation knows the node types of the API process plugins', () => {
  it('accepts a plugin node with a valid config, templates included', async () => {
    const definition = withNode({ type: 'checksum', config: { data: '{{ input.payload }}', algorithm: 'sha512', encoding: 'base64' } });
    const validated = await api.request({ method: 'POST', url: '/workflows/validate', payload: { definition } });
    expect(validated.statusCode).toBe(200);
    expect(validated.json()).toMatchObject({ valid: true, errors: [] });
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'digest', definition } });
    expect(created.statusCode, created.body).toBe(201);
  });

  it("checks the config against the plugin's schema and literal fields", async () => {
    const definition = withNode({ type: 'checksum', config: { data: 'x', algorithm: 'md5', colour: 'red', encoding: '{{ input.enc }}' } });
    const validated = await api.request({ method: 'POST', url: '/workflows/validate', payload: { definition } });
    expect(validated.statusCode).toBe(200);
    const { valid, errors } = validated.json() as { valid: boolean; errors: { path: string; message: string }[] };
    expect(valid).toBe(false);
    const paths = errors.map((e) => e.path);
    expect(paths).toContain('/nodes/1/config/algorithm');
    expect(paths).toContain('/nodes/1/config/colour');
    expect(paths).toContain('/nodes/1/config/encoding');
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'digest', definition } });
    expect(created.statusCode).toBe(400);
    expect(created.json().error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/definition/nodes/1/config/algorithm' })]));
  });

  it('still rejects an unknown type with a clear 400, naming the known ones', async () => {
    const definition = withNode({ type: 'checksums', config: { data: 'x' } });
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'digest', definition } });
    expect(created.statusCode).toBe(400);
    const detail = (created.json().error.details as { path: string; message: string }[]).find((d) => d.path === '/definition/nodes/1/type');
    expect(detail?.message).toMatch(/^unknown node type "checksums" \(known: .*\bchecksum\b.*\)$/);
  });

  it('an API without the plugin does not know the type', async () => {
    const definition = withNode({ type: 'checksum', config: { data: 'x' } });
    const created = await plain.request({ method: 'POST', url: '/workflows', payload: { name: 'digest', definition } });
    expect(created.statusCode).toBe(400);
    expect(JSON.stringify(created.json().error.details)).toContain('unknown node type \\"checksum\\"');
  });
});
