import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { SETTINGS } from '../../src/config';
import { createTestApi, type TestApi } from '../support/api';

/**
 * deploy/kustomize/base checked without a cluster (no kubectl here): every resource the
 * kustomization lists parses, and the essentials of running Trellis as a service hold — two API
 * replicas probed on routes the API really serves, non-root read-only containers with resource
 * requests, one image for the Deployments and the migrate Job, PodDisruptionBudgets that select
 * the Deployments' pods, a worker termination grace longer than its shutdown grace.
 */
const BASE = path.join(__dirname, '..', '..', 'deploy', 'kustomize', 'base');

interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; capabilities?: { drop?: string[] } };
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
}
interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
    strategy?: { rollingUpdate?: { maxUnavailable?: number | string } };
    minAvailable?: number;
    maxUnavailable?: number;
    ports?: { port: number; targetPort: string | number }[];
  };
  data?: Record<string, string>;
}

const kustomization = parse(fs.readFileSync(path.join(BASE, 'kustomization.yaml'), 'utf8')) as { resources: string[]; images?: { name: string }[] };
const resources: Resource[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(fs.readFileSync(path.join(BASE, file), 'utf8')).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as Resource;
  }),
);
const find = (kind: string, name: string): Resource => {
  const found = resources.find((r) => r.kind === kind && r.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/kustomize/base`);
  return found;
};
const api = find('Deployment', 'trellis-api');
const worker = find('Deployment', 'trellis-worker');
const migrate = find('Job', 'trellis-migrate');
const podSpecs = resources.filter((r) => r.spec?.template).map((r) => [`${r.kind}/${r.metadata.name}`, r.spec!.template!.spec] as const);
const container = (r: Resource) => r.spec!.template!.spec.containers[0]!;
/** In the image: `USER node`, the official Node image's uid 1000. */
const IMAGE_UID = 1000;

let testApi: TestApi;
beforeAll(async () => {
  testApi = await createTestApi();
});
afterAll(async () => testApi?.close());

describe('deploy/kustomize/base', () => {
  it('lists only files that exist, and every resource parses with a kind and a name', () => {
    expect(kustomization.resources.length).toBeGreaterThan(0);
    for (const r of resources) {
      expect(r.apiVersion, JSON.stringify(r.metadata)).toBeTruthy();
      expect(r.metadata.name).toMatch(/^[a-z0-9-]+$/);
    }
    expect(resources.map((r) => r.kind)).toEqual(expect.arrayContaining(['Deployment', 'Job', 'Service', 'PodDisruptionBudget', 'ConfigMap']));
  });

  it('runs the API with 2 replicas, rolling without dropping below them, and the workers apart', () => {
    expect(api.spec!.replicas).toBe(2);
    expect(api.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    expect(container(api).args).toEqual(['api']);
    expect(container(worker).args).toEqual(['worker']);
    expect(worker.spec!.replicas).toBeGreaterThanOrEqual(1);
  });

  it('probes readiness on /readyz and liveness on /healthz, routes the API serves without a key', async () => {
    const c = container(api);
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    const portName = c.readinessProbe!.httpGet!.port;
    const port = c.ports!.find((p) => p.name === portName)!.containerPort;
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'PORT', value: String(port) }, { name: 'HOST', value: '0.0.0.0' }]));
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      if (!probe) continue;
      const res = await testApi.app.inject({ method: 'GET', url: probe.httpGet!.path });
      expect(res.statusCode, probe.httpGet!.path).toBe(200);
    }
    // The Service reaches the same named port.
    const service = find('Service', 'trellis-api');
    expect(service.spec!.ports![0]!.targetPort).toBe(portName);
    expect((service.spec as { selector?: Record<string, string> }).selector).toEqual(api.spec!.selector!.matchLabels);
  });

  it('runs every pod as the image\'s non-root user, without privilege escalation, read-only, with resource requests', () => {
    expect(podSpecs.length).toBeGreaterThanOrEqual(3);
    for (const [name, spec] of podSpecs) {
      expect(spec.securityContext?.runAsNonRoot, name).toBe(true);
      expect(spec.securityContext?.runAsUser, name).toBe(IMAGE_UID);
      for (const c of spec.containers) {
        expect(c.securityContext?.allowPrivilegeEscalation, `${name} ${c.name}`).toBe(false);
        expect(c.securityContext?.readOnlyRootFilesystem, `${name} ${c.name}`).toBe(true);
        expect(c.securityContext?.capabilities?.drop, `${name} ${c.name}`).toContain('ALL');
        expect(c.resources?.requests?.cpu, `${name} ${c.name}`).toBeTruthy();
        expect(c.resources?.requests?.memory, `${name} ${c.name}`).toBeTruthy();
        expect(c.resources?.limits?.memory, `${name} ${c.name}`).toBeTruthy();
      }
    }
    const dockerfile = fs.readFileSync(path.join(__dirname, '..', '..', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('migrates in a Job from the same image and configuration, with migrate-on-start off in the processes', () => {
    expect(container(migrate).args).toEqual(['migrate']);
    expect(container(migrate).image).toBe(container(api).image);
    expect(container(worker).image).toBe(container(api).image);
    expect(kustomization.images?.map((i) => i.name)).toContain(container(api).image);
    expect(migrate.spec!.template!.spec.restartPolicy).toBe('Never');
    for (const r of [api, worker, migrate]) expect(container(r).envFrom, r.metadata.name).toEqual(container(api).envFrom);
    const config = find('ConfigMap', container(api).envFrom!.find((e) => e.configMapRef)!.configMapRef!.name);
    expect(config.data!.TRELLIS_MIGRATE_ON_START).toBe('false');
    // Every variable the ConfigMap sets is a setting, with a value the settings table accepts.
    for (const [name, value] of Object.entries(config.data!)) {
      const setting = (SETTINGS as Record<string, { parse(text: string): unknown }>)[name];
      expect(setting, `${name} is not a Trellis setting`).toBeDefined();
      expect(() => setting!.parse(value), name).not.toThrow();
    }
  });

  it('gives workers longer to stop than their shutdown grace', () => {
    const grace = (SETTINGS.TRELLIS_WORKER_SHUTDOWN_GRACE.parse(find('ConfigMap', 'trellis-config').data!.TRELLIS_WORKER_SHUTDOWN_GRACE!) as number) / 1000;
    expect(worker.spec!.template!.spec.terminationGracePeriodSeconds).toBeGreaterThan(grace);
  });

  it('has a PodDisruptionBudget selecting each Deployment\'s pods that leaves one API pod up', () => {
    const budgets = resources.filter((r) => r.kind === 'PodDisruptionBudget');
    for (const deployment of [api, worker]) {
      const labels = deployment.spec!.template!.metadata!.labels!;
      const budget = budgets.find((b) => Object.entries(b.spec!.selector!.matchLabels!).every(([k, v]) => labels[k] === v));
      expect(budget, deployment.metadata.name).toBeDefined();
      expect(Object.entries(deployment.spec!.selector!.matchLabels!).every(([k, v]) => labels[k] === v)).toBe(true);
    }
    const apiBudget = budgets.find((b) => b.spec!.selector!.matchLabels!['app.kubernetes.io/name'] === 'trellis-api')!;
    expect(apiBudget.spec!.minAvailable).toBeGreaterThanOrEqual(1);
    expect(apiBudget.spec!.minAvailable).toBeLessThan(api.spec!.replicas!);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
  if (!kubectl) console.log('!!! SKIPPING `kubectl kustomize` of the base: kubectl is not installed');

  it.skipIf(!kubectl)('builds with `kubectl kustomize`, every container on the one image', () => {
    const result = spawnSync('kubectl', ['kustomize', BASE], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    const built = parseAllDocuments(result.stdout).map((d) => d.toJS() as Resource);
    expect(built.length).toBe(resources.length);
    const images = new Set(built.flatMap((r) => r.spec?.template?.spec.containers.map((c) => c.image) ?? []));
    expect([...images]).toEqual(['trellis:latest']);
    for (const r of built) expect(r.metadata.labels?.['app.kubernetes.io/part-of'], r.metadata.name).toBe('trellis');
  });
});
