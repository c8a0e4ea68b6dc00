-- Retention (DESIGN §7) walks finished runs oldest first: an index on executions(finished_at)
-- turns each bounded batch into a short index scan instead of a scan of every run.
CREATE INDEX "executions_finished_at_idx" ON "executions"("finished_at");

-- A stored output belongs to the run whose id is the longest dot-prefix of its execution_id
-- (map batches, loop iterations and subworkflows store under "<run id>.<path>"). The root run
-- id, computed by Postgres so older processes' inserts get it too, lets retention find all of a
-- run family's outputs through one index instead of a LIKE scan of the whole table.
-- (Adding a stored generated column rewrites output_blobs once, under a lock: run it as the
-- `trellis migrate` step before the rollout, at a quiet time if the table is large.)
ALTER TABLE "output_blobs" ADD COLUMN "root_execution_id" TEXT NOT NULL GENERATED ALWAYS AS (split_part("execution_id", '.', 1)) STORED;
CREATE INDEX "output_blobs_root_execution_id_idx" ON "output_blobs"("root_execution_id");
