-- CreateTable
CREATE TABLE "node_attempts" (
    "execution_id" TEXT NOT NULL,
    "node_id" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "error_type" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "failed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "node_attempts_pkey" PRIMARY KEY ("execution_id","node_id","attempt")
);

-- AddForeignKey
ALTER TABLE "node_attempts" ADD CONSTRAINT "node_attempts_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
