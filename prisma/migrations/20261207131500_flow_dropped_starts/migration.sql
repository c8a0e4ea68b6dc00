-- Starts refused by run-level concurrency with onLimit "drop" leave no run: they are counted here.
ALTER TABLE "schedules" ADD COLUMN "dropped_starts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "last_dropped_at" TIMESTAMPTZ(3);

ALTER TABLE "workflows" ADD COLUMN "hook_dropped_starts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "hook_last_dropped_at" TIMESTAMPTZ(3);
