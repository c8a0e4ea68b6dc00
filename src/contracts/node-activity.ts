import type { EmptyTemplate } from '../domain/template-trace';

/** What the interpreter sends to a node-type activity and what comes back. */
export interface NodeActivityInput {
  nodeId: string;
  /** The Temporal workflow id of the run (the execution id). */
  executionId: string;
  /** The run's tenant: every lookup the activity makes is scoped by it. */
  tenantId?: string;
  /** Config with every `{{ }}` template already resolved, except `{{ secrets.NAME }}` parts. */
  config: Record<string, unknown>;
  /**
   * Largest output the activity may return inline (the run's remaining budget); a larger one is
   * stored by reference, or fails the node where no store is configured.
   */
  inlineOutputBytes?: number;
  /**
   * Attempts of this node before this activity (retry lists retry from the workflow, one
   * activity per attempt); the attempt a node type sees is this plus Temporal's attempt.
   */
  priorAttempts?: number;
  /** Whole-template fields that resolved to null or nothing, quoted when the config check fails. */
  emptyTemplates?: EmptyTemplate[];
  /**
   * Config pointers (from the definition, not the data) holding a `SecretTemplate` the activity
   * resolves just before the node runs; absent when the node references no secrets.
   */
  secretPaths?: string[];
  /**
   * Set for nodes of mirrored runs: the activity's worker writes the node's SUCCEEDED state to
   * the status mirror itself, with this reserved sequence number, as soon as the node returns
   * (the workflow's own write of it comes one workflow task later and carries the same state).
   */
  mirror?: NodeMirrorTicket;
  /**
   * The workflow takes a deferred result (tenant-share-deferral.ts): a first attempt whose tenant
   * already has its share of the worker's backlog waiting may come back `deferred` instead of
   * holding a task slot while it waits, and is scheduled again by the run.
   */
  deferrable?: true;
}

/** What a node activity needs to write its own result to the mirror. */
export interface NodeMirrorTicket {
  seq: number;
  /** The node's type and start time, as the workflow recorded them. */
  type: string;
  startedAt: string;
  /**
   * The workflow will not write this SUCCEEDED state itself if the result comes back with
   * `mirrored: true`: the worker then writes it durably before the activity returns.
   */
  confirm?: true;
}

export interface NodeActivityResult {
  output: unknown;
  /** The Temporal attempt that produced this result. */
  attempt: number;
  /**
   * The worker committed this result to the mirror with the ticket's seq (only for tickets with
   * `confirm`), stamped `finishedAt`: the time the workflow then records for the node, so the
   * row and Temporal's state agree.
   */
  mirrored?: { finishedAt: string };
  /**
   * The attempt did not run: its tenant had its share of the worker's backlog waiting at the
   * fair-share gate (only for inputs with `deferrable`). `output` is absent; nothing was written.
   */
  deferred?: true;
}
