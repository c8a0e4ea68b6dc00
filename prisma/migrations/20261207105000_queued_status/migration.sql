-- Run-level concurrency (DESIGN.md §2, §5): a run waits QUEUED until its key has a free slot.
-- Placed before RUNNING so the enum keeps the status model's order.
ALTER TYPE "ExecutionStatus" ADD VALUE 'QUEUED' BEFORE 'RUNNING';

-- Why a WAITING node waits for its turn under a limit: { kind, key } (DESIGN.md §2).
ALTER TABLE "node_runs" ADD COLUMN "waiting_for" JSONB;
