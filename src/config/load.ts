import { SettingRejected, type Role, type Setting } from './kinds';
import { SETTINGS, type SettingName, type SettingValues } from './settings';
import { isFamilyVariable, parsePostgresConnections, parseQuotas, type PostgresConnectionSetting } from './families';
import { QUOTA_NAMES, quotaEnvName, type QuotaLimits, type QuotaName } from '../domain/quotas';

export type Environment = Readonly<Record<string, string | undefined>>;

/** Where a value came from, for `trellis config`. */
export type SettingSource = 'environment' | 'default' | 'unset' | 'process';

/** One process's settings, validated: every value typed, defaults filled in. */
export interface TrellisConfig extends SettingValues {
  readonly role: Role;
  readonly quotas: QuotaLimits;
  /** Which quotas TRELLIS_QUOTA_<NAME> sets (the rest are the defaults), for `trellis tenant quota`. */
  readonly quotaSources: Readonly<Record<QuotaName, 'environment' | 'default'>>;
  /** TRELLIS_PG_<NAME>_URL / _TENANTS by lower-case connection name. */
  readonly postgresConnections: ReadonlyMap<string, PostgresConnectionSetting>;
  readonly sources: Readonly<Record<SettingName, SettingSource>>;
  /** TRELLIS_* variables that are no setting (a typo, or one of a newer release): warned about at start. */
  readonly unknown: readonly string[];
  /** The environment it was read from: the Temporal client configuration reads its own variables (HOME, XDG_CONFIG_HOME, TEMPORAL_GRPC_META_*). */
  readonly environment: Environment;
}

/**
 * A setting that stops the start, said in one line naming every variable at fault, e.g.
 * `DATABASE_POOL_MAX must be an integer from 1 to 1000, not "ten"`.
 */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} settings are wrong: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const NAMES = Object.keys(SETTINGS) as SettingName[];
const KNOWN = new Set<string>(NAMES);
/** TRELLIS_* variables read by the test suite and benches only, not by any process. */
const TOOLING = /^TRELLIS_(RECORD_|UPDATE_|SCALE_|BENCH|TEST)/;

const quoted = (text: string, secret: boolean | undefined) => (secret ? '(value hidden)' : JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text));

/** Parses one variable: undefined when unset or empty (an empty variable is unset, as a shell's `X=` means). */
function parseOne<T>(name: string, setting: Setting<T>, raw: string | undefined, problems: string[]): T | undefined {
  if (raw === undefined || raw.trim() === '') return setting.default;
  try {
    return setting.parse(raw);
  } catch (err) {
    if (!(err instanceof SettingRejected)) throw err;
    problems.push(`${name} must be ${err.message}, not ${quoted(raw, setting.secret)}`);
    return setting.default;
  }
}

/**
 * Reads and validates every setting of a process started as `role`; throws ConfigError naming
 * every bad or missing variable. `given` replaces values (dev mode passes its own Postgres URL,
 * loopback permission, ... as values rather than writing variables others read back).
 */
export function loadConfig(env: Environment, options: { role: Role; given?: Partial<SettingValues> } = { role: 'library' }): TrellisConfig {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const name of NAMES) {
    const setting = SETTINGS[name] as Setting<unknown>;
    const raw = env[name];
    values[name] = parseOne(name, setting, raw, problems);
    sources[name] = raw !== undefined && raw.trim() !== '' ? 'environment' : values[name] === undefined ? 'unset' : 'default';
  }
  for (const [name, value] of Object.entries(options.given ?? {})) {
    if (value === undefined) continue;
    values[name] = value;
    sources[name] = 'process';
  }
  for (const name of NAMES) {
    if (values[name] === undefined && SETTINGS[name] && (SETTINGS[name] as Setting<unknown>).requiredBy?.includes(options.role)) {
      problems.push(`${name} is required by trellis ${options.role} (${(SETTINGS[name] as Setting<unknown>).description.split('. ')[0]})`);
    }
  }
  const quotas = parseQuotas(env, problems);
  const quotaSources = Object.fromEntries(QUOTA_NAMES.map((q) => [q, env[quotaEnvName(q)] ? 'environment' : 'default'])) as TrellisConfig['quotaSources'];
  const postgresConnections = parsePostgresConnections(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const unknown = Object.keys(env)
    .filter((name) => name.startsWith('TRELLIS_') && !KNOWN.has(name) && !isFamilyVariable(name) && !TOOLING.test(name))
    .sort();
  return Object.freeze({
    ...(values as unknown as SettingValues),
    role: options.role,
    quotas,
    quotaSources,
    postgresConnections,
    sources: sources as TrellisConfig['sources'],
    unknown,
    environment: env,
  });
}

/** The same settings with some values replaced (dev mode, once it has started its Postgres). */
export function withValues(config: TrellisConfig, given: Partial<SettingValues>): TrellisConfig {
  const sources = { ...config.sources };
  for (const [name, value] of Object.entries(given)) if (value !== undefined) sources[name as SettingName] = 'process';
  return Object.freeze({ ...config, ...given, sources });
}

/** What `trellis config` prints: every setting's effective value, secrets masked. */
export function describeConfig(config: TrellisConfig): string[] {
  const width = Math.max(...NAMES.map((n) => n.length));
  const lines = NAMES.map((name) => {
    const setting = SETTINGS[name] as Setting<unknown>;
    const value = config[name];
    const shown = value === undefined ? (setting.defaultText ? `(${setting.defaultText})` : '(unset)') : setting.secret ? maskSecret(value) : formatValue(value);
    return `${name.padEnd(width)}  ${shown}${config.sources[name] === 'environment' ? '' : config.sources[name] === 'default' ? '  [default]' : ''}`;
  });
  for (const [name, connection] of config.postgresConnections) {
    const upper = name.toUpperCase();
    if (connection.url !== undefined) lines.push(`${`TRELLIS_PG_${upper}_URL`.padEnd(width)}  ${maskSecret(connection.url)}`);
    if (connection.tenants !== undefined) lines.push(`${`TRELLIS_PG_${upper}_TENANTS`.padEnd(width)}  ${connection.tenants.join(',') || '(none)'}`);
  }
  for (const [quota, limit] of Object.entries(config.quotas)) lines.push(`${`TRELLIS_QUOTA_${quota}`.padEnd(width)}  ${limit}`);
  for (const name of config.unknown) lines.push(`${name.padEnd(width)}  (not a Trellis setting: ignored; a typo?)`);
  return lines;
}

function formatValue(value: unknown): string {
  return Array.isArray(value) ? value.join(',') || '(none)' : String(value);
}

/** A URL keeps its scheme, host and path (user and password masked); anything else shows only that it is set. */
export function maskSecret(value: unknown): string {
  const text = String(value);
  try {
    const parsed = new URL(text);
    if (parsed.host) {
      if (parsed.password) parsed.password = '***';
      if (parsed.username) parsed.username = '***';
      parsed.search = parsed.search ? '?***' : '';
      return parsed.toString();
    }
  } catch {
    // not a URL
  }
  return `*** (set, ${text.length} characters)`;
}
