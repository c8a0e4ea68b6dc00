import { parseArgs } from 'node:util';
import { createDb } from '../db/client';
import { migrate } from '../db/migrator';
import { describeConfig, loadConfig, processEnvironment, type Environment, type Role, type TrellisConfig } from '../config';
import { databaseUrls } from '../db/startup';
import { createApiKey, listApiKeys, revokeApiKey, setTenantRateLimit } from '../services/api-keys';
import { SECRET_USAGE, runSecret } from './secret-command';
import { QUOTA_USAGE, runTenantQuota } from './quota-command';
import { CODEC_USAGE, runCodec } from './codec-command';
import { TEMPORAL_USAGE, runTemporal } from './temporal-command';

const USAGE = `Usage: trellis <command> [options]

Commands:
  api [--plugin FILE|PACKAGE]...          start the REST API (HOST, PORT, DATABASE_URL, TEMPORAL_*)
  worker [--plugin FILE|PACKAGE]...       start a Temporal worker (TEMPORAL_*, TRELLIS_TASK_QUEUE, DATABASE_URL)
                                          --plugin (repeatable) and TRELLIS_PLUGINS (comma-separated) load
                                          custom node types; give the API and the workers the same ones
  migrate                                 apply pending database migrations (DATABASE_DIRECT_URL, else DATABASE_URL);
                                          the deploy step when TRELLIS_MIGRATE_ON_START=false
  config [--role api|worker|migrate]      print the effective settings (secrets masked); with --role, also
                                          check what that process requires (exit 1 naming each problem)
  apikey create --tenant NAME [--name KEYNAME]
                                          create an API key for a tenant (created if new); the key is the last line
  apikey list --tenant NAME               list a tenant's keys (ids, names, dates; never the keys)
  apikey revoke --tenant NAME --id KEYID  revoke a key (every API process refuses it at once)
  tenant rate-limit --tenant NAME (--per-minute N | --default)
                                          set a tenant's requests per key and minute
${QUOTA_USAGE}
${SECRET_USAGE}
${CODEC_USAGE}
${TEMPORAL_USAGE}
  help                                    show this help
`;

/** A mistake in how the CLI was called or configured: exit code 2, with the usage when it helps. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}

/** What `trellis api` and `trellis worker` pass to their process entry. */
export interface EntryOptions {
  /** `--plugin` values, in order (TRELLIS_PLUGINS is read by the entry itself). */
  plugins?: string[];
}

interface EntryModule {
  main?: (options?: EntryOptions & { config?: TrellisConfig }) => Promise<void>;
}

/**
 * Entry points are loaded on demand: `trellis migrate` should not pay for (or fail on) the
 * Temporal SDK, and each entry keeps its own process wiring (signals, shutdown).
 */
function loadEntry(specifier: string): EntryModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- resolved at run time, relative to this file (src or dist)
  return require(specifier) as EntryModule;
}

async function startEntry(specifier: string, what: string, options: EntryOptions & { config?: TrellisConfig } = {}): Promise<void> {
  let entry: EntryModule;
  try {
    entry = loadEntry(specifier);
  } catch (err) {
    const missing = (err as { code?: string }).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(specifier);
    if (missing) throw new Error(`this build has no ${what} entry (${specifier} relative to src/cli)`);
    throw err;
  }
  if (typeof entry.main !== 'function') throw new Error(`${what} entry (${specifier}) does not export main()`);
  await entry.main(options);
}

/** The options `api` and `worker` take: `--plugin` node type modules, repeatable. */
function entryOptions(args: string[]): EntryOptions {
  const { values } = parseArgs({ args, options: { plugin: { type: 'string', multiple: true } }, strict: true });
  return { plugins: values.plugin ?? [] };
}

/** The settings of one CLI command, validated (a bad value stops it, naming the variable). */
function cliConfig(env: Environment, role: Role = 'cli'): TrellisConfig {
  return loadConfig(env, { role });
}

function databaseUrl(config: TrellisConfig, which: 'url' | 'directUrl' = 'url'): string {
  if (!config.DATABASE_URL) {
    throw new UsageError('DATABASE_URL is not set; it must point at the Trellis Postgres database (postgres://user:pass@host:5432/db)', false);
  }
  return databaseUrls(config)[which];
}

/** `trellis config`: every setting's effective value and where it came from; secrets masked. */
function runConfig(args: string[], env: Environment, out: (line: string) => void): void {
  const { values } = parseArgs({ args, options: { role: { type: 'string' } }, strict: true });
  const role = values.role;
  if (role !== undefined && !['api', 'worker', 'migrate'].includes(role)) throw new UsageError('--role takes api, worker or migrate');
  const config = loadConfig(env, { role: (role as Role | undefined) ?? 'cli' });
  for (const line of describeConfig(config)) out(line);
}

async function runMigrate(config: TrellisConfig, out: (line: string) => void): Promise<void> {
  // The advisory lock is a session's: through DATABASE_DIRECT_URL when DATABASE_URL is a pooler.
  const result = await migrate(databaseUrl(config, 'directUrl'));
  for (const name of result.applied) out(`applied ${name}`);
  if (result.applied.length === 0) {
    out(`nothing to apply: the database is up to date (${result.alreadyApplied.length} migration(s) already applied)`);
  } else {
    out(`${result.applied.length} migration(s) applied, ${result.alreadyApplied.length} already applied`);
  }
}

