-- AlterEnum
ALTER TYPE "ExecutionTrigger" ADD VALUE 'RERUN';
