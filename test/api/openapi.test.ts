import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfig, lint } from '@redocly/openapi-core';
import { API_TYPES_PATH, apiTypesSource, openApiDocument } from '../../src/cli/openapi';
import { createTestApi, type TestApi } from '../support/api';

interface Operation {
  operationId?: string;
  security?: unknown[];
  parameters?: { in: string; name: string }[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
}
interface Document {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
}

/** Routes whose path names the resource they create (PUT/POST /secrets/NAME): no 404. */
const CREATED_BY_NAME = ['PUT /secrets/{name}', 'POST /secrets/{name}'];

let api: TestApi;
let doc: Document;
beforeAll(async () => {
  api = await createTestApi();
  const res = await api.app.inject({ method: 'GET', url: '/docs/json' });
  expect(res.statusCode).toBe(200);
  doc = res.json();
});
afterAll(async () => {
  await api?.close();
});

function operations(): { route: string; method: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([p, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${p}`, method, op })),
  );
}

describe('the OpenAPI document is a contract clients can generate from', () => {
  it("passes Redocly's recommended rules with no error", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-openapi-'));
    try {
      const file = path.join(dir, 'openapi.json');
      await fs.writeFile(file, JSON.stringify(doc));
      const problems = await lint({ ref: file, config: await createConfig({ extends: ['recommended'] }) });
      const errors = problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
      expect(errors).toEqual([]);
      // The one warning left: a license `url` (the package is UNLICENSED, there is none to link).
      const warnings = problems.filter((p) => p.severity === 'warn').map((p) => p.ruleId);
      expect(warnings.filter((rule) => rule !== 'info-license-strict')).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('names a server and gives every operation a unique operationId', () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
    const ids = operations().map(({ route, op }) => op.operationId ?? `(none on ${route})`);
    expect(ids.filter((id) => id.startsWith('(none'))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('documents every status a route can answer with', () => {
    const missing: string[] = [];
    for (const { route, method, op } of operations()) {
      const expected = new Set<string>(['429']); // the per-address rate limit runs before every route
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      if (!isPublic) expected.add('401');
      if ((op.parameters ?? []).length > 0 || op.requestBody !== undefined) expected.add('400');
      // A path names a resource that may not exist, except where the request creates it by name.
      if ((op.parameters ?? []).some((p) => p.in === 'path') && !CREATED_BY_NAME.includes(route)) expected.add('404');
      // Any body may be too large or malformed JSON, whether or not the route reads one.
      if (['post', 'put', 'patch'].includes(method)) ['400', '413'].forEach((s) => expected.add(s));
      for (const status of expected) if (!(status in op.responses)) missing.push(`${route} ${status}`);
    }
    expect(missing).toEqual([]);
  });
});

describe('generated API types', () => {
  it('the generator builds the same document the API serves', async () => {
    expect(await openApiDocument()).toEqual(doc);
  });

  it(`${API_TYPES_PATH} is in sync with the document (run npm run api:types)`, async () => {
    const committed = await fs.readFile(path.join(__dirname, '../..', API_TYPES_PATH), 'utf8');
    expect(committed).toBe(await apiTypesSource(doc as unknown as Record<string, unknown>));
  });
});
