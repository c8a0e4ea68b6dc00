import dns from 'node:dns';
import { ApplicationFailure } from '@temporalio/common';
import net from 'node:net';
import type pg from 'pg';
import { classifyAddress, privateAddressesAllowed } from './ssrf';

/**
 * The address policy for a database URL a tenant supplies (secret `PG_<NAME>_URL`). The URL is
 * hostile: it is parsed here, never by pg (whose parser reads certificate files named in the
 * query, follows `host=/socket/path` and fills gaps from the worker's own PG* variables and
 * ~/.pgpass), every address its host resolves to is classified like the http node's, and the
 * client config pg gets names the checked IP, so a second DNS answer cannot move the connection.
 */

export class TenantDatabaseUrlRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TenantDatabaseUrlRefused';
  }
}

export type TenantSslMode = 'disable' | 'verify' | 'no-verify';

/** What a tenant database URL may say, checked and decoded; `hostname` is not yet resolved. */
export interface TenantDatabaseUrl {
  hostname: string;
  port: number;
  user: string;
  password: string;
  database: string;
  ssl: TenantSslMode;
  applicationName?: string;
  connectTimeoutMs?: number;
}

/** A tenant database URL whose host resolved to `address`, every answer allowed by the policy. */
export interface PinnedTenantDatabase extends TenantDatabaseUrl {
  address: string;
}

/** The longest a tenant database may take to accept a connection. */
export const TENANT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The only query parameters a tenant URL may carry. Everything else pg or libpq understand is
 * refused: file-valued ones (sslrootcert, sslcert, sslkey, sslcrl, passfile, service) are a file
 * oracle on the worker, `host`/`hostaddr`/`port` override the checked address, `options` and
 * `replication` change the session the server starts.
 */
const ALLOWED_PARAMS = new Set(['sslmode', 'ssl', 'application_name', 'connect_timeout']);

/**
 * pg's own reading of sslmode (without libpq compatibility): every mode that uses TLS verifies
 * the certificate against the host name, except the explicit `no-verify`.
 */
const SSL_MODES: Record<string, TenantSslMode> = {
  disable: 'disable',
  prefer: 'verify',
  require: 'verify',
  'verify-ca': 'verify',
  'verify-full': 'verify',
  'no-verify': 'no-verify',
};
const SSL_FLAGS: Record<string, TenantSslMode> = { true: 'verify', '1': 'verify', false: 'disable', '0': 'disable' };

/** A DNS name: labels of letters, digits, hyphens and underscores. */
const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Parses and checks a tenant database URL; throws TenantDatabaseUrlRefused saying what is wrong with it. */
export function parseTenantDatabaseUrl(text: string): TenantDatabaseUrl {
  // The URL parser silently drops tabs and newlines: look before it does.
  if (CONTROL.test(text)) refuse('the URL contains control characters');
  if (!/^postgres(ql)?:\/\//i.test(text)) refuse('the URL must start with postgres:// or postgresql://');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    refuse('the URL does not parse');
  }
  if (url.hash !== '') refuse('the URL may not have a fragment');
  const hostname = hostOf(url);
  const port = url.port === '' ? 5432 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) refuse('the port must be between 1 and 65535');
  const user = decoded(url.username, 'user name');
  if (user === '') refuse('the URL must name a user (user@host)');
  const password = decoded(url.password, 'password');
  const path = decoded(url.pathname.replace(/^\//, ''), 'database name');
  const database = path === '' ? user : path;
  const parsed: TenantDatabaseUrl = { hostname, port, user, password, database, ssl: 'disable' };
  const params = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!ALLOWED_PARAMS.has(name)) {
      refuse(`query parameter "${safeName(name)}" is not allowed in a tenant database URL (allowed: ${[...ALLOWED_PARAMS].join(', ')})`);
    }
    if (params.has(name)) refuse(`query parameter "${name}" is given twice`);
    if (CONTROL.test(value)) refuse(`query parameter "${name}" contains control characters`);
    params.set(name, value);
  }
  // sslmode, when both are given, is the more specific of the two and wins.
  for (const name of ['ssl', 'sslmode', 'application_name', 'connect_timeout']) {
    const value = params.get(name);
    if (value !== undefined) applyParam(parsed, name, value);
  }
  return parsed;
}

function applyParam(parsed: TenantDatabaseUrl, name: string, value: string): void {
  switch (name) {
    case 'sslmode': {
      const mode = SSL_MODES[value];
      if (mode === undefined) refuse(`sslmode must be one of ${Object.keys(SSL_MODES).join(', ')}`);
      parsed.ssl = mode;
      return;
    }
    case 'ssl': {
      const mode = SSL_FLAGS[value];
      if (mode === undefined) refuse('ssl must be true, false, 1 or 0');
      parsed.ssl = mode;
      return;
    }
    case 'application_name':
      if (value.length > 63) refuse('application_name is longer than 63 characters');
      parsed.applicationName = value;
      return;
    case 'connect_timeout': {
      if (!/^\d{1,5}$/.test(value)) refuse('connect_timeout must be a whole number of seconds');
      const seconds = Number(value);
      // libpq reads 0 as "wait forever"; a tenant gets the deployment's ceiling instead.
      parsed.connectTimeoutMs = seconds === 0 ? TENANT_CONNECT_TIMEOUT_MS : Math.min(seconds * 1000, TENANT_CONNECT_TIMEOUT_MS);
      return;
    }
  }
}

