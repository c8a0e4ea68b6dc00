import { parseArgs } from 'node:util';
import type { TrellisConfig } from '../config';
import { createDb } from '../db/client';
import { QUOTA_NAMES, QUOTA_UNITS, parseQuotaLimit, quotaEnvName, type QuotaName } from '../domain/quotas';
import { setTenantQuotas, tenantQuotaReport } from '../services/quotas';

/** The option of each quota: --workflows, --stored-bytes, ... */
const optionOf = (quota: QuotaName) => quota.toLowerCase().replace(/_/g, '-');

export const QUOTA_USAGE = `  tenant quota --tenant NAME [--workflows N] [--versions N] [--schedules N] [--secrets N]
               [--stored-bytes N] [--streams N]   (N or "default")
                                          set a tenant's own quotas; without values print its
                                          effective quotas and usage`;

interface Io {
  out(line: string): void;
  usage(message: string, showUsage?: boolean): Error;
  databaseUrl(): string;
}

/**
 * `trellis tenant quota ...`: a tenant's own limits (table tenant_quotas), or a report of them
 * against the deployment's quotas of the validated `config` (a bad TRELLIS_QUOTA_* stopped it).
 */
export async function runTenantQuota(args: string[], config: TrellisConfig, io: Io): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { tenant: { type: 'string' }, ...Object.fromEntries(QUOTA_NAMES.map((q) => [optionOf(q), { type: 'string' as const }])) },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1 || positionals[0] !== 'quota') throw io.usage('expected: trellis tenant quota --tenant NAME [--workflows N] ...');
  const tenant = values.tenant as string | undefined;
  if (!tenant) throw io.usage('--tenant NAME is required');
  const changes: Partial<Record<QuotaName, number | null>> = {};
  for (const quota of QUOTA_NAMES) {
    const text = (values as Record<string, string | undefined>)[optionOf(quota)];
    if (text === undefined) continue;
    const limit = text === 'default' ? null : parseQuotaLimit(text);
    if (limit === undefined) throw io.usage(`--${optionOf(quota)} takes a whole number from 0 up (or "default")`);
    changes[quota] = limit;
  }
  const defaults = config.quotas;
  const db = createDb(io.databaseUrl(), { max: 1 });
  try {
    if (Object.keys(changes).length > 0 && !(await setTenantQuotas(db, tenant, changes))) throw io.usage(`no tenant named "${tenant}"`, false);
    const report = await tenantQuotaReport(db, tenant, defaults);
    if (!report) throw io.usage(`no tenant named "${tenant}"`, false);
    io.out(`tenant "${tenant}":`);
    for (const line of report) {
      const source = line.source === 'tenant' ? 'tenant' : config.quotaSources[line.quota] === 'environment' ? quotaEnvName(line.quota) : 'default';
      const used = line.used === null ? 'counted by each API process' : `${line.used} used`;
      io.out(`  ${line.quota.padEnd(12)} ${String(line.limit).padStart(13)}  ${used}  (${QUOTA_UNITS[line.quota]}; from ${source})`);
    }
  } finally {
    await db.$disconnect();
  }
}
