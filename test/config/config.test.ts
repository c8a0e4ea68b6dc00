import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig, temporalSettings, withValues } from '../../src/config';
import { configurationMarkdown } from '../../src/config/docs';
import { CONFIGURATION_DOC } from '../../src/cli/config-docs';

const DB = 'postgres://trellis:s3cret@db.internal:5432/trellis';

function problemOf(env: Record<string, string>, role: 'api' | 'worker' | 'library' = 'library'): string {
  try {
    loadConfig(env, { role });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted it');
}

describe('loadConfig', () => {
  it('fills defaults and types every value', () => {
    const config = loadConfig({ DATABASE_URL: DB, DATABASE_POOL_MAX: '25', TRELLIS_WORKER_SHUTDOWN_GRACE: '2m', TRELLIS_TRUST_PROXY: '10.0.0.0/8, 192.168.1.1' }, { role: 'api' });
    expect(config.DATABASE_POOL_MAX).toBe(25);
    expect(config.PORT).toBe(3000);
    expect(config.TRELLIS_MIGRATE_ON_START).toBe(true);
    expect(config.TRELLIS_WORKER_SHUTDOWN_GRACE).toBe(120_000);
    expect(config.TRELLIS_TRUST_PROXY).toEqual(['10.0.0.0/8', '192.168.1.1']);
    expect(config.DATABASE_DIRECT_URL).toBeUndefined();
    expect(config.sources.DATABASE_POOL_MAX).toBe('environment');
    expect(config.sources.PORT).toBe('default');
    expect(loadConfig({ TRELLIS_TRUST_PROXY: '2' }).TRELLIS_TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRELLIS_TRUST_PROXY: 'true' }).TRELLIS_TRUST_PROXY).toBe(true);
  });

  it('refuses a bad value with one line naming the variable', () => {
    expect(problemOf({ DATABASE_POOL_MAX: 'ten' })).toBe('DATABASE_POOL_MAX must be an integer from 1 to 1000, not "ten"');
    expect(problemOf({ PORT: '3000.5' })).toMatch(/^PORT must be an integer/);
    expect(problemOf({ TRELLIS_MIGRATE_ON_START: 'maybe' })).toMatch(/^TRELLIS_MIGRATE_ON_START must be true or false/);
    expect(problemOf({ LOG_LEVEL: 'loud' })).toMatch(/^LOG_LEVEL must be one of trace, debug, info/);
    expect(problemOf({ TRELLIS_WORKER_SHUTDOWN_GRACE: '30' })).toMatch(/^TRELLIS_WORKER_SHUTDOWN_GRACE must be a duration/);
    expect(problemOf({ TRELLIS_TRUST_PROXY: 'proxy.internal' })).toMatch(/^TRELLIS_TRUST_PROXY must be/);
    expect(problemOf({ DATABASE_URL: 'mysql://x@y/z' })).toMatch(/^DATABASE_URL must be a URL \(postgres:/);
    expect(problemOf({ TRELLIS_QUOTA_WORKFLOWZ: '5' })).toMatch(/^TRELLIS_QUOTA_WORKFLOWZ is not a quota/);
    expect(problemOf({ TRELLIS_PG_REPORTS_URL: 'reports.internal' })).toMatch(/^TRELLIS_PG_REPORTS_URL must be a URL/);
  });

  it('never prints a secret value in an error', () => {
    const message = problemOf({ DATABASE_URL: 'not a url with password hunter2' });
    expect(message).not.toContain('hunter2');
    expect(message).toContain('DATABASE_URL');
  });

  it('names every bad variable at once', () => {
    const message = problemOf({ DATABASE_POOL_MAX: '0', PORT: 'x' });
    expect(message).toContain('DATABASE_POOL_MAX');
    expect(message).toContain('PORT');
  });

  it('requires DATABASE_URL for the API and the worker, not for dev mode', () => {
    expect(problemOf({}, 'api')).toMatch(/^DATABASE_URL is required by trellis api/);
    expect(problemOf({}, 'worker')).toMatch(/^DATABASE_URL is required by trellis worker/);
    expect(loadConfig({}, { role: 'dev' }).DATABASE_URL).toBeUndefined();
  });

  it('an empty variable is unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_POOL_MAX: ' ' }).PORT).toBe(3000);
  });

  it('lists TRELLIS_* variables that are no setting, but not the families', () => {
    const config = loadConfig({ TRELLIS_MASTERKEY: 'x', TRELLIS_QUOTA_SECRETS: '3', TRELLIS_PG_MAIN_URL: DB, TRELLIS_PG_MAIN_TENANTS: 'acme' });
    expect(config.unknown).toEqual(['TRELLIS_MASTERKEY']);
    expect(config.quotas.SECRETS).toBe(3);
    expect(config.postgresConnections.get('main')).toEqual({ url: DB, tenants: ['acme'] });
  });

  it('values given by the process win and are reported as such', () => {
    const config = withValues(loadConfig({}, { role: 'dev' }), { DATABASE_URL: DB, TRELLIS_HTTP_ALLOW_LOOPBACK: true });
    expect(config.DATABASE_URL).toBe(DB);
    expect(config.sources.DATABASE_URL).toBe('process');
  });
});

