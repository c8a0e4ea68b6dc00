import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { ApiLimits, AppDeps } from '../../src/api/deps';
import type { TemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { executionAdmissionFor } from '../../src/services/executions';
import { createTestDatabase, type TestDatabase } from './database';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import type { Keyring } from '../../src/crypto/keyring';
import type { PayloadCodec } from '@temporalio/common';
import type { NodeCatalog } from '../../src/domain/node-types';

export interface TestApi {
  app: FastifyInstance;
  database: TestDatabase;
  temporal: FakeTemporalGateway;
  /** API key of tenant "acme" and of a second tenant "globex" (for isolation tests). */
  key: string;
  otherKey: string;
  acmeTenantId: string;
  globexTenantId: string;
  /** app.inject with acme's key unless `headers.authorization` is given. */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** The real app on a fresh migrated database, with Temporal behind the fake gateway unless given. */
export async function createTestApi(
  options: {
    temporal?: TemporalGateway;
    limits?: Partial<ApiLimits>;
    masterKeys?: Keyring;
    payloadCodec?: PayloadCodec;
    /** TRELLIS_MAX_RUNNING_PER_TENANT for this app alone. */
    maxRunningPerTenant?: number;
    catalog?: NodeCatalog;
    trustProxy?: AppDeps['trustProxy'];
    metricsToken?: string;
  } = {},
): Promise<TestApi> {
  const database = await createTestDatabase();
  const temporal = (options.temporal ?? new FakeTemporalGateway()) as FakeTemporalGateway;
  const app = await buildApp({
    db: database.db,
    temporal,
    catalog: options.catalog ?? createNodeRegistry().catalog(),
    limits: options.limits,
    masterKeys: options.masterKeys,
    payloadCodec: options.payloadCodec,
    codecCorsOrigins: ['http://localhost:8080'],
    ...(options.trustProxy !== undefined && { trustProxy: options.trustProxy }),
    ...(options.metricsToken !== undefined && { metricsToken: options.metricsToken }),
    ...(options.maxRunningPerTenant !== undefined && {
      executionAdmission: executionAdmissionFor(database.db, { maxRunning: () => options.maxRunningPerTenant! }),
    }),
  });
  await app.ready();
  const { key, tenantId: acmeTenantId } = await createApiKey(database.db, 'acme');
  const { key: otherKey, tenantId: globexTenantId } = await createApiKey(database.db, 'globex');
  return {
    app,
    database,
    temporal,
    key,
    otherKey,
    acmeTenantId,
    globexTenantId,
    request(opts) {
      return app.inject({ ...opts, headers: { authorization: `Bearer ${key}`, ...opts.headers } });
    },
    async close() {
      await app.close();
      await database.drop();
    },
  };
}

/** One test API for the whole file, closed after it; Temporal is reachable again before each test. */
export function useTestApi(onReady: (api: TestApi) => void, options?: Parameters<typeof createTestApi>[0]): void {
  let api: TestApi | undefined;
  beforeAll(async () => {
    api = await createTestApi(options);
    onReady(api);
  });
  afterAll(() => api?.close());
  beforeEach(() => {
    if (api) api.temporal.down = false;
  });
}
