import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { ConfigError, type TrellisConfig } from './load';

/** How a Trellis process reaches Temporal: the same for the API, the workers and the CLI. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** TLS (mTLS with a client pair), from the profile or TEMPORAL_TLS_*; undefined is plain gRPC. */
  tls?: TLSConfig | boolean;
  apiKey?: string;
  /** gRPC metadata of the profile (`grpc_meta`) and TEMPORAL_GRPC_META_*. */
  metadata?: Record<string, string>;
}

/** What both the client's Connection and the worker's NativeConnection take. */
export function connectionOptions(settings: TemporalSettings): { address: string; tls?: TLSConfig | boolean; apiKey?: string; metadata?: Record<string, string> } {
  return {
    address: settings.address,
    ...(settings.tls !== undefined && { tls: settings.tls }),
    ...(settings.apiKey !== undefined && { apiKey: settings.apiKey }),
    ...(settings.metadata && Object.keys(settings.metadata).length > 0 && { metadata: settings.metadata }),
  };
}

/**
 * Temporal refused or could not be reached at start, said in one line with what the process
 * tried (address, namespace, TLS, client certificate, API key: never the secrets themselves).
 */
export class TemporalConnectError extends Error {
  constructor(settings: TemporalSettings, cause: unknown) {
    const reason = (cause instanceof Error ? cause.message : String(cause)).split('\n')[0];
    super(`cannot connect to Temporal at ${settings.address} (namespace ${settings.namespace}; ${describeTemporalSecurity(settings)}): ${reason}`, { cause });
    this.name = 'TemporalConnectError';
  }
}

/** How a connection is secured, for messages: "TLS with a client certificate, server CA from a file, API key". */
export function describeTemporalSecurity(settings: Pick<TemporalSettings, 'tls' | 'apiKey'>): string {
  const tls = settings.tls;
  const parts = [];
  if (!tls) parts.push('plain gRPC, no TLS');
  else {
    const options = typeof tls === 'object' ? tls : {};
    parts.push(options.clientCertPair ? 'TLS with a client certificate' : 'TLS without a client certificate');
    parts.push(options.serverRootCACertificate ? 'server CA given' : "the system's CAs");
    if (options.serverNameOverride) parts.push(`server name ${options.serverNameOverride}`);
  }
  parts.push(settings.apiKey ? 'an API key' : 'no API key');
  return parts.join(', ');
}

const DEFAULT_ADDRESS = '127.0.0.1:7233';

/** The Temporal CLI's default configuration file on this platform (what envconfig looks for). */
function defaultConfigFile(env: TrellisConfig['environment']): string | undefined {
  if (process.platform === 'win32') return env.APPDATA ? path.join(env.APPDATA, 'temporalio', 'temporal.toml') : undefined;
  const home = env.HOME ?? os.homedir();
  const dir = process.platform === 'darwin' ? path.join(home, 'Library', 'Application Support') : (env.XDG_CONFIG_HOME ?? path.join(home, '.config'));
  return path.join(dir, 'temporalio', 'temporal.toml');
}

/**
 * The Temporal client environment configuration (@temporalio/envconfig): the profile of
 * TEMPORAL_CONFIG_FILE (or the CLI's default file, when it exists) named by TEMPORAL_PROFILE,
 * overridden by the TEMPORAL_* variables. The variables come from the validated config (so a
 * value dev mode passes wins), the rest of the environment for HOME and TEMPORAL_GRPC_META_*.
 */
export function temporalSettings(config: TrellisConfig): TemporalSettings {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.environment)) {
    if (value !== undefined && (name.startsWith('TEMPORAL_GRPC_META_') || ['HOME', 'XDG_CONFIG_HOME', 'APPDATA'].includes(name))) env[name] = value;
  }
  const pass = (name: keyof TrellisConfig & `TEMPORAL_${string}`) => {
    const value = config[name];
    if (value !== undefined) env[name] = String(value);
  };
  for (const name of [
    'TEMPORAL_ADDRESS',
    'TEMPORAL_NAMESPACE',
    'TEMPORAL_API_KEY',
    'TEMPORAL_TLS',
    'TEMPORAL_TLS_CLIENT_CERT_PATH',
    'TEMPORAL_TLS_CLIENT_KEY_PATH',
    'TEMPORAL_TLS_CLIENT_CERT_DATA',
    'TEMPORAL_TLS_CLIENT_KEY_DATA',
    'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
    'TEMPORAL_TLS_SERVER_NAME',
    'TEMPORAL_CONFIG_FILE',
    'TEMPORAL_PROFILE',
  ] as const) {
    pass(name);
  }
  const file = config.TEMPORAL_CONFIG_FILE ?? defaultConfigFile(config.environment);
  const fileExists = file !== undefined && fs.existsSync(file);
  if (config.TEMPORAL_CONFIG_FILE && !fileExists) throw new ConfigError([`TEMPORAL_CONFIG_FILE names ${config.TEMPORAL_CONFIG_FILE}, which does not exist`]);
  if (config.TEMPORAL_PROFILE && !fileExists) throw new ConfigError([`TEMPORAL_PROFILE is ${JSON.stringify(config.TEMPORAL_PROFILE)} but there is no Temporal configuration file (set TEMPORAL_CONFIG_FILE)`]);
  for (const name of ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'] as const) {
    const value = config[name];
    if (value && !fs.existsSync(value)) throw new ConfigError([`${name} names ${value}, which does not exist`]);
  }
  if (Boolean(config.TEMPORAL_TLS_CLIENT_CERT_PATH || config.TEMPORAL_TLS_CLIENT_CERT_DATA) !== Boolean(config.TEMPORAL_TLS_CLIENT_KEY_PATH || config.TEMPORAL_TLS_CLIENT_KEY_DATA)) {
    throw new ConfigError(['TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or their _DATA forms) go together: mTLS needs both the certificate and its key']);
  }
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: env, disableFile: !fileExists, ...(fileExists && { configSource: { path: file } }) });
  } catch (err) {
    const where = config.TEMPORAL_CONFIG_FILE ? 'TEMPORAL_CONFIG_FILE' : `the Temporal configuration file ${file}`;
    throw new ConfigError([`${where}${config.TEMPORAL_PROFILE ? ` (TEMPORAL_PROFILE ${config.TEMPORAL_PROFILE})` : ''}: ${(err as Error).message}`]);
  }
  const options = loaded.connectionOptions;
  return {
    address: options.address ?? DEFAULT_ADDRESS,
    namespace: loaded.namespace ?? 'default',
    taskQueue: config.TRELLIS_TASK_QUEUE,
    ...(options.tls !== undefined && options.tls !== null && { tls: options.tls }),
    ...(options.apiKey !== undefined && { apiKey: options.apiKey as string }),
    ...(options.metadata && { metadata: options.metadata as Record<string, string> }),
  };
}