describe('describeConfig (trellis config)', () => {
  it('masks secrets: passwords in URLs, keys entirely', () => {
    const key = 'q0ZbqTgfe7m8r7ZmA0dm1ZQ2dY5iHnK7lqX8rj0pS0o=';
    const lines = describeConfig(loadConfig({ DATABASE_URL: DB, TRELLIS_MASTER_KEY: key, TEMPORAL_API_KEY: 'tk-123', TRELLIS_PG_MAIN_URL: DB }));
    const text = lines.join('\n');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain(key);
    expect(text).not.toContain('tk-123');
    expect(text).toMatch(/DATABASE_URL\s+postgres:\/\/\*\*\*:\*\*\*@db\.internal:5432\/trellis/);
    expect(text).toMatch(/TRELLIS_MASTER_KEY\s+\*\*\* \(set, 44 characters\)/);
    expect(text).toMatch(/DATABASE_POOL_MAX\s+10\s+\[default\]/);
    expect(text).toMatch(/TRELLIS_PG_MAIN_URL\s+postgres:\/\/\*\*\*:\*\*\*@db/);
  });
});

describe('temporalSettings (client environment configuration)', () => {
  it('defaults to the local dev server', () => {
    const settings = temporalSettings(loadConfig({ HOME: '/nonexistent' }));
    expect(settings).toEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'trellis' });
  });

  it('reads a profile from the TOML file, overridden by the variables; an API key turns TLS on', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-envconfig-'));
    const file = path.join(dir, 'temporal.toml');
    await fs.writeFile(file, '[profile.cloud]\naddress = "acme.tmprl.cloud:7233"\nnamespace = "acme.a1b2c"\napi_key = "from-file"\n');
    const settings = temporalSettings(loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud', TEMPORAL_NAMESPACE: 'acme.other' }));
    expect(settings).toMatchObject({ address: 'acme.tmprl.cloud:7233', namespace: 'acme.other', apiKey: 'from-file', tls: true });
    expect(() => temporalSettings(loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'nope' }))).toThrow(/TEMPORAL_PROFILE nope.*not found/);
    expect(() => temporalSettings(loadConfig({ TEMPORAL_CONFIG_FILE: path.join(dir, 'missing.toml') }))).toThrow(/^TEMPORAL_CONFIG_FILE names .* which does not exist/);
    expect(() => temporalSettings(loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: file }))).toThrow(/go together/);
    await fs.rm(dir, { recursive: true });
  });
});

describe('docs/configuration.md', () => {
  it('is the table generated from the settings (npm run config:docs)', async () => {
    expect(await fs.readFile(CONFIGURATION_DOC, 'utf8')).toBe(configurationMarkdown());
  });
});
