import type { EdgeDef, NodeDef, NodeStatus, WorkflowDefinition } from './definition';
import { isTerminal } from './definition';

/** What a finished node tells the planner: its terminal status and, for branch nodes, the label taken. */
export interface NodeOutcome {
  status: NodeStatus;
  branch?: string;
}

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
    this.states.set(id, { status: outcome.status, branch: outcome.branch });
    if (outcome.status === 'FAILED' && this.failsRun(id)) this.fatalNode ??= id;
    return this.decide((this.outgoing.get(id) ?? []).map((e) => e.to));
  }

  /**
   * After a fatal failure the run winds down: nodes not started yet are SKIPPED except cleanup
   * nodes (`all_done`), which still run once their upstream is terminal.
   */
  get failedNode(): string | undefined {
    return this.fatalNode;
  }

  /** A FAILED node fails the run unless it continues on error or has an error edge. */
  failsRun(id: string): boolean {
    const node = this.nodes.get(id);
    if (!node || node.onError === 'continue') return false;
    return !(this.outgoing.get(id) ?? []).some((e) => e.on === 'error');
  }

  /** The label a branch node's edges are matched against, from its output. */
  branchLabel(id: string, value: unknown): string {
    if (typeof value === 'boolean') return String(value);
    const label = String(value);
    const labels = new Set((this.outgoing.get(id) ?? []).map((e) => e.when));
    return labels.has(label) ? label : 'default';
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
      if (!edges.every((e) => isTerminal(this.states.get(e.from)!.status))) continue;
      if (this.shouldRun(this.nodes.get(id)!, edges)) {
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

  private shouldRun(node: NodeDef, edges: EdgeDef[]): boolean {
    const trigger = node.trigger ?? 'all_success';
    if (this.fatalNode !== undefined && trigger !== 'all_done') return false;
    if (edges.length === 0) return true;
    const resolved = edges.map((e) => this.resolve(e));
    switch (trigger) {
      case 'all_success':
        return resolved.every((r) => r === 'taken');
      case 'none_failed':
        return !resolved.includes('failed') && resolved.includes('taken');
      case 'all_done':
        // "Runs whatever the upstream states" (DESIGN.md): a plain edge counts even from a SKIPPED
        // node, so cleanup runs after a failure wound the run down; only untaken branch and
        // error edges keep it from running.
        return edges.some((e, i) => resolved[i] !== 'untaken' || (e.when === undefined && e.on === undefined));
    }
  }

  private resolve(edge: EdgeDef): EdgeResolution {
    const source = this.states.get(edge.from)!;
    if (edge.on === 'error') return source.status === 'FAILED' ? 'taken' : 'untaken';
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
