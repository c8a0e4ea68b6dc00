import type { EdgeDef, NodeDef, NodeStatus, Trigger, WorkflowDefinition } from './definition';
import { ANY_ERROR, isTerminal } from './definition';

/**
 * What a finished node tells the planner: its terminal status, for branch nodes the label taken,
 * for failed nodes the error type (error edges may filter on it).
 */
export interface NodeOutcome {
  status: NodeStatus;
  branch?: string;
  errorType?: string;
}

/** Triggers that still run when the run is cancelled or times out (`finally`). */
export const STOP_TRIGGERS: ReadonlySet<Trigger> = new Set(['all_done', 'always']);
/** Triggers that still run while a fatal failure winds the run down. */
export const WIND_DOWN_TRIGGERS: ReadonlySet<Trigger> = new Set(['all_done', 'always', 'one_failed', 'all_failed']);
/** Triggers decided as soon as one upstream node settles the question, not once all are terminal. */
const EARLY_TRIGGERS: ReadonlySet<Trigger> = new Set(['one_success', 'one_failed']);

/** Nodes the planner has just decided: start `ready`, mark `skipped` SKIPPED. */
export interface Decision {
  ready: string[];
  skipped: string[];
}

type EdgeResolution = 'taken' | 'failed' | 'untaken';

/**
 * The pure DAG scheduler. It knows nothing of Temporal: the workflow feeds it outcomes and it
 * answers which nodes may start and which can never run. Deterministic for a given sequence of
 * outcomes, and the final states do not depend on the order in which parallel nodes finish.
 */
export class DagPlanner {
  private readonly nodes = new Map<string, NodeDef>();
  private readonly incoming = new Map<string, EdgeDef[]>();
  private readonly outgoing = new Map<string, EdgeDef[]>();
  private readonly states = new Map<string, NodeOutcome>();
  private readonly order: string[];
  /** Ready but not started yet (the interpreter may hold them back behind a concurrency bound). */
  private readonly decidedReady = new Set<string>();
  private fatalNode: string | undefined;
  /** Set by stop(): only cleanup nodes may still start. */
  private stopping = false;

  constructor(definition: Pick<WorkflowDefinition, 'nodes' | 'edges'>) {
    this.order = definition.nodes.map((n) => n.id);
    for (const node of definition.nodes) {
      this.nodes.set(node.id, node);
      this.incoming.set(node.id, []);
      this.outgoing.set(node.id, []);
      this.states.set(node.id, { status: 'PENDING' });
    }
    for (const edge of definition.edges ?? []) {
      this.outgoing.get(edge.from)?.push(edge);
      this.incoming.get(edge.to)?.push(edge);
    }
  }

  /** Root nodes are ready at once. */
  start(): Decision {
    return this.decide(this.order.filter((id) => this.incoming.get(id)!.length === 0));
  }

  /** Marks a node as started (RUNNING or WAITING); only the interpreter knows which. */
  markStarted(id: string, status: 'RUNNING' | 'WAITING' = 'RUNNING'): void {
    this.requirePending(id, status);
    this.decidedReady.delete(id);
    this.states.set(id, { status });
  }

  /** Records a terminal outcome and returns what became decidable because of it. */
  settle(id: string, outcome: NodeOutcome): Decision {
    const current = this.states.get(id);
    if (!current) throw new Error(`unknown node "${id}"`);
    if (isTerminal(current.status)) throw new Error(`node "${id}" is already ${current.status}`);
    if (!isTerminal(outcome.status)) throw new Error(`"${outcome.status}" is not a terminal status`);
    this.decidedReady.delete(id);
    this.states.set(id, { status: outcome.status, branch: outcome.branch, errorType: outcome.errorType });
    if (outcome.status === 'FAILED' && this.failsRun(id, outcome.errorType)) this.fatalNode ??= id;
    return this.decide((this.outgoing.get(id) ?? []).map((e) => e.to));
  }

  /**
   * After a fatal failure the run winds down: nodes not started yet are SKIPPED except cleanup
   * nodes (`all_done`), which still run once their upstream is terminal.
   */
  get failedNode(): string | undefined {
    return this.fatalNode;
  }

  /**
   * A FAILED node fails the run unless it continues on error or has an error edge that takes
   * its error type (an edge without `errors` takes every type).
   */
  failsRun(id: string, errorType?: string): boolean {
    const node = this.nodes.get(id);
    if (!node || node.onError === 'continue') return false;
    return !(this.outgoing.get(id) ?? []).some((e) => e.on === 'error' && takesError(e, errorType));
  }

  /** Whether a node still starts once the run is cancelled or timed out (cleanup, like `finally`). */
  runsWhenStopping(id: string): boolean {
    return STOP_TRIGGERS.has(this.nodes.get(id)?.trigger ?? 'all_success');
  }

  /** Whether a node may still start while a fatal failure winds the run down. */
  runsInWindDown(id: string): boolean {
    return WIND_DOWN_TRIGGERS.has(this.nodes.get(id)?.trigger ?? 'all_success');
  }

  /** The label a branch node's edges are matched against, from its output. */
  branchLabel(id: string, value: unknown): string {
    if (typeof value === 'boolean') return String(value);
    const label = String(value);
    const labels = new Set((this.outgoing.get(id) ?? []).map((e) => e.when));
    return labels.has(label) ? label : 'default';
  }

  /** Whether a branch node has an edge labelled `label` (e.g. a switch's `default`). */
  hasBranch(id: string, label: string): boolean {
    return (this.outgoing.get(id) ?? []).some((e) => e.when === label);
  }

  status(id: string): NodeStatus {
    const state = this.states.get(id);
    if (!state) throw new Error(`unknown node "${id}"`);
    return state.status;
  }

