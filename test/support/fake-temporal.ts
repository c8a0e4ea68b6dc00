import type { RunDescription, TemporalGateway } from '../../src/api/temporal-gateway';
import type { ApprovalDecision, DagRunState, DagWorkflowInput } from '../../src/workflows/contract';

/**
 * Stands in for Temporal in API tests that run without a server: records what the API asked
 * for, and answers queries from state the test sets. The same suites run end to end against a
 * real server through createTemporalGateway when one is available.
 */
export class FakeTemporalGateway implements TemporalGateway {
  readonly started = new Map<string, DagWorkflowInput>();
  readonly startCalls: string[] = [];
  readonly cancels: { executionId: string; reason?: string }[] = [];
  readonly approvals: { executionId: string; decision: ApprovalDecision }[] = [];
  readonly states = new Map<string, DagRunState>();
  readonly descriptions = new Map<string, RunDescription>();
  /** Set to make every call fail, as when Temporal is unreachable. */
  down = false;

  private check(): void {
    if (this.down) throw new Error('temporal unavailable');
  }

  async startRun(executionId: string, input: DagWorkflowInput): Promise<void> {
    this.check();
    this.startCalls.push(executionId);
    if (!this.started.has(executionId)) this.started.set(executionId, input);
  }
  async cancelRun(executionId: string, reason?: string): Promise<void> {
    this.check();
    this.cancels.push({ executionId, reason });
  }
  async approve(executionId: string, decision: ApprovalDecision): Promise<void> {
    this.check();
    this.approvals.push({ executionId, decision });
  }
  async queryState(executionId: string): Promise<DagRunState | undefined> {
    this.check();
    return this.states.get(executionId);
  }
  async describe(executionId: string): Promise<RunDescription | undefined> {
    this.check();
    return this.descriptions.get(executionId) ?? (this.started.has(executionId) ? { status: 'RUNNING' } : undefined);
  }
  async ping(): Promise<void> {
    this.check();
  }
}
