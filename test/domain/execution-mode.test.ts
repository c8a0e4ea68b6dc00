import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { executionModeOf, resolveLocalActivityPolicy, runsLocalActivitiesBesideMirror } from '../../src/domain/execution-mode';
import { BUILTIN_NODE_TYPES, catalogOf } from '../../src/domain/node-types';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, resolveActivityPolicy } from '../../src/domain/policy';
import { validateDefinition } from '../../src/domain/validate';

const catalog = catalogOf([
  ...BUILTIN_NODE_TYPES,
  { type: 'http', execution: 'activity', configSchema: Type.Object({ url: Type.String() }, { additionalProperties: false }) },
]);
const http = { type: 'http', config: { url: 'https://example.com' } };
const errors = (definition: unknown) => validateDefinition(definition, { catalog }).errors;

describe('mode "local" validation', () => {
  it('accepts local activity nodes, per node and through defaults', () => {
    expect(errors({ name: 'x', nodes: [{ id: 'a', ...http, mode: 'local', localRetryThreshold: '5s' }] })).toEqual([]);
    expect(errors({ name: 'x', defaults: { mode: 'local', timeout: { startToClose: '10s' } }, nodes: [{ id: 'a', ...http }, { id: 'b', type: 'noop' }] })).toEqual([]);
  });

  it('rejects mode on types that do not run as activities', () => {
    expect(errors({ name: 'x', nodes: [{ id: 'a', type: 'delay', mode: 'local', config: { duration: '1s' } }] })).toEqual([
      { path: '/nodes/0/mode', message: '"mode" applies only to activity node types (http, postgres, custom types); "delay" runs as a timer' },
    ]);
    expect(errors({ name: 'x', nodes: [{ id: 'a', type: 'transform', localRetryThreshold: '1s', config: { expression: '1' } }] })[0]!.message).toMatch(
      /"localRetryThreshold" applies only to activity node types.*runs in the workflow/,
    );
  });

  it('rejects a heartbeat and a startToClose over 1m on a local node', () => {
    expect(errors({ name: 'x', nodes: [{ id: 'a', ...http, mode: 'local', timeout: { heartbeat: '5s', startToClose: '2m' } }] }).map((e) => e.path)).toEqual([
      '/nodes/0/timeout/heartbeat',
      '/nodes/0/timeout/startToClose',
    ]);
    // A too-long startToClose from the defaults is reported on the node that runs locally.
    expect(errors({ name: 'x', defaults: { timeout: { startToClose: '5m' } }, nodes: [{ id: 'a', ...http, mode: 'local' }] })).toEqual([
      { path: '/nodes/0', message: 'a node in mode "local" needs timeout.startToClose between 1ms and 1m ("5m" from defaults): a local activity holds the workflow task while it runs' },
    ]);
    // A node that opts out of the default local mode keeps its long timeout.
    expect(errors({ name: 'x', defaults: { mode: 'local', timeout: { startToClose: '30s' } }, nodes: [{ id: 'a', ...http, mode: 'regular', timeout: { startToClose: '1h', heartbeat: '10s' } }] })).toEqual([]);
  });

  it('rejects localRetryThreshold without local mode, bad modes and bad durations', () => {
    expect(errors({ name: 'x', nodes: [{ id: 'a', ...http, localRetryThreshold: '1s' }] })).toEqual([
      { path: '/nodes/0/localRetryThreshold', message: '"localRetryThreshold" applies only to nodes in mode "local"' },
    ]);
    expect(errors({ name: 'x', nodes: [{ id: 'a', ...http, mode: 'fast' }] }).map((e) => e.path)).toContain('/nodes/0/mode');
    expect(errors({ name: 'x', defaults: { localRetryThreshold: 'soon' }, nodes: [{ id: 'a', ...http }] }).map((e) => e.path)).toContain('/defaults/localRetryThreshold');
  });
});

describe('activity options by mode', () => {
  it('gives regular nodes the default heartbeat timeout, overridable', () => {
    expect(resolveActivityPolicy({}).heartbeatTimeout).toBe(DEFAULT_HEARTBEAT_TIMEOUT_MS);
    expect(resolveActivityPolicy({}, { timeout: { heartbeat: '20s' } }).heartbeatTimeout).toBe(20_000);
    expect(resolveActivityPolicy({ timeout: { heartbeat: '2s' } }, { timeout: { heartbeat: '20s' } }).heartbeatTimeout).toBe(2_000);
  });

  it('gives local nodes no heartbeat, a bounded startToClose and the threshold', () => {
    const defaults: WorkflowDefinition['defaults'] = { mode: 'local', localRetryThreshold: '10s', retry: { maximumAttempts: 4 } };
    expect(executionModeOf({}, defaults)).toBe('local');
    expect(executionModeOf({ mode: 'regular' }, defaults)).toBe('regular');
    const policy = resolveLocalActivityPolicy({}, defaults);
    expect(policy).toMatchObject({ startToCloseTimeout: 30_000, localRetryThreshold: 10_000, retry: { maximumAttempts: 4 } });
    expect(policy).not.toHaveProperty('heartbeatTimeout');
    expect(resolveLocalActivityPolicy({ timeout: { startToClose: '2s' }, localRetryThreshold: 500 }, defaults)).toMatchObject({ startToCloseTimeout: 2_000, localRetryThreshold: 500 });
  });
});

describe('runsLocalActivitiesBesideMirror (which runs keep regular mirror writes)', () => {
  const http = (extra: Record<string, unknown> = {}) => ({ id: 'h', type: 'http', config: { url: 'http://127.0.0.1/' }, ...extra });
  const mapOf = (leaf: Record<string, unknown>) => ({ id: 'm', type: 'map', config: { items: '[1]', body: { nodes: [leaf], edges: [] } } });
  const def = (nodes: unknown[], extra: Record<string, unknown> = {}) => ({ nodes, ...extra }) as unknown as WorkflowDefinition;

  it('is false for plain activity nodes, even inside bodies', () => {
    expect(runsLocalActivitiesBesideMirror(def([http(), mapOf(http())]))).toBe(false);
  });

  it('is true for node limits, run-level concurrency and local nodes, bodies included', () => {
    expect(runsLocalActivitiesBesideMirror(def([http({ concurrency: { key: 'k', limit: 1 } })]))).toBe(true);
    expect(runsLocalActivitiesBesideMirror(def([mapOf(http({ rateLimit: { key: 'k', limit: 1, per: '1s' } }))]))).toBe(true);
    expect(runsLocalActivitiesBesideMirror(def([http()], { concurrency: { key: 'k', limit: 1 } }))).toBe(true);
    expect(runsLocalActivitiesBesideMirror(def([mapOf(http({ mode: 'local' }))]))).toBe(true);
    expect(runsLocalActivitiesBesideMirror(def([mapOf(http())], { defaults: { mode: 'local' } }))).toBe(true);
  });
});
