/**
 * Per-tenant quotas (DESIGN §8): how much of each kind of thing one tenant may hold. The
 * deployment's defaults come from here, `TRELLIS_QUOTA_<NAME>` replaces a default for every
 * tenant, and a tenant's own override (table `tenant_quotas`, `trellis tenant quota`) wins over both.
 */
export const QUOTA_NAMES = ['WORKFLOWS', 'VERSIONS', 'SCHEDULES', 'SECRETS', 'STORED_BYTES', 'STREAMS'] as const;

export type QuotaName = (typeof QUOTA_NAMES)[number];

export type QuotaLimits = Readonly<Record<QuotaName, number>>;

export const DEFAULT_QUOTAS: QuotaLimits = {
  WORKFLOWS: 1_000,
  /** per workflow: a workflow's version numbers end here */
  VERSIONS: 1_000,
  SCHEDULES: 100,
  SECRETS: 500,
  /** bytes of node outputs offloaded to Postgres (output_blobs) */
  STORED_BYTES: 1024 ** 3,
  /** event streams (GET /executions/:id/events) open at once on one API process */
  STREAMS: 100,
};

/** What each quota counts, for messages and the CLI. */
export const QUOTA_UNITS: Readonly<Record<QuotaName, string>> = {
  WORKFLOWS: 'workflows (archived ones too)',
  VERSIONS: 'versions per workflow',
  SCHEDULES: 'schedules',
  SECRETS: 'secrets',
  STORED_BYTES: 'bytes of stored node outputs',
  STREAMS: 'open event streams per API process',
};

/** The largest limit anyone may set: past it a count stops being exact in a JS number. */
export const MAX_QUOTA = Number.MAX_SAFE_INTEGER;

export const quotaEnvName = (quota: QuotaName): string => `TRELLIS_QUOTA_${quota}`;

export function isQuotaName(name: string): name is QuotaName {
  return (QUOTA_NAMES as readonly string[]).includes(name);
}

/** A limit is a whole number from 0 (nothing allowed) to MAX_QUOTA; undefined for anything else. */
export function parseQuotaLimit(text: string): number | undefined {
  if (!/^[0-9]{1,16}$/.test(text.trim())) return undefined;
  const value = Number(text.trim());
  return Number.isSafeInteger(value) && value <= MAX_QUOTA ? value : undefined;
}

/** A `TRELLIS_QUOTA_<NAME>` that is not a limit: the process must not start with it. */
export class QuotaSettingInvalid extends Error {
  constructor(
    readonly variable: string,
    value: string,
  ) {
    super(`${variable} must be a whole number from 0 to ${MAX_QUOTA}, not ${JSON.stringify(value.slice(0, 40))}`);
    this.name = 'QuotaSettingInvalid';
  }
}

/**
 * The deployment's limits: the defaults with every `TRELLIS_QUOTA_<NAME>` that is set (empty is
 * unset). A bad value throws QuotaSettingInvalid naming the variable; an unknown
 * `TRELLIS_QUOTA_*` name does too, as it is a typo that would otherwise silently change nothing.
 */
export function quotaLimitsFromEnv(env: Readonly<Record<string, string | undefined>>): QuotaLimits {
  const limits: Record<QuotaName, number> = { ...DEFAULT_QUOTAS };
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith('TRELLIS_QUOTA_') || value === undefined || value === '') continue;
    const name = variable.slice('TRELLIS_QUOTA_'.length);
    if (!isQuotaName(name)) {
      throw new QuotaSettingInvalidName(variable);
    }
    const limit = parseQuotaLimit(value);
    if (limit === undefined) throw new QuotaSettingInvalid(variable, value);
    limits[name] = limit;
  }
  return limits;
}

class QuotaSettingInvalidName extends QuotaSettingInvalid {
  constructor(variable: string) {
    super(variable, '');
    this.message = `${variable} is not a quota; the quotas are ${QUOTA_NAMES.map(quotaEnvName).join(', ')}`;
  }
}

/**
 * A tenant is at a quota: what it asked for would take `used + amount` past `limit`. Nothing is
 * stored when this is thrown; the API answers 429 QUOTA_EXCEEDED, a node fails with this type.
 */
export class QuotaExceeded extends Error {
  constructor(
    readonly quota: QuotaName,
    readonly limit: number,
    readonly used: number,
  ) {
    super(`quota ${quota} exceeded: this tenant has ${used} ${QUOTA_UNITS[quota]} and its limit is ${limit}`);
    this.name = 'QuotaExceeded';
  }
}
