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
   * Config pointers (from the definition, not the data) holding a `SecretTemplate` the activity
   * resolves just before the node runs; absent when the node references no secrets.
   */
  secretPaths?: string[];
}

export interface NodeActivityResult {
  output: unknown;
  /** The Temporal attempt that produced this result. */
  attempt: number;
}
