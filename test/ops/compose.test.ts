import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { migrate } from '../../src/db/migrator';
import { SETTINGS } from '../../src/config';

/**
 * docker-compose.yml and the Dockerfile checked against the code's own configuration, without
 * Docker: the env vars the app services set are the ones src/ reads, ports and addresses agree.
 */
const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: string | { context?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target?: number; published?: number | string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: string[];
  deploy?: { replicas?: number };
  expose?: (string | number)[];
  stop_grace_period?: string;
  entrypoint?: string[];
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = read('Dockerfile');

function env(name: string): Record<string, string> {
  const raw = services[name]?.environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((line) => {
        const i = line.indexOf('=');
        return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
      })
    : Object.entries(raw).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(entries) as Record<string, string>;
}

function dependsOn(name: string): string[] {
  const deps = services[name]?.depends_on ?? [];
  return Array.isArray(deps) ? deps : Object.keys(deps);
}

/** The host address each of a service's port mappings binds to (undefined: every interface). */
function hostIps(name: string): (string | undefined)[] {
  return (services[name]?.ports ?? []).map((p) => {
    if (typeof p === 'object') return (p as { host_ip?: string }).host_ip;
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    return parts.length === 3 ? parts[0] : undefined;
  });
}

/** [published, target] pairs of a service's port mappings. */
function ports(name: string): [number | undefined, number][] {
  return (services[name]?.ports ?? []).map((p) => {
    if (typeof p === 'object') return [p.published === undefined ? undefined : Number(p.published), Number(p.target)];
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    const target = Number(parts[parts.length - 1]);
    return [parts.length > 1 ? Number(parts[parts.length - 2]) : undefined, target];
  });
}

function command(name: string): string[] {
  const c = services[name]?.command;
  return c === undefined ? [] : Array.isArray(c) ? c : c.split(/\s+/);
}

/** Every env var name src/ reads: the settings table (src/config/settings.ts), `process.env.X`, `env.X`, `env['X']`. */
function envVarsReadBySource(): Set<string> {
  const names = new Set<string>(Object.keys(SETTINGS));
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'generated') walk(full);
      } else if (entry.name.endsWith('.ts')) {
        const text = fs.readFileSync(full, 'utf8');
        for (const m of text.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]!);
        for (const m of text.matchAll(/\benv\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\]/g)) names.add(m[1]!);
        // Names kept in constants, e.g. ALLOW_PRIVATE_ENV = 'TRELLIS_HTTP_ALLOW_PRIVATE'.
        for (const m of text.matchAll(/_ENV\s*=\s*['"`]([A-Z][A-Z0-9_]*)['"`]/g)) names.add(m[1]!);
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  return names;
}

const APP_SERVICES = ['trellis-api', 'trellis-worker'] as const;
const REQUIRED: Record<(typeof APP_SERVICES)[number], string[]> = {
  'trellis-worker': ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TRELLIS_TASK_QUEUE'],
  'trellis-api': ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TRELLIS_TASK_QUEUE', 'HOST', 'PORT'],
};

describe('docker-compose.yml', () => {
  it('has the five services', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'trellis-api', 'trellis-worker']),
    );
  });

  it('pins every pulled image to a concrete version', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) continue;
      const tag = service.image?.split(':')[1];
      expect(tag, `${name}: ${service.image}`).toMatch(/^v?\d+(\.\d+)+/);
    }
    expect(services.postgres!.image).toMatch(/^postgres:16[.-]/);
    // temporalio/server with its schema made by admin-tools: the auto-setup image is deprecated.
    expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema']!.image).toBe(services.temporal!.image!.replace('server', 'admin-tools'));
    for (const [name, service] of Object.entries(services)) expect(service.image ?? '', name).not.toMatch(/auto-setup/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
  });

  it('sets on the Trellis services only env vars that src/ reads, and every one it needs', () => {
    const read = envVarsReadBySource();
    // Sanity: the scan sees the reads of DESIGN.md §4.
    expect([...read]).toEqual(expect.arrayContaining(REQUIRED['trellis-api']));
    for (const name of APP_SERVICES) {
      const set = Object.keys(env(name));
      expect(set.filter((v) => !read.has(v)), `${name} sets vars nothing in src/ reads`).toEqual([]);
      expect(set, name).toEqual(expect.arrayContaining(REQUIRED[name]));
    }
  });

  it('runs the API and the worker from this repository image with their commands', () => {
    for (const name of APP_SERVICES) {
      const build = services[name]!.build;
      expect(typeof build === 'string' ? build : build?.context, name).toBe('.');
      expect(dependsOn(name), name).toEqual(expect.arrayContaining(['postgres', 'temporal']));
    }
    expect(command('trellis-api')).toEqual(['api']);
    expect(command('trellis-worker')).toEqual(['worker']);
    const { TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TRELLIS_TASK_QUEUE, DATABASE_URL } = env('trellis-api');
    expect({ TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TRELLIS_TASK_QUEUE, DATABASE_URL }).toEqual({
      TEMPORAL_ADDRESS: env('trellis-worker').TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: env('trellis-worker').TEMPORAL_NAMESPACE,
      TRELLIS_TASK_QUEUE: env('trellis-worker').TRELLIS_TASK_QUEUE,
      DATABASE_URL: env('trellis-worker').DATABASE_URL,
    });
  });

  it('runs two API replicas on PORT behind the load balancer, which publishes :3000, and health-checks /healthz', () => {
    const api = env('trellis-api');
    expect(api.HOST).toBe('0.0.0.0');
    const port = Number(api.PORT);
    expect(port).toBeGreaterThan(0);
    expect(services['trellis-api']!.deploy?.replicas).toBe(2);
    // No published port of its own (two replicas could not share it): clients come through the balancer.
    expect(ports('trellis-api')).toEqual([]);
    expect((services['trellis-api']!.expose ?? []).map(Number)).toContain(port);
    const nginx = read('deploy/compose/nginx.conf');
    expect(nginx).toContain(`server trellis-api:${port} resolve`);
    const listen = Number(/listen (\d+);/.exec(nginx)?.[1]);
    expect(ports('load-balancer')).toContainEqual([3000, listen]);
    expect(services['load-balancer']!.volumes).toContain('./deploy/compose/nginx.conf:/etc/nginx/nginx.conf:ro');
    // The balancer is one hop and sets X-Forwarded-For; the API believes exactly that hop.
    expect(api.TRELLIS_TRUST_PROXY).toBe('1');
    expect(nginx).toMatch(/proxy_set_header X-Forwarded-For \$remote_addr;/);
    expect(nginx).toMatch(/proxy_buffering off;/); // event streams
    expect(api.TRELLIS_REDIS_URL).toBe('redis://redis:6379'); // one rate-limit bucket for both replicas
    expect(dependsOn('trellis-api')).toContain('redis');
    const test = services['trellis-api']!.healthcheck?.test;
    const check = Array.isArray(test) ? test.join(' ') : String(test);
    expect(check).toContain('/healthz');
    expect(check).toContain(`:${port}/`);
    // The worker serves no HTTP, so the image's /healthz check is off for it.
    expect(services['trellis-worker']!.healthcheck?.disable).toBe(true);
  });

  it('runs two workers with a stop grace longer than their shutdown grace, and migrations as a step before both', () => {
    expect(services['trellis-worker']!.deploy?.replicas).toBe(2);
    const grace = SETTINGS.TRELLIS_WORKER_SHUTDOWN_GRACE.default / 1000;
    expect(Number(/^(\d+)s$/.exec(services['trellis-worker']!.stop_grace_period ?? '')?.[1])).toBeGreaterThan(grace);
    expect(command('trellis-migrate')).toEqual(['migrate']);
    for (const name of APP_SERVICES) {
      expect(env(name).TRELLIS_MIGRATE_ON_START, name).toBe('false');
      expect(services[name]!.depends_on, name).toMatchObject({ 'trellis-migrate': { condition: 'service_completed_successfully' } });
    }
  });

  it('points TEMPORAL_ADDRESS at the temporal service and its frontend port', () => {
    const [host, port] = env('trellis-api').TEMPORAL_ADDRESS!.split(':');
    expect(host).toBe('temporal');
    expect(services[host!]).toBeDefined();
    expect(ports('temporal').map(([, target]) => target)).toContain(Number(port));
    expect(env('temporal-ui').TEMPORAL_ADDRESS).toBe(env('trellis-api').TEMPORAL_ADDRESS);
    expect(ports('temporal-ui')).toContainEqual([8080, 8080]);
  });

  it('runs Temporal on the postgres service, with its credentials', () => {
    const pg = env('postgres');
    for (const name of ['temporal', 'temporal-schema']) {
      const temporal = env(name);
      expect(temporal.DB, name).toBe('postgres12');
      expect(temporal.POSTGRES_SEEDS, name).toBe('postgres');
      expect(temporal.DB_PORT, name).toBe('5432');
      expect(temporal.POSTGRES_USER, name).toBe(pg.POSTGRES_USER);
      expect(temporal.POSTGRES_PWD, name).toBe(pg.POSTGRES_PASSWORD);
    }
    // The schema step runs on a healthy Postgres; the server starts once it has succeeded.
    expect(services['temporal-schema']!.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    expect(services.temporal!.depends_on).toMatchObject({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    for (const script of ['temporal-schema.sh', 'temporal-namespace.sh']) {
      expect(fs.statSync(path.join(ROOT, 'deploy/compose', script)).mode & 0o111, script).not.toBe(0);
    }
    expect(read('deploy/compose/temporal-schema.sh')).toMatch(/update-schema -d "\$SCHEMA\/visibility\/versioned"/);
    const pgCheck = services.postgres!.healthcheck?.test;
    expect(Array.isArray(pgCheck) ? pgCheck.join(' ') : pgCheck).toContain('pg_isready');
  });

  it("points DATABASE_URL at the postgres service as Trellis's own role (not the administrator) and its database", () => {
    const url = new URL(env('trellis-api').DATABASE_URL!);
    const pg = env('postgres');
    expect(url.protocol).toMatch(/^postgres(ql)?:$/);
    expect(url.hostname).toBe('postgres');
    expect(url.port || '5432').toBe('5432');
    expect(decodeURIComponent(url.username)).toBe(pg.TRELLIS_DB_USER);
    expect(decodeURIComponent(url.password)).toBe(pg.TRELLIS_DB_PASSWORD);
    expect(url.pathname).toBe(`/${pg.TRELLIS_DB_NAME}`);
    // The administrator (a superuser, the image's POSTGRES_USER) is Temporal's, not the app's.
    expect(decodeURIComponent(url.username)).not.toBe(pg.POSTGRES_USER);
    expect(services.postgres!.volumes).toContain('./docker/postgres-init:/docker-entrypoint-initdb.d:ro');
    expect(fs.statSync(path.join(ROOT, 'docker/postgres-init/10-trellis-role.sh')).mode & 0o111).not.toBe(0);
  });

  it("publishes Temporal's frontend and the Web UI on 127.0.0.1 only (access to them is operator access)", () => {
    expect(ports('temporal')).toContainEqual([7233, 7233]);
    for (const name of ['temporal', 'temporal-ui']) {
      expect(hostIps(name).length, name).toBeGreaterThan(0);
      for (const ip of hostIps(name)) expect(ip, name).toBe('127.0.0.1');
    }
    // Postgres is not published at all.
    expect(services.postgres!.ports ?? []).toEqual([]);
  });

  const psql = spawnSync('psql', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!psql) console.log('!!! SKIPPING the docker/postgres-init check: psql is not installed');

  it.skipIf(!psql)("docker/postgres-init creates a role that is not a superuser, owns Trellis's database and can migrate it", async () => {
    const server = new URL(inject('postgresUrl'));
    const suffix = randomBytes(4).toString('hex');
    const role = `trellis_app_${suffix}`;
    const database = `trellis_compose_${suffix}`;
    const password = `pw-${suffix}'"; select 1; --`;
    const admin = new pg.Client(server.toString());
    await admin.connect();
    try {
      // The script as the image runs it: POSTGRES_USER, libpq's PG* pointing at the server.
      const result = spawnSync('sh', [path.join(ROOT, 'docker/postgres-init/10-trellis-role.sh')], {
        encoding: 'utf8',
        timeout: 30_000,
        env: {
          PATH: process.env.PATH,
          POSTGRES_USER: decodeURIComponent(server.username),
          PGHOST: server.hostname,
          PGPORT: server.port,
          PGPASSWORD: decodeURIComponent(server.password),
          TRELLIS_DB_USER: role,
          TRELLIS_DB_PASSWORD: password,
          TRELLIS_DB_NAME: database,
        },
      });
      expect(result.status, result.stderr).toBe(0);
      const { rows } = await admin.query(
        `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls, pg_get_userbyid(d.datdba) AS owner
           FROM pg_roles r, pg_database d WHERE r.rolname = $1 AND d.datname = $2`,
        [role, database],
      );
      expect(rows).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, owner: role }]);
      const appUrl = new URL(server.toString());
      appUrl.username = role;
      appUrl.password = encodeURIComponent(password);
      appUrl.pathname = `/${database}`;
      // Trellis's migrations need nothing a database owner lacks.
      await migrate(appUrl.toString());
      const app = new pg.Client(appUrl.toString());
      await app.connect();
      try {
        const { rows: tables } = await app.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tableowner = $1`, [role]);
        expect(tables[0].n).toBeGreaterThan(0);
        // What a superuser could do and this role cannot: read the server's files.
        await expect(app.query(`SELECT pg_read_file('PG_VERSION')`)).rejects.toThrow(/permission denied/);
      } finally {
        await app.end();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
    }
  }, 60_000);

  const composeBin = ['docker-compose', 'docker'].find((bin) => {
    const args = bin === 'docker' ? ['compose', 'version'] : ['version'];
    return spawnSync(bin, args, { stdio: 'ignore' }).status === 0;
  });
  if (!composeBin) console.log('!!! SKIPPING docker-compose config check: neither docker-compose nor docker compose is installed');

  it.skipIf(!composeBin)('is accepted by `docker-compose config -q`', () => {
    const args = composeBin === 'docker' ? ['compose', '-f', 'docker-compose.yml', 'config', '-q'] : ['-f', 'docker-compose.yml', 'config', '-q'];
    const result = spawnSync(composeBin!, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.status, `${result.stderr}${result.error ?? ''}`).toBe(0);
  });
});

describe('Dockerfile', () => {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const last = (keyword: string) => instructions.filter((l) => l.toUpperCase().startsWith(`${keyword} `)).pop();
  const finalStage = instructions.slice(instructions.map((l) => l.toUpperCase().startsWith('FROM ')).lastIndexOf(true));

  it('builds on node:24-bookworm-slim in stages', () => {
    const froms = instructions.filter((l) => /^FROM /i.test(l));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM node:24-bookworm-slim\b/);
  });

  it('runs as a non-root user', () => {
    const user = finalStage.filter((l) => /^USER /i.test(l)).pop();
    expect(user, 'the runtime stage has a USER line').toBeDefined();
    expect(user!.slice(5).trim().split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('starts bin/trellis.js, the API by default', () => {
    expect(JSON.parse(last('ENTRYPOINT')!.slice('ENTRYPOINT '.length))).toEqual(['node', 'bin/trellis.js']);
    expect(JSON.parse(last('CMD')!.slice('CMD '.length))).toEqual(['api']);
    expect(fs.existsSync(path.join(ROOT, 'bin', 'trellis.js'))).toBe(true);
  });

  it('builds dist/ and the workflow bundle the worker is pointed at', () => {
    expect(dockerfile).toMatch(/npm run build\b/);
    expect(dockerfile).toMatch(/npm run build:workflows\b/);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toBeDefined();
    expect(pkg.scripts['build:workflows']).toBeDefined();
    const bundle = /TRELLIS_WORKFLOW_BUNDLE=(\S+)/.exec(dockerfile)?.[1];
    expect(bundle).toMatch(/dist\/workflow-bundle\.js$/);
    expect(read('src/cli/build-workflow-bundle.ts')).toContain("'dist/workflow-bundle.js'");
  });

  it('sets only env vars src/ reads (besides Node and npm settings)', () => {
    const read = envVarsReadBySource();
    const names = finalStage
      .filter((l) => /^ENV /i.test(l))
      .flatMap((l) => [...l.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!));
    expect(names).toContain('TRELLIS_WORKFLOW_BUNDLE');
    expect(names.filter((n) => n !== 'NODE_ENV' && !n.startsWith('NPM_CONFIG_') && !read.has(n))).toEqual([]);
  });

  it('health-checks /healthz with node (no curl in slim images)', () => {
    const check = last('HEALTHCHECK');
    expect(check).toContain('/healthz');
    expect(check).toMatch(/CMD \["node"/);
  });

  it('has a .dockerignore that keeps node_modules and dist out of the context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist']));
  });
});