  /** Every node id in definition order with its status. */
  statuses(): [string, NodeStatus][] {
    return this.order.map((id) => [id, this.states.get(id)!.status]);
  }

  isComplete(): boolean {
    return this.order.every((id) => isTerminal(this.states.get(id)!.status));
  }

  /** Ends every node that has not started as CANCELLED, without cascading: the run is stopping. */
  cancelPending(): string[] {
    const ids = this.pending();
    for (const id of ids) {
      this.decidedReady.delete(id);
      this.states.set(id, { status: 'CANCELLED' });
    }
    return ids;
  }

  /**
   * Cancel or timeout, `finally`-style: every node not started ends CANCELLED except cleanup
   * nodes (`all_done`, `always`), which run once their upstream is terminal. Returns the
   * cancelled ids and the cleanup nodes decidable now; later settles decide the rest.
   */
  stop(): { cancelled: string[]; decision: Decision } {
    this.stopping = true;
    const cancelled: string[] = [];
    const cleanup: string[] = [];
    for (const id of this.pending()) {
      if (this.runsWhenStopping(id)) {
        cleanup.push(id);
        continue;
      }
      this.decidedReady.delete(id);
      this.states.set(id, { status: 'CANCELLED' });
      cancelled.push(id);
    }
    return { cancelled, decision: this.decide(cleanup) };
  }

  /** Ids of nodes that are neither terminal nor started. */
  pending(): string[] {
    return this.order.filter((id) => this.states.get(id)!.status === 'PENDING');
  }

  private requirePending(id: string, next: NodeStatus): void {
    const state = this.states.get(id);
    if (!state) throw new Error(`unknown node "${id}"`);
    if (state.status !== 'PENDING') throw new Error(`node "${id}" cannot go from ${state.status} to ${next}`);
  }

  /** Decides candidates whose upstream is all terminal; skips cascade through the graph. */
  private decide(candidates: Iterable<string>): Decision {
    const decision: Decision = { ready: [], skipped: [] };
    const queue = [...candidates];
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (this.states.get(id)!.status !== 'PENDING' || this.decidedReady.has(id)) continue;
      const edges = this.incoming.get(id)!;
      const node = this.nodes.get(id)!;
      const allTerminal = edges.every((e) => isTerminal(this.states.get(e.from)!.status));
      if (!allTerminal && !EARLY_TRIGGERS.has(node.trigger ?? 'all_success')) continue;
      const verdict = this.verdict(node, edges, allTerminal);
      if (verdict === 'wait') continue;
      if (verdict === 'run') {
        this.decidedReady.add(id);
        decision.ready.push(id);
      } else {
        this.states.set(id, { status: 'SKIPPED' });
        decision.skipped.push(id);
        for (const e of this.outgoing.get(id)!) queue.push(e.to);
      }
    }
    return decision;
  }

  /**
   * Whether a node whose upstream is decided enough runs. `allTerminal` is false only for the
   * early triggers, which may run (or must wait) before every upstream node is terminal.
   */
  private verdict(node: NodeDef, edges: EdgeDef[], allTerminal: boolean): 'run' | 'skip' | 'wait' {
    const trigger = node.trigger ?? 'all_success';
    if (this.fatalNode !== undefined && !WIND_DOWN_TRIGGERS.has(trigger)) return 'skip';
    if (this.stopping && !STOP_TRIGGERS.has(trigger)) return 'skip';
    if (edges.length === 0) return 'run';
    const resolved = edges.map((e) => this.resolve(e));
    const sourceFailed = edges.map((e) => FAILED_SOURCE.has(this.states.get(e.from)!.status));
    const runIf = (condition: boolean) => (condition ? 'run' : 'skip');
    switch (trigger) {
      case 'all_success':
        return runIf(resolved.every((r) => r === 'taken'));
      case 'none_failed':
        return runIf(!resolved.includes('failed') && resolved.includes('taken'));
      case 'all_done':
        // "Runs whatever the upstream states" (DESIGN.md): a plain edge counts even from a SKIPPED
        // node, so cleanup runs after a failure wound the run down; only untaken branch and
        // error edges keep it from running.
        return runIf(edges.some((e, i) => resolved[i] !== 'untaken' || (e.when === undefined && e.on === undefined)));
      case 'always':
        return 'run';
      case 'none_skipped':
        return runIf(!resolved.includes('untaken'));
      case 'all_failed':
        return runIf(sourceFailed.every(Boolean));
      case 'one_success':
        if (resolved.includes('taken')) return 'run';
        return allTerminal ? 'skip' : 'wait';
      case 'one_failed':
        if (sourceFailed.includes(true)) return 'run';
        return allTerminal ? 'skip' : 'wait';
    }
  }

  private resolve(edge: EdgeDef): EdgeResolution {
    const source = this.states.get(edge.from)!;
    if (edge.on === 'error') return source.status === 'FAILED' && takesError(edge, source.errorType) ? 'taken' : 'untaken';
    switch (source.status) {
      case 'SUCCEEDED':
        return edge.when === undefined || edge.when === source.branch ? 'taken' : 'untaken';
      case 'FAILED':
      case 'CANCELLED':
        return 'failed';
      default:
        return 'untaken';
    }
  }
}

/** Upstream states the failure triggers (`one_failed`, `all_failed`) count as failed. */
const FAILED_SOURCE: ReadonlySet<NodeStatus> = new Set(['FAILED', 'CANCELLED']);

/** An error edge takes a failure when it names no types, names the failure's type, or names "*". */
function takesError(edge: EdgeDef, errorType: string | undefined): boolean {
  if (edge.errors === undefined) return true;
  return edge.errors.includes(ANY_ERROR) || (errorType !== undefined && edge.errors.includes(errorType));
}
