import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ErrorInfo, ExecutionStatus, WorkflowDefinition } from '../domain/definition';
import type { NodeState } from './transitions';
import type { NodeMock } from '../domain/mocks';
import type { IterationLimits } from './iteration-workflows';

/** The one workflow type's input. Without `definition`, the pinned version is loaded by activity. */
export interface DagWorkflowInput {
  /** The stored Trellis workflow id (not Temporal's). */
  workflowId?: string;
  /**
   * The tenant the run belongs to. Every lookup the run makes (child workflows, stored outputs,
   * connections) is scoped by it. Runs started from outside Trellis (Temporal UI, CLI) take the
   * tenant of the stored workflow they name.
   */
  tenantId?: string;
  /** How many subworkflow levels sit above this run (0 for a top-level run); bounded. */
  depth?: number;
  version?: number;
  input?: unknown;
  definition?: WorkflowDefinition;
  /** Upper bound on activity nodes in flight; overrides `defaults.maxConcurrency`. */
  maxConcurrency?: number;
  /**
   * Retry from failure: outputs of nodes that SUCCEEDED in an earlier run, by node id. Those
   * nodes settle SUCCEEDED with that output (attempt 0) instead of running again.
   */
  reuse?: Record<string, unknown>;
  /** Overrides the definition's `runTimeout` for this run (a duration). */
  runTimeout?: string | number;
  /**
   * Retry from failure, map nodes that FAILED: their earlier output (`{ results, counts,
   * failures }`), by node id. Only the items listed in its `failures` run again.
   */
  reuseItems?: Record<string, unknown>;
  /** Map and loop thresholds (tests and benchmarks only; see IterationLimits). */
  iterationLimits?: IterationLimits;
  /**
   * The id of the run slot the API reserved before starting this run (run-level concurrency,
   * onLimit drop): the run asks its limiter with it and takes the slot held for it.
   */
  runSlot?: string;
  /**
   * Trellis's signature of this start (src/services/claim-signing.ts). An inline `definition`
   * with a `tenantId` runs only with a valid one; otherwise the run fails `TenantClaimRefused`.
   */
  claim?: TenantClaim;
  /**
   * A test run (DESIGN.md §6): top-level nodes that do not run, by node id; each settles with
   * the given output (SUCCEEDED) or error (FAILED) as if it had run (workflows/node-mocks.ts).
   */
  mocks?: Record<string, NodeMock>;
}

/** An HMAC-SHA256 (base64url) over the run's Temporal workflow id and the rest of its input. */
export interface TenantClaim {
  v: 1;
  sig: string;
}

/** Checked outside the sandbox: the signing key never enters a workflow. */
export interface TenantClaimActivities {
  /** Fails `TenantClaimRefused` (non-retryable) unless `input.claim` signs `input` under `temporalWorkflowId`. */
  verifyTenantClaim(request: { temporalWorkflowId: string; input: DagWorkflowInput }): Promise<void>;
}

/** The failure type of a run whose tenant claim is not Trellis's. */
export const TENANT_CLAIM_REFUSED = 'TenantClaimRefused';

export type { NodeState } from './transitions';

export interface DagRunState {
  status: ExecutionStatus;
  workflowId?: string;
  version?: number;
  progress: { total: number; done: number };
  nodes: Record<string, NodeState>;
  error?: ErrorInfo;
  /** While a pause holds the run (it stays RUNNING). */
  paused?: boolean;
}

/** What a run returns (and, for a FAILED run, carries in its failure's details). */
export interface DagRunResult {
  status: ExecutionStatus;
  /** Outputs of the nodes that SUCCEEDED, by node id. */
  outputs: Record<string, unknown>;
  error?: ErrorInfo;
}

export interface CancelRequest {
  reason?: string;
  /** Skip cleanup (`all_done` / `always` nodes): stop at once. A second cancel request does the same. */
  force?: boolean;
}

export interface ApprovalDecision {
  nodeId: string;
  approved: boolean;
  data?: unknown;
  by?: string;
}

/** Load the pinned version of a stored workflow (persistence supplies the store). */
export interface LoadDefinitionRequest {
  workflowId: string;
  version?: number;
  /** When set, only this tenant's workflows are found (child runs always set it). */
  tenantId?: string;
}
export interface LoadedDefinition {
  version: number;
  definition: WorkflowDefinition;
  /** The tenant that owns the workflow. */
  tenantId?: string;
}
export interface EngineActivities {
  loadDefinition(request: LoadDefinitionRequest): Promise<LoadedDefinition>;
}

export const DAG_WORKFLOW_TYPE = 'dagWorkflow';
/**
 * Temporal workflow ids of POST /workflows/test-node's one-node runs: they have no mirror row
 * (no workflowId) and the worker leaves their attempts out of its node metrics.
 */
export const TEST_NODE_WORKFLOW_PREFIX = 'test-node-';
/** The failure type of a FAILED run; its details hold the DagRunResult. */
export const RUN_FAILED_ERROR_TYPE = 'DagRunFailed';

export const cancelSignal = defineSignal<[CancelRequest]>('cancel');
export const approveSignal = defineSignal<[ApprovalDecision]>('approve');
export const stateQuery = defineQuery<DagRunState>('state');
