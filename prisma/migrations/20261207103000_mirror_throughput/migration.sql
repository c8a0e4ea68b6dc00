-- The stats window (GET /workflows/:id/stats: runs of one workflow started since a moment) read
-- every run of the workflow through the created_at index and filtered on started_at.
CREATE INDEX "executions_tenant_id_workflow_id_started_at_idx" ON "executions"("tenant_id", "workflow_id", "started_at");

-- A node row is inserted (RUNNING) and updated once or twice (its result). No index covers a
-- column those updates change, so they can be HOT (no index entries, less WAL), but only if the
-- new version fits on the row's page: leave a fifth of each page free for them.
ALTER TABLE "node_runs" SET (fillfactor = 80);
