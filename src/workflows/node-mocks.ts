import { patched } from '@temporalio/workflow';
import type { DagWorkflowInput } from '../contracts/dag-workflow';
import { MOCKED_NODES_PATCH } from '../contracts/patches';
import type { Settled } from '../contracts/settled';
import type { NodeDef } from '../domain/definition';
import { mockBranch } from '../domain/mocks';

/**
 * A test run's mocked node (DESIGN.md §6): what it settles with instead of running, or undefined
 * when the run does not mock it. It settles as a node that ran once would — SUCCEEDED with the
 * given output (a condition or switch deciding from it) or FAILED with the given error, so the
 * run's failure path and `onError` edges work as usual — marked `mocked` for the mirror and the
 * query. Nothing is scheduled for it: no activity, timer, child or wait.
 */
export function mockedResult(mocks: DagWorkflowInput['mocks'], node: NodeDef): Settled | undefined {
  if (!mocks || !Object.hasOwn(mocks, node.id) || !patched(MOCKED_NODES_PATCH)) return undefined;
  const mock = mocks[node.id]!;
  if ('error' in mock) {
    const { type, message } = mock.error ?? {};
    return {
      status: 'FAILED',
      attempt: 1,
      mocked: true,
      error: { type: typeof type === 'string' && type ? type : 'MockedError', message: typeof message === 'string' ? message : 'mocked error' },
    };
  }
  // The API refuses a branch mock it cannot decide from; a run started elsewhere fails the node instead.
  const branch = mockBranch(node.type, mock.output);
  if (!branch.ok) return { status: 'FAILED', attempt: 1, mocked: true, error: { type: 'MockInvalid', message: branch.message } };
  return { status: 'SUCCEEDED', attempt: 1, mocked: true, output: mock.output ?? null, ...(branch.branchValue !== undefined && { branchValue: branch.branchValue }) };
}
