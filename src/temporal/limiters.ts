import type { Client } from '@temporalio/client';
import { tenantLimiterPrefix } from '../domain/flow-control';
import { LIMITER_WORKFLOW_TYPE, limiterStateQuery, type LimiterSnapshot } from '../contracts/limiter';

/** GET /limits lists at most this many of a tenant's live limiters (each answers one query). */
export const MAX_LISTED_LIMITERS = 200;
/** Queries in flight at once while listing. */
const QUERY_CONCURRENCY = 16;

export interface LimiterMethods {
  /** The tenant's running limiters (never another tenant's: listed by the tenant's id prefix and checked again). */
  listLimiters(tenantId: string): Promise<LimiterSnapshot[]>;
}

export function createLimiterMethods(client: Client): LimiterMethods {
  return {
    async listLimiters(tenantId) {
      const prefix = tenantLimiterPrefix(tenantId);
      const ids = await runningLimiterIds(client, prefix);
      const snapshots: LimiterSnapshot[] = [];
      for (let i = 0; i < ids.length; i += QUERY_CONCURRENCY) {
        const answers = await Promise.all(
          ids.slice(i, i + QUERY_CONCURRENCY).map((id) => client.workflow.getHandle(id).query(limiterStateQuery).catch(() => undefined)),
        );
        // A limiter that ended between the listing and its query holds nothing: left out.
        for (const s of answers) if (s && s.tenantId === tenantId) snapshots.push(s);
      }
      return snapshots;
    },
  };
}

/** Visibility holds every limiter's id; the prefix narrows the listing to one tenant's. */
async function runningLimiterIds(client: Client, prefix: string): Promise<string[]> {
  // The prefix is built from an encoded tenant id: no quote can reach the query.
  const type = `WorkflowType = '${LIMITER_WORKFLOW_TYPE}'`;
  try {
    return await collect(client, `${type} AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '${prefix}'`, () => true);
  } catch {
    // Visibility stores without STARTS_WITH or with one filter only (the dev server's SQLite):
    // list the limiters, keep the tenant's running ones.
    return collect(client, type, (id, running) => running && id.startsWith(prefix));
  }
}

async function collect(client: Client, query: string, keep: (id: string, running: boolean) => boolean): Promise<string[]> {
  const ids: string[] = [];
  let seen = 0;
  for await (const execution of client.workflow.list({ query })) {
    if (++seen > MAX_LISTED_LIMITERS * 20) break; // the fallback scan stays bounded too
    if (!keep(execution.workflowId, execution.status.name === 'RUNNING')) continue;
    ids.push(execution.workflowId);
    if (ids.length >= MAX_LISTED_LIMITERS) break;
  }
  return ids;
}