async function runApiKey(args: string[], config: TrellisConfig, out: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { tenant: { type: 'string' }, name: { type: 'string' }, id: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const action = positionals[0];
  if (!['create', 'list', 'revoke'].includes(action ?? '') || positionals.length > 1) {
    throw new UsageError('expected: trellis apikey create|list|revoke --tenant NAME');
  }
  if (!values.tenant) throw new UsageError('--tenant NAME is required');
  if (action === 'revoke' && !values.id) throw new UsageError('--id KEYID is required (see trellis apikey list)');
  const db = createDb(databaseUrl(config), { max: 1 });
  try {
    if (action === 'list') {
      const keys = await listApiKeys(db, values.tenant);
      if (!keys) throw new UsageError(`no tenant named "${values.tenant}"`, false);
      for (const k of keys) out(`${k.id}  ${k.name ?? '-'}  created ${k.createdAt}${k.revokedAt ? `  revoked ${k.revokedAt}` : ''}`);
      return;
    }
    if (action === 'revoke') {
      if (!(await revokeApiKey(db, values.tenant, values.id!))) throw new UsageError(`tenant "${values.tenant}" has no active key ${values.id}`, false);
      out(`revoked key ${values.id} of tenant "${values.tenant}"`);
      return;
    }
    const { tenantId, key } = await createApiKey(db, values.tenant, values.name);
    const named = values.name ? `, named "${values.name}"` : '';
    out(`API key for tenant "${values.tenant}" (${tenantId})${named}; it is shown once, store it now:`);
    // Last line, alone, so scripts can take it with `| tail -n 1`.
    out(key);
  } finally {
    await db.$disconnect();
  }
}

async function runTenant(args: string[], config: TrellisConfig, out: (line: string) => void): Promise<void> {
  if (args[0] === 'quota') return runTenantQuota(args, config, { out, usage: (m, show) => new UsageError(m, show), databaseUrl: () => databaseUrl(config) });
  const { values, positionals } = parseArgs({
    args,
    options: { tenant: { type: 'string' }, 'per-minute': { type: 'string' }, default: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals[0] !== 'rate-limit' || positionals.length > 1) throw new UsageError('expected: trellis tenant rate-limit --tenant NAME (--per-minute N | --default)');
  if (!values.tenant) throw new UsageError('--tenant NAME is required');
  const perMinute = values.default ? null : Number(values['per-minute']);
  if (perMinute !== null && !(Number.isInteger(perMinute) && perMinute > 0 && perMinute <= 1_000_000)) {
    throw new UsageError('--per-minute takes a whole number from 1 to 1000000 (or use --default)');
  }
  const db = createDb(databaseUrl(config), { max: 1 });
  try {
    if (!(await setTenantRateLimit(db, values.tenant, perMinute))) throw new UsageError(`no tenant named "${values.tenant}"`, false);
    out(`tenant "${values.tenant}": ${perMinute === null ? 'the deployment default' : perMinute} requests per API key and minute (reads and writes counted apart)`);
  } finally {
    await db.$disconnect();
  }
}

/**
 * Runs one CLI invocation; resolves to the process exit code (long-running commands resolve when
 * they stop). Every command but `help` reads its settings from `env` once, validated: a bad value
 * stops it with one line naming the variable, before it does anything.
 */
export async function run(argv: string[], env: Environment = processEnvironment()): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'migrate':
        await runMigrate(cliConfig(env), out);
        return 0;
      case 'apikey':
        await runApiKey(rest, cliConfig(env), out);
        return 0;
      case 'tenant':
        await runTenant(rest, cliConfig(env), out);
        return 0;
      case 'secret': {
        const config = cliConfig(env);
        await runSecret(rest, config, { out, usage: (m) => new UsageError(m), databaseUrl: () => databaseUrl(config) });
        return 0;
      }
      case 'codec':
        await runCodec(rest, cliConfig(env), { out, usage: (m) => new UsageError(m) });
        return 0;
      case 'temporal':
        await runTemporal(rest, cliConfig(env), { out, usage: (m) => new UsageError(m) });
        return 0;
      case 'config':
        runConfig(rest, env, out);
        return 0;
      case 'api':
        await startEntry('../api/server', 'API server', { ...entryOptions(rest), config: cliConfig(env, 'api') });
        return 0;
      case 'worker':
        await startEntry('../worker', 'worker', { ...entryOptions(rest), config: cliConfig(env, 'worker') });
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const usage = err instanceof UsageError && !err.showUsage ? '' : `\n${USAGE}`;
      process.stderr.write(`trellis: ${(err as Error).message}\n${usage}`);
      return 2;
    }
    const detail = err instanceof Error ? (debugging(env) ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`trellis ${command}: ${detail}\n`);
    return 1;
  }
}

/** TRELLIS_DEBUG, read even when another setting is bad (that error is what is being printed). */
function debugging(env: Environment): boolean {
  try {
    return cliConfig(env).TRELLIS_DEBUG;
  } catch {
    return false;
  }
}

/** Used by bin/trellis.js and by `tsx src/cli/trellis.ts`. */
export function cli(argv = process.argv.slice(2)): void {
  run(argv).then((code) => {
    process.exitCode = code;
    // A command that failed has nothing left to wait for; a start that failed half-way may still
    // hold a pool or a runtime open (stderr is written synchronously to pipes and files on Linux).
    if (code !== 0) process.exit(code);
  });
}

if (require.main === module) cli();
