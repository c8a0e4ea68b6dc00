-- CreateTable
CREATE TABLE "map_items" (
    "execution_id" TEXT NOT NULL,
    "node_id" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "status" "NodeRunStatus" NOT NULL,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "output" JSONB,
    "error" JSONB,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "map_items_pkey" PRIMARY KEY ("execution_id","node_id","index")
);

-- CreateIndex
CREATE INDEX "map_items_execution_id_node_id_status_index_idx" ON "map_items"("execution_id", "node_id", "status", "index");

-- AddForeignKey
ALTER TABLE "map_items" ADD CONSTRAINT "map_items_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
