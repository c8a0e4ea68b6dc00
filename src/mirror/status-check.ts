import type { ExecutionStatus as DbExecutionStatus, ExecutionTrigger as DbExecutionTrigger, NodeRunStatus as DbNodeRunStatus } from '../generated/prisma/enums';
import type { ExecutionStatus, ExecutionTrigger, NodeStatus } from '../domain/status';

/**
 * Compile-time proof that Postgres' enums (prisma/schema.prisma) and the domain's status lists
 * name the same values: adding a status on one side only fails `tsc`, not a write at run time.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const STATUS_ENUMS_AGREE: [
  Same<DbExecutionStatus, ExecutionStatus>,
  Same<DbNodeRunStatus, NodeStatus>,
  Same<DbExecutionTrigger, ExecutionTrigger>,
] = [true, true, true];
