-- AlterTable: a run started with mocks (POST /executions { mocks }) is a test run: listed only
-- with ?test=true and left out of stats.
ALTER TABLE "executions" ADD COLUMN "test" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable: a node a test run's mock settled instead of running it.
ALTER TABLE "node_runs" ADD COLUMN "mocked" BOOLEAN NOT NULL DEFAULT false;
