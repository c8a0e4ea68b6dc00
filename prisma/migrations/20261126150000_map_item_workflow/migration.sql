-- AlterTable
ALTER TABLE "map_items" ADD COLUMN     "workflow_id" TEXT,
ADD COLUMN     "run_id" TEXT;
