import type { Db } from '../db/client';
import type { WorkflowDefinition } from '../domain/definition';
import { checkMocks, type NodeMock } from '../domain/mocks';
import { invalid } from './errors';

/** Largest `mocks` of a start, as JSON: they travel in the run's input, beside the input itself. */
export const MAX_MOCKS_BYTES = 256 * 1024;

/**
 * A test run's mocks, checked against the version the run will be pinned to before any row is
 * written: every mock must name a top-level node of it (400 listing each that does not). Returns
 * that version, so the run starts on exactly the definition its mocks were checked against even
 * when a new version is stored meanwhile. Undefined when the workflow or version is not the
 * tenant's: the start itself then answers 404 as for any run.
 */
export async function pinVersionForMocks(
  db: Db,
  request: { tenantId: string; workflowId: string; version?: number; mocks: Record<string, NodeMock> },
): Promise<number | undefined> {
  const bytes = Buffer.byteLength(JSON.stringify(request.mocks), 'utf8');
  if (bytes > MAX_MOCKS_BYTES) {
    throw invalid(`mocks are ${bytes} bytes of JSON; the limit is ${MAX_MOCKS_BYTES}`, [
      { path: '/body/mocks', message: `must be at most ${MAX_MOCKS_BYTES} bytes as JSON` },
    ]);
  }
  const workflow = await db.workflow.findFirst({ where: { id: request.workflowId, tenantId: request.tenantId }, select: { latestVersion: true } });
  if (!workflow) return undefined;
  const version = request.version ?? workflow.latestVersion;
  const row = await db.workflowVersion.findUnique({ where: { workflowId_version: { workflowId: request.workflowId, version } }, select: { definition: true } });
  if (!row) return undefined;
  const problems = checkMocks(row.definition as unknown as WorkflowDefinition, request.mocks);
  if (problems.length > 0) throw invalid(`the mocks do not fit version ${version}: ${problems.map((p) => p.message).join('; ')}`, problems);
  return version;
}
