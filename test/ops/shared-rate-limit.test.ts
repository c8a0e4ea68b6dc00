import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createDb, type Db } from '../../src/db/client';
import { createApiKey } from '../../src/services/api-keys';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { freePort } from '../../src/util/free-port';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** Two API replicas on one database and one Redis (Debian's redis-server, started here on loopback). */
const REDIS = '/usr/bin/redis-server';
const haveRedis = fs.existsSync(REDIS);
if (!haveRedis) console.warn(`SKIPPED shared rate limits: ${REDIS} not installed (apt-get install redis-server)`);

const PER_MINUTE = 4;
let redis: ChildProcess | undefined;
let database: TestDatabase;
const replicas: { app: FastifyInstance; db: Db; redis: Redis; url: string }[] = [];
let key: string;

beforeAll(async () => {
  if (!haveRedis) return;
  const port = await freePort();
  redis = spawn(REDIS, ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'], { stdio: 'ignore' });
  database = await createTestDatabase();
  key = (await createApiKey(database.db, 'acme')).key;
  for (let i = 0; i < 2; i++) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    for (let tries = 0; ; tries++) {
      try {
        await client.connect();
        break;
      } catch (err) {
        if (tries > 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const db = createDb(database.url, { max: 3 });
    const app = await buildApp({
      db,
      temporal: new FakeTemporalGateway(),
      catalog: createNodeRegistry().catalog(),
      rateLimitRedis: client,
      limits: { rateLimitPerMinute: PER_MINUTE },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    replicas.push({ app, db, redis: client, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
  }
}, 60_000);

afterAll(async () => {
  for (const r of replicas) {
    await r.app.close();
    r.redis.disconnect();
    await r.db.$disconnect();
  }
  redis?.kill();
  await database?.drop();
});

describe.skipIf(!haveRedis)('rate limits with TRELLIS_REDIS_URL', () => {
  it('gives a key its limit once across two replicas, not once per replica', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < PER_MINUTE + 2; i++) {
      const res = await fetch(`${replicas[i % 2]!.url}/workflows`, { headers: { authorization: `Bearer ${key}` } });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses).toEqual([...Array(PER_MINUTE).fill(200), 429, 429]);
  });
});