/** One host only, written out: no socket path, no host list, no empty host, no percent tricks. */
function hostOf(url: URL): string {
  const raw = url.hostname;
  if (raw === '') refuse('the URL must name a host (a socket path is not allowed)');
  const host = decoded(raw, 'host');
  if (host.startsWith('/') || host.includes('/')) refuse('a socket path is not allowed as the host');
  if (host.includes(',')) refuse('only one host is allowed');
  const literal = host.replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(literal) !== 0) return literal;
  if (!DNS_NAME.test(host)) refuse('the host is neither an IP address nor a DNS name');
  return host.replace(/\.$/, '').toLowerCase();
}

function decoded(part: string, what: string): string {
  let value: string;
  try {
    value = decodeURIComponent(part);
  } catch {
    refuse(`the ${what} is not valid percent-encoding`);
  }
  if (CONTROL.test(value)) refuse(`the ${what} contains control characters`);
  return value;
}

/** A parameter name is quoted back only if it is plain, so the message cannot carry anything. */
function safeName(name: string): string {
  return /^[A-Za-z0-9_]{1,40}$/.test(name) ? name : '(unprintable)';
}

function refuse(reason: string): never {
  throw new TenantDatabaseUrlRefused(reason);
}

export type AddressLookup = (hostname: string) => Promise<string[]>;

const systemLookup: AddressLookup = async (hostname) => (await dns.promises.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Resolves the host and checks every address it resolves to; one refused address refuses the
 * URL (a name that answers with a public and a private address is not half allowed). The first
 * address is the one the connection is pinned to.
 */
export async function pinTenantDatabase(parsed: TenantDatabaseUrl, lookup: AddressLookup = systemLookup): Promise<PinnedTenantDatabase> {
  if (net.isIP(parsed.hostname) !== 0) {
    const reason = privateAddressesAllowed() ? undefined : classifyAddress(parsed.hostname);
    if (reason !== undefined) refuse(`the host is a ${reason} address; tenant database URLs must name public addresses`);
    return { ...parsed, address: parsed.hostname };
  }
  let addresses: string[] = [];
  try {
    addresses = await lookup(parsed.hostname);
  } catch {
    // Answered below like a refused address.
  }
  // A name that does not resolve and one that resolves to a refused address get one answer, and
  // neither names the address: the difference would map the deployment's internal DNS.
  const refused = addresses.length === 0 || (!privateAddressesAllowed() && addresses.some((a) => classifyAddress(a) !== undefined));
  if (refused) refuse(`the host "${parsed.hostname}" does not resolve to public addresses only; tenant database URLs must name public addresses`);
  return { ...parsed, address: addresses[0]! };
}

/** Parses, resolves, checks and pins; the one entry point for tenant URLs. */
export async function guardTenantDatabaseUrl(text: string, lookup?: AddressLookup): Promise<PinnedTenantDatabase> {
  return pinTenantDatabase(parseTenantDatabaseUrl(text), lookup);
}

/**
 * The pg client config for a pinned tenant database: every field pg would otherwise fill from
 * the worker's environment (PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ~/.pgpass) is set, and the
 * password is a function, which pg calls instead of consulting PGPASSWORD or ~/.pgpass.
 */
export function pinnedClientConfig(pinned: PinnedTenantDatabase): pg.ClientConfig {
  const password = pinned.password;
  const ssl =
    pinned.ssl === 'disable'
      ? false
      : {
          rejectUnauthorized: pinned.ssl === 'verify',
          // The certificate must name the host the tenant wrote, not the IP it was pinned to;
          // SNI may not carry an IP literal (RFC 6066).
          ...(net.isIP(pinned.hostname) === 0 && { servername: pinned.hostname }),
        };
  return {
    host: pinned.address,
    port: pinned.port,
    user: pinned.user,
    database: pinned.database,
    password: () => password,
    ssl,
    ...(pinned.applicationName !== undefined && { application_name: pinned.applicationName }),
    connectionTimeoutMillis: pinned.connectTimeoutMs ?? TENANT_CONNECT_TIMEOUT_MS,
  };
}

/**
 * Every refusal and every connection failure of a tenant's own URL is this one type. A policy
 * refusal says what is wrong with the URL (the tenant wrote it); a connection failure says
 * nothing more than that it failed: refused, timed out, TLS, authentication and unknown
 * database would otherwise tell a tenant what listens where.
 */
export const TENANT_CONNECTION_REFUSED = 'PostgresConnectionRefused';

export function tenantUrlRefused(connection: string, secretName: string, reason: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: TENANT_CONNECTION_REFUSED,
    message: `postgres connection "${connection}": the database URL in tenant secret ${secretName} is refused: ${reason}`,
    nonRetryable: true,
    details: [{ connection, secret: secretName }],
  });
}

export function tenantConnectFailed(connection: string, secretName: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: TENANT_CONNECTION_REFUSED,
    message:
      `postgres connection "${connection}": could not connect to the database in tenant secret ${secretName} ` +
      '(the cause is not reported for a tenant URL: check the address, port, TLS, credentials and database name)',
    nonRetryable: false,
    details: [{ connection, secret: secretName }],
  });
}

/**
 * Waits until a failed connection attempt to a tenant URL has taken the whole connect timeout.
 * A closed port refuses at once and a silent one times out: without this, the time a failure
 * takes would tell a tenant what listens where, although the error says nothing. The wait ends
 * early only when the attempt is cancelled, and costs the tenant's own node, nobody else's.
 */
export async function untilConnectTimeout(startedAt: number, config: pg.ClientConfig, signal: AbortSignal): Promise<void> {
  const remaining = startedAt + (config.connectionTimeoutMillis ?? TENANT_CONNECT_TIMEOUT_MS) - Date.now();
  if (remaining <= 0 || signal.aborted) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, remaining);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
