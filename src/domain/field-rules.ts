import { ANY_ERROR, type NodeDef } from './definition';
import { escapePointer } from './expressions';
import type { NodeTypeSpec } from './node-types';
import type { ValidationProblem } from './validation-problem';

/*
 * Save-time rules on fields whose meaning depends on the node's type or on their order (issue
 * 12). Kept beside validate.ts, which calls them for every node.
 */

/** A retry list is read in order: "*" belongs in the last retrier, and a type is named once. */
export function retrierProblems(retriers: unknown[], path: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const named = new Map<string, number>();
  retriers.forEach((retrier, i) => {
    const errors = (retrier as { errors?: unknown } | null)?.errors;
    if (!Array.isArray(errors)) return;
    for (const type of errors) {
      if (typeof type !== 'string') continue;
      if (type === ANY_ERROR && i !== retriers.length - 1) {
        problems.push({ path: `${path}/${i}/errors`, message: `"${ANY_ERROR}" (every other error) may only be in the last retrier` });
      }
      const first = named.get(type);
      if (first !== undefined && first !== i) {
        problems.push({ path: `${path}/${i}/errors`, message: `"${type}" is already handled by retrier ${first}; this one would never apply` });
      }
      named.set(type, first ?? i);
    }
  });
  return problems;
}

/**
 * Fields that mean nothing for the node's type are errors, not silently ignored: `retry` and
 * `timeout` apply to activity nodes, a subworkflow takes `timeout.startToClose` (its child run's
 * limit). `spec` null: an unknown type (already reported); undefined: unknown but allowed (an activity).
 */
export function applicabilityProblems(node: NodeDef, path: string, spec: NodeTypeSpec | null | undefined): ValidationProblem[] {
  if (spec === null) return [];
  const execution = spec?.execution ?? 'activity';
  if (execution === 'activity') return [];
  const problems: ValidationProblem[] = [];
  const what = `a ${node.type} node`;
  if (node.retry !== undefined) {
    const why = execution === 'child' ? 'a child run is not retried (its own nodes retry)' : 'it runs no activity to retry';
    problems.push({ path: `${path}/retry`, message: `"retry" means nothing for ${what}: ${why}` });
  }
  if (node.timeout !== undefined && node.timeout !== null && typeof node.timeout === 'object') {
    for (const key of Object.keys(node.timeout)) {
      if (execution === 'child' && key === 'startToClose') continue;
      const hint = execution === 'child' ? ' (a subworkflow takes only "startToClose", the limit on its child run)' : ` (it runs no activity${node.type === 'approval' ? '; use config.timeout' : ''})`;
      problems.push({ path: `${path}/timeout/${escapePointer(key)}`, message: `"timeout.${key}" means nothing for ${what}${hint}` });
    }
  }
  return problems;
}
