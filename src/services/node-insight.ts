import type { PendingActivity } from '../temporal/gateway';
import { isTerminal, type NodeStatus, type WorkflowDefinition } from '../domain/definition';
import { parseDuration } from '../domain/duration';
import { ExpressionCompiler, resolveTemplates, type ExpressionContext } from '../domain/expressions';
import type { WaitingFor } from '../domain/flow-control';

/** What Temporal knows about a node's activity while it runs or waits to retry (the workflow learns it only at the end). */
export interface RetryInfo {
  /** SCHEDULED: waiting for its next attempt (or a worker); STARTED: an attempt is running. */
  state: string;
  attempt: number;
  /** 0 means unlimited. */
  maximumAttempts: number;
  lastFailure: { message: string; type?: string } | null;
  nextAttemptAt: string | null;
}

/** An approval node's prompt as the approver should read it: the template rendered, and when it times out. */
export interface ApprovalPrompt {
  message: string | null;
  /** When `onTimeout` applies; null without a timeout. */
  deadline: string | null;
  onTimeout: 'approve' | 'reject';
  /** Set when the message template could not be rendered (the raw text is in `message` then). */
  renderError?: string;
}

interface NodeLike {
  nodeId: string;
  status: NodeStatus;
  attempt: number;
  startedAt: string | null;
  output: unknown;
  error: unknown;
}

/** Merges Temporal's pending-activity info over nodes that are still running: the real attempt, last failure and next retry time. */
export function withRetryInfo<T extends NodeLike>(nodes: T[], pending: PendingActivity[] | undefined): (T & { retry?: RetryInfo })[] {
  if (!pending?.length) return nodes;
  const byNode = new Map(pending.map((p) => [p.activityId, p]));
  return nodes.map((node) => {
    const p = byNode.get(node.nodeId);
    if (!p || isTerminal(node.status)) return node;
    const retry: RetryInfo = {
      state: p.state,
      attempt: p.attempt,
      maximumAttempts: p.maximumAttempts,
      lastFailure: p.lastFailure ?? null,
      nextAttemptAt: p.nextAttemptAt ? p.nextAttemptAt.toISOString() : null,
    };
    return { ...node, attempt: Math.max(node.attempt, p.attempt), retry };
  });
}

/**
 * Nodes whose attempt waits at its worker for the tenant's share of the worker (DESIGN §8): the
 * workflow sees them running, Temporal's heartbeat details say they wait. Shown WAITING with
 * `waitingFor: { kind: "tenantShare" }`.
 */
export function withTenantShareWaits<T extends NodeLike>(nodes: T[], pending: PendingActivity[] | undefined): (T | (T & { status: 'WAITING'; waitingFor: WaitingFor }))[] {
  const waiting = new Map((pending ?? []).filter((p) => p.waitingFor).map((p) => [p.activityId, p.waitingFor!]));
  if (waiting.size === 0) return nodes;
  return nodes.map((node) => {
    const waitingFor = waiting.get(node.nodeId);
    return waitingFor && node.status === 'RUNNING' ? { ...node, status: 'WAITING' as const, waitingFor } : node;
  });
}

const compiler = new ExpressionCompiler();

/**
 * The prompt of every approval node that is waiting: its `message` rendered against the run's
 * input and the nodes it can see (as the workflow would), and its deadline from `timeout`.
 */
export async function approvalPrompts(
  definition: WorkflowDefinition | undefined,
  nodes: NodeLike[],
  execution: ExpressionContext['execution'] & { input: unknown },
): Promise<Map<string, ApprovalPrompt>> {
  const prompts = new Map<string, ApprovalPrompt>();
  const waiting = nodes.filter((n) => n.status === 'WAITING');
  if (!definition || waiting.length === 0) return prompts;
  const context: ExpressionContext = {
    input: execution.input ?? {},
    nodes: Object.fromEntries(
      nodes.filter((n) => n.status !== 'PENDING').map((n) => [n.nodeId, { status: n.status, output: n.output ?? undefined, error: n.error ?? undefined }]),
    ),
    execution: { id: execution.id, workflowId: execution.workflowId, version: execution.version, startedAt: execution.startedAt },
  };
  for (const view of waiting) {
    const node = definition.nodes.find((n) => n.id === view.nodeId);
    if (!node || node.type !== 'approval') continue;
    const config = (node.config ?? {}) as { message?: unknown; timeout?: string | number; onTimeout?: string };
    const timeoutMs = config.timeout === undefined ? undefined : parseDuration(config.timeout);
    const deadline = timeoutMs !== undefined && view.startedAt ? new Date(Date.parse(view.startedAt) + timeoutMs).toISOString() : null;
    const prompt: ApprovalPrompt = { message: null, deadline, onTimeout: config.onTimeout === 'approve' ? 'approve' : 'reject' };
    if (typeof config.message === 'string') {
      try {
        const rendered = await resolveTemplates(config.message, context, compiler);
        prompt.message = typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
      } catch (err) {
        prompt.message = config.message;
        prompt.renderError = err instanceof Error ? err.message : String(err);
      }
    }
    prompts.set(view.nodeId, prompt);
  }
  return prompts;
}
