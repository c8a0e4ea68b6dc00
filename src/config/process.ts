import type { Setting } from './kinds';
import { ConfigError, loadConfig, type TrellisConfig } from './load';
import { SETTINGS, type SettingName, type SettingValues } from './settings';
import { parsePostgresConnections, parseQuotas, type PostgresConnectionSetting } from './families';
import type { QuotaLimits } from '../domain/quotas';

/**
 * The settings of this process. A process entry (`trellis api`, `trellis worker`, `npm run dev`,
 * the CLI) loads and validates its config once and installs it here; code deep inside (the http
 * node's address policy, the postgres node's deployment connections) asks for one value.
 *
 * Without an installed config (the code embedded as a library, or in a unit test) a value is read
 * from the environment at the time of the call, parsed like at start: a test may set and unset a
 * variable between cases.
 */
let installed: TrellisConfig | undefined;

/** This process's environment: what a process entry (and the CLI) loads its config from. */
export function processEnvironment(): NodeJS.ProcessEnv {
  return process.env;
}

/** The environment a child process (initdb, postgres) inherits: passed on whole, not read as settings. */
export function childProcessEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

export function installConfig(config: TrellisConfig): TrellisConfig {
  installed = config;
  return config;
}

/** For tests that run a process entry in-process: forget what it installed. */
export function uninstallConfig(): void {
  installed = undefined;
}

/** The installed config, or the environment's now (role `library`: nothing is required). */
export function processConfig(): TrellisConfig {
  return installed ?? loadConfig(process.env, { role: 'library' });
}

/** One setting of this process (see above); a bad value throws ConfigError naming it. */
export function setting<K extends SettingName>(name: K): SettingValues[K] {
  if (installed) return installed[name];
  const definition = SETTINGS[name] as Setting<unknown>;
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return definition.default as SettingValues[K];
  try {
    return definition.parse(raw) as SettingValues[K];
  } catch (err) {
    throw new ConfigError([`${name} must be ${(err as Error).message}`]);
  }
}

/** The deployment connection `name` of the postgres node (TRELLIS_PG_<NAME>_URL / _TENANTS). */
export function postgresConnectionSetting(name: string): PostgresConnectionSetting | undefined {
  if (installed) return installed.postgresConnections.get(name.toLowerCase());
  const upper = name.toUpperCase();
  const problems: string[] = [];
  const found = parsePostgresConnections(
    { [`TRELLIS_PG_${upper}_URL`]: process.env[`TRELLIS_PG_${upper}_URL`], [`TRELLIS_PG_${upper}_TENANTS`]: process.env[`TRELLIS_PG_${upper}_TENANTS`] },
    problems,
  ).get(name.toLowerCase());
  if (problems.length > 0) throw new ConfigError(problems);
  return found;
}

let libraryQuotas: QuotaLimits | undefined;

/** The deployment quotas (TRELLIS_QUOTA_*); without an installed config read once from the environment. */
export function quotaSettings(): QuotaLimits {
  if (installed) return installed.quotas;
  if (!libraryQuotas) {
    const problems: string[] = [];
    const quotas = parseQuotas(process.env, problems);
    if (problems.length > 0) throw new ConfigError(problems);
    libraryQuotas = quotas;
  }
  return libraryQuotas;
}
