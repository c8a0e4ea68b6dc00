import type { LimiterSnapshot } from '../contracts/limiter';
import type { RunDescription, ScheduleRuntimeInfo, ScheduleSpecInput, TemporalGateway } from './gateway';
import type { RunSlotReservation } from './limiters';
import { limiterWorkflowId } from '../domain/flow-control';
import type { ApprovalDecision, DagRunResult, DagRunState, DagWorkflowInput } from '../contracts/dag-workflow';

/**
 * Stands in for Temporal in API tests that run without a server: records what the API asked
 * for, and answers queries from state the test sets. The same suites run end to end against a
 * real server through createTemporalGateway when one is available.
 */
export class FakeTemporalGateway implements TemporalGateway {
  readonly started = new Map<string, DagWorkflowInput>();
  readonly startCalls: string[] = [];
  readonly cancels: { executionId: string; reason?: string; force?: boolean }[] = [];
  readonly approvals: { executionId: string; decision: ApprovalDecision }[] = [];
  readonly pauses: { executionId: string; paused: boolean; by: string }[] = [];
  /** Runs Temporal has closed although the mirror may not know yet: signals to them find nothing. */
  readonly closed = new Set<string>();
  readonly states = new Map<string, DagRunState>();
  readonly descriptions = new Map<string, RunDescription>();
  /** Schedules as Temporal would hold them, and every schedule call in order. */
  readonly schedules = new Map<string, ScheduleSpecInput>();
  readonly scheduleCalls: { method: string; scheduleId: string; spec?: ScheduleSpecInput; note?: string }[] = [];
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
  async cancelRun(executionId: string, reason?: string, force?: boolean): Promise<void> {
    this.check();
    this.cancels.push({ executionId, reason, ...(force === undefined ? {} : { force }) });
  }
  async approve(executionId: string, decision: ApprovalDecision): Promise<void> {
    this.check();
    this.approvals.push({ executionId, decision });
  }
  async setPaused(executionId: string, paused: boolean, by: string): Promise<boolean> {
    this.check();
    if (this.closed.has(executionId)) return false;
    this.pauses.push({ executionId, paused, by });
    return true;
  }
  async queryState(executionId: string): Promise<DagRunState | undefined> {
    this.check();
    return this.states.get(executionId);
  }
  async describe(executionId: string): Promise<RunDescription | undefined> {
    this.check();
    return this.descriptions.get(executionId) ?? (this.started.has(executionId) ? { status: 'RUNNING' } : undefined);
  }
  /** Visibility lists what `descriptions` says (tests that need lag override this). */
  async listedRun(executionId: string): Promise<{ status: string; closeTime?: Date } | undefined> {
    this.check();
    const d = await this.describe(executionId);
    return d && { status: d.status, ...(d.closeTime && { closeTime: d.closeTime }) };
  }
  /** POST /workflows/test-node's one-node runs, as asked for; each answers `testRunResult` (the node's output by default). */
  readonly testRuns: { workflowId: string; input: DagWorkflowInput; waitMs: number }[] = [];
  testRunResult: ((input: DagWorkflowInput) => DagRunResult | undefined) | undefined;
  async runToResult(workflowId: string, input: DagWorkflowInput, waitMs: number): Promise<DagRunResult | undefined> {
    this.check();
    this.testRuns.push({ workflowId, input, waitMs });
    return this.testRunResult ? this.testRunResult(input) : { status: 'SUCCEEDED', outputs: {} };
  }
  async ping(): Promise<void> {
    this.check();
  }
  /** Limiters tests put here, by tenant id. */
  readonly limiters = new Map<string, LimiterSnapshot[]>();
  async listLimiters(tenantId: string): Promise<LimiterSnapshot[]> {
    this.check();
    return this.limiters.get(tenantId) ?? [];
  }

  /** Run slots reserved (onLimit drop), by limiter id: nothing frees them but releaseRunSlot. */
  readonly runSlots = new Map<string, string[]>();
  async reserveRunSlot({ identity, id, limit }: RunSlotReservation): Promise<'granted' | 'denied'> {
    this.check();
    const key = limiterWorkflowId(identity.tenantId, identity.kind, identity.key, identity.workflowId);
    const held = this.runSlots.get(key) ?? [];
    if (held.length >= limit) return 'denied';
    this.runSlots.set(key, [...held, id]);
    return 'granted';
  }
  async releaseRunSlot({ identity, id }: Pick<RunSlotReservation, 'identity' | 'id'>): Promise<void> {
    this.check();
    const key = limiterWorkflowId(identity.tenantId, identity.kind, identity.key, identity.workflowId);
    this.runSlots.set(key, (this.runSlots.get(key) ?? []).filter((held) => held !== id));
  }

  async createSchedule(scheduleId: string, spec: ScheduleSpecInput): Promise<void> {
    this.check();
    this.scheduleCalls.push({ method: 'create', scheduleId, spec });
    if (this.schedules.has(scheduleId)) throw new Error(`schedule ${scheduleId} already exists`);
    this.schedules.set(scheduleId, { ...spec });
  }
  async updateSchedule(scheduleId: string, spec: ScheduleSpecInput): Promise<void> {
    this.check();
    this.scheduleCalls.push({ method: 'update', scheduleId, spec });
    const existing = this.existingSchedule(scheduleId);
    this.schedules.set(scheduleId, { ...spec, note: spec.note ?? existing.note });
  }
  async pauseSchedule(scheduleId: string, note?: string): Promise<void> {
    this.check();
    this.scheduleCalls.push({ method: 'pause', scheduleId, note });
    Object.assign(this.existingSchedule(scheduleId), { paused: true, note });
  }
  async unpauseSchedule(scheduleId: string, note?: string): Promise<void> {
    this.check();
    this.scheduleCalls.push({ method: 'unpause', scheduleId, note });
    Object.assign(this.existingSchedule(scheduleId), { paused: false, note });
  }
  async deleteSchedule(scheduleId: string): Promise<void> {
    this.check();
    this.scheduleCalls.push({ method: 'delete', scheduleId });
    this.schedules.delete(scheduleId);
  }
  async triggerSchedule(scheduleId: string): Promise<void> {
    this.check();
    this.scheduleCalls.push({ method: 'trigger', scheduleId });
    this.existingSchedule(scheduleId);
  }
  async describeSchedule(scheduleId: string): Promise<ScheduleRuntimeInfo | undefined> {
    this.check();
    const s = this.schedules.get(scheduleId);
    if (!s) return undefined;
    const triggers = this.scheduleCalls.filter((c) => c.method === 'trigger' && c.scheduleId === scheduleId).length;
    // Like Temporal, each triggered run shows up among the recent actions with an id of its own.
    const recentActions = Array.from({ length: triggers }, (_, i) => ({ scheduledAt: new Date(0), executionId: `${scheduleId}-run-${i + 1}` }));
    return { paused: s.paused, ...(s.note === undefined ? {} : { note: s.note }), nextActionTimes: [], recentActions, numActionsTaken: triggers };
  }
  private existingSchedule(scheduleId: string): ScheduleSpecInput {
    const s = this.schedules.get(scheduleId);
    if (!s) throw new Error(`schedule not found: ${scheduleId}`);
    return s;
  }
}
