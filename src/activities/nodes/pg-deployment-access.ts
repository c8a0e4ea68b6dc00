import { postgresConnectionSetting } from '../../config';
import { ApplicationFailure } from '@temporalio/common';

/**
 * Which tenants may use a deployment connection (`TRELLIS_PG_<NAME>_URL`, the operator's):
 * `TRELLIS_PG_<NAME>_TENANTS`, tenant names (or ids) separated by commas. Unset means `*`, every
 * tenant, as before the variable existed; set to nothing means no tenant.
 */
export function connectionTenantsEnvVar(connection: string): string {
  return `TRELLIS_PG_${connection.toUpperCase()}_TENANTS`;
}

/** The tenant's name for its id, or undefined when there is no such tenant. */
export type TenantNameLookup = (tenantId: string) => Promise<string | undefined>;

let tenantNames: TenantNameLookup | undefined;
/** Names change rarely and the check runs on every node: a minute of staleness is the price. */
const NAME_CACHE_MS = 60_000;
const nameCache = new Map<string, { name: string | undefined; until: number }>();

/** The worker tells the postgres node how to name a tenant (it has the database; the node does not). */
export function usePostgresTenantNames(lookup: TenantNameLookup | undefined): void {
  tenantNames = lookup;
  nameCache.clear();
}

async function tenantName(tenantId: string): Promise<string | undefined> {
  const cached = nameCache.get(tenantId);
  if (cached && cached.until > Date.now()) return cached.name;
  if (!tenantNames) return undefined;
  const name = await tenantNames(tenantId);
  nameCache.set(tenantId, { name, until: Date.now() + NAME_CACHE_MS });
  return name;
}

/**
 * Throws a ConfigError naming the variable unless the run's tenant may use the deployment
 * connection. The message does not quote the list: it names other tenants.
 */
export async function assertDeploymentConnectionAllowed(connection: string, tenantId: string | undefined): Promise<void> {
  const envVar = connectionTenantsEnvVar(connection);
  // TRELLIS_PG_<NAME>_TENANTS, parsed by the config (unset: every tenant).
  const allowed = postgresConnectionSetting(connection)?.tenants;
  if (allowed === undefined) return;
  if (allowed.includes('*')) return;
  if (tenantId !== undefined) {
    if (allowed.includes(tenantId)) return;
    const name = await tenantName(tenantId);
    if (name !== undefined && allowed.includes(name)) return;
  }
  throw ApplicationFailure.create({
    type: 'ConfigError',
    message:
      `postgres connection "${connection}" is not available to this run's tenant: ` +
      `${envVar} on the worker does not list it (or set the tenant secret PG_${connection.toUpperCase()}_URL)`,
    nonRetryable: true,
    details: [{ connection, envVar }],
  });
}
