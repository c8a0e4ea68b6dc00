import { timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/client';
import { hashSecret } from './api-keys';

/** Compared against when there is no stored hash, so an unknown workflow costs the same as a wrong token. */
const NO_HASH = hashSecret('');

/**
 * The tenant of the workflow a webhook token opens, or undefined whatever the reason it does not
 * (unknown workflow, no token set, archived, wrong token): callers answer all of them alike. The
 * token is the only credential, so it is compared in constant time against the stored hash.
 */
export async function hookTenant(db: Db, workflowId: string, token: string): Promise<string | undefined> {
  const workflow = await db.workflow.findUnique({
    where: { id: workflowId },
    select: { tenantId: true, hookTokenHash: true, archivedAt: true },
  });
  const presented = Buffer.from(hashSecret(token), 'hex');
  const stored = Buffer.from(workflow?.hookTokenHash ?? NO_HASH, 'hex');
  const matches = stored.length === presented.length && timingSafeEqual(stored, presented);
  if (!workflow || !workflow.hookTokenHash || workflow.archivedAt || !matches) return undefined;
  return workflow.tenantId;
}
