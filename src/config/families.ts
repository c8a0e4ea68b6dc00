import { QUOTA_NAMES, QuotaSettingInvalid, quotaEnvName, quotaLimitsFromEnv, type QuotaLimits } from '../domain/quotas';

/**
 * Variables whose names carry a name of the operator's: one entry each in the docs, parsed here.
 *  - TRELLIS_QUOTA_<NAME>: a deployment quota (domain/quotas.ts); an unknown NAME is refused.
 *  - TRELLIS_PG_<NAME>_URL / TRELLIS_PG_<NAME>_TENANTS: a deployment connection of the postgres
 *    node and the tenants allowed to use it.
 */
export interface FamilyDoc {
  name: string;
  group: 'Limits' | 'Worker';
  expects: string;
  default: string;
  secret: boolean;
  description: string;
}

export const FAMILY_DOCS: readonly FamilyDoc[] = [
  {
    name: 'TRELLIS_QUOTA_<NAME>',
    group: 'Limits',
    expects: 'an integer from 0',
    default: 'per quota (docs/security.md)',
    secret: false,
    description: `A deployment-wide quota per tenant; NAME is one of ${QUOTA_NAMES.join(', ')} (\`trellis tenant quota\` sets one tenant's). An unknown NAME stops the start.`,
  },
  {
    name: 'TRELLIS_PG_<NAME>_URL',
    group: 'Worker',
    expects: 'a URL (postgres://)',
    default: '',
    secret: true,
    description: 'A deployment database the postgres node reaches as `connection: "<name>"` (a tenant secret PG_<NAME>_URL wins for its tenant).',
  },
  {
    name: 'TRELLIS_PG_<NAME>_TENANTS',
    group: 'Worker',
    expects: 'a comma-separated list',
    default: '* (every tenant)',
    secret: false,
    description: 'Tenant names or ids that may use TRELLIS_PG_<NAME>_URL; empty means none.',
  },
];

export interface PostgresConnectionSetting {
  url?: string;
  /** Unset: every tenant. */
  tenants?: readonly string[];
}

const PG_VARIABLE = /^TRELLIS_PG_([A-Z0-9_]+?)_(URL|TENANTS)$/;

export function isFamilyVariable(name: string): boolean {
  return name.startsWith('TRELLIS_QUOTA_') || PG_VARIABLE.test(name);
}

export function parseQuotas(env: Readonly<Record<string, string | undefined>>, problems: string[]): QuotaLimits {
  try {
    return quotaLimitsFromEnv(env);
  } catch (err) {
    if (!(err instanceof QuotaSettingInvalid)) throw err;
    problems.push(err.message);
    return quotaLimitsFromEnv({});
  }
}

/** TRELLIS_PG_<NAME>_URL/_TENANTS by lower-case connection name. */
export function parsePostgresConnections(env: Readonly<Record<string, string | undefined>>, problems: string[]): ReadonlyMap<string, PostgresConnectionSetting> {
  const connections = new Map<string, PostgresConnectionSetting>();
  for (const [variable, value] of Object.entries(env)) {
    const match = PG_VARIABLE.exec(variable);
    if (!match || value === undefined) continue;
    const name = match[1]!.toLowerCase();
    const entry = connections.get(name) ?? {};
    if (match[2] === 'URL') {
      if (value === '') continue;
      if (!/^postgres(ql)?:\/\//.test(value)) problems.push(`${variable} must be a URL (postgres:// or postgresql://)`);
      entry.url = value;
    } else {
      entry.tenants = value.split(',').map((s) => s.trim()).filter(Boolean);
    }
    connections.set(name, entry);
  }
  return connections;
}

export { quotaEnvName };
