import { Value, type ValueError } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { DefinitionSchema, MAX_NODES, type EdgeDef, type NodeDef, type WorkflowDefinition } from './definition';
import { parseDuration, parseIsoDateTime } from './duration';
import { MAX_RUN_TIMEOUT_MS } from './policy';
import { referenceProblems } from './references';
import { applicabilityProblems, retrierProblems } from './field-rules';
import { escapePointer, expressionProblem, parseTemplate, templateExpressions, wholeTemplateExpression } from './expressions';
import { BUILTIN_CATALOG, type NodeCatalog, type NodeTypeSpec } from './node-types';
import { defaultsModeProblems, executionModeProblems } from './execution-mode';
import { findCycle } from './graph';
import { literalCredentialWarnings, secretProblems } from './validate-secrets';
import { ITERATION_TYPES } from './iteration';
import { bodyProblems, wholeDefinitionProblems } from './validate-iteration';
import { nodeLimitProblems, runConcurrencyProblems } from './flow-control';

import type { ValidationProblem } from './validation-problem';

export type { ValidationProblem };

export interface ValidationResult {
  valid: boolean;
  errors: ValidationProblem[];
  /** Not errors: e.g. a credential typed into the definition (use secrets instead). */
  warnings?: ValidationProblem[];
}

export interface ValidateOptions {
  /** Node types known to this deployment; the built-in types are always known. */
  catalog?: NodeCatalog;
  /**
   * Accept unknown types as activity types (the workflow sandbox cannot see the worker's
   * registry; a type the worker lacks then fails at its activity instead).
   */
  allowUnknownTypes?: boolean;
  /**
   * For definitions already stored or already running: skip the checks added after they may have
   * been saved (fields that mean nothing for the node's type, `nodes.X` not upstream), so a run
   * of an old version still starts and a recorded history still replays.
   */
  acceptStored?: boolean;
  /** The tenant's secret names (at save time): a reference to any other name is an error. */
  secretNames?: ReadonlySet<string>;
}

/** Checks a definition against every rule of DESIGN.md §1 and lists every problem found. */
export function validateDefinition(definition: unknown, options: ValidateOptions = {}, bodyDepth = 0): ValidationResult {
  const errors: ValidationProblem[] = [];
  const structural = schemaProblems(DefinitionSchema, definition, '');
  errors.push(...structural);
  if (structural.some((p) => p.path === '' || p.path === '/nodes')) return { valid: false, errors };

  const def = definition as WorkflowDefinition;
  const catalog = options.catalog ?? BUILTIN_CATALOG;
  const nodes: NodeDef[] = Array.isArray(def.nodes) ? def.nodes : [];
  const edges: EdgeDef[] = Array.isArray(def.edges) ? def.edges : [];

  if (nodes.length > MAX_NODES) {
    errors.push({ path: '/nodes', message: `a workflow may have at most ${MAX_NODES} nodes (it has ${nodes.length})` });
  }

  const warnings: ValidationProblem[] = [];
  const specs = new Map<string, NodeTypeSpec | undefined>();
  const firstIndex = new Map<string, number>();
  nodes.forEach((node, i) => {
    if (!node || typeof node !== 'object') return;
    const path = `/nodes/${i}`;
    if (typeof node.id === 'string') {
      const seen = firstIndex.get(node.id);
      if (seen !== undefined) errors.push({ path: `${path}/id`, message: `duplicate node id "${node.id}" (also /nodes/${seen})` });
      else firstIndex.set(node.id, i);
    }
    if (typeof node.type !== 'string') return;
    const spec = BUILTIN_CATALOG.get(node.type) ?? catalog.get(node.type);
    if (!spec && !options.allowUnknownTypes) {
      const known = [...new Set([...BUILTIN_CATALOG.keys(), ...catalog.keys()])].sort().join(', ');
      errors.push({ path: `${path}/type`, message: `unknown node type "${node.type}" (known: ${known})` });
    }
    if (typeof node.id === 'string') specs.set(node.id, spec);
    errors.push(...nodeProblems(node, path, spec));
    if (!options.acceptStored) errors.push(...applicabilityProblems(node, path, spec ?? (options.allowUnknownTypes ? undefined : null)));
    errors.push(...secretProblems(node, path, spec, options.secretNames));
    warnings.push(...literalCredentialWarnings(node, path, spec));
    if (spec || options.allowUnknownTypes) errors.push(...executionModeProblems(node, path, spec, def.defaults));
    if (spec || options.allowUnknownTypes) errors.push(...nodeLimitProblems(node, path, (spec?.execution ?? 'activity') === 'activity'));
  });

  errors.push(...policyProblems(def.defaults, '/defaults'));
  errors.push(...defaultsModeProblems(def.defaults));
  errors.push(...edgeProblems(edges, firstIndex, specs));
  errors.push(...runTimeoutProblems(def.runTimeout));
  if (bodyDepth === 0) errors.push(...runConcurrencyProblems(def.concurrency));
  errors.push(...retentionProblems((def as { retention?: unknown }).retention));
  // A body's expressions may also read the enclosing graph's upstream nodes, which a body alone
  // does not know, so `nodes.X` is checked for the top-level graph only.
  if (!options.acceptStored && bodyDepth === 0) errors.push(...referenceProblems(nodes, edges, specs));

  const ids = [...firstIndex.keys()];
  const cycle = findCycle(
    ids,
    edges.filter((e) => firstIndex.has(e?.from) && firstIndex.has(e?.to)),
  );
  if (cycle) errors.push({ path: '/edges', message: `cycle: ${[...cycle, cycle[0]].join(' -> ')}` });

  // map and loop bodies: the same rules, recursively; ids and the node cap span the whole tree.
  errors.push(...bodyProblems(nodes, bodyDepth, (body, depth) => validateDefinition(body, options, depth)));
  if (bodyDepth === 0) errors.push(...wholeDefinitionProblems({ nodes }));

  return { valid: errors.length === 0, errors: unique(errors), ...(warnings.length > 0 && { warnings }) };
}

/** The schema and the duration check both reject e.g. a negative timeout: list it once. */
function unique(problems: ValidationProblem[]): ValidationProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function nodeProblems(node: NodeDef, path: string, spec: NodeTypeSpec | undefined): ValidationProblem[] {
  const problems = policyProblems(node, path);
  const config = node.config ?? {};
  if (spec) {
    // A field holding a whole `{{ expr }}` is checked against the schema once it has a value.
    problems.push(
      ...schemaProblems(spec.configSchema, config, `${path}/config`).filter((p) => !isTemplateAt(config, p.path, path)),
    );
    for (const field of spec.expressionFields ?? []) {
      const expression = config[field];
      if (typeof expression !== 'string') continue;
      const problem = expressionProblem(expression);
      if (problem) problems.push({ path: `${path}/config/${escapePointer(field)}`, message: problem });
    }
    for (const field of spec.durationFields ?? []) {
      const value = config[field];
      // A template (whole or interpolated, e.g. "{{ input.n }}s") is only a duration once resolved.
      if (value === undefined || (typeof value === 'string' && parseTemplate(value) !== undefined)) continue;
      if (parseDuration(value) === undefined) {
        problems.push({ path: `${path}/config/${escapePointer(field)}`, message: durationMessage(value) });
      }
    }
    if (spec.type === 'delay' && typeof config.until === 'string' && parseTemplate(config.until) === undefined) {
      if (parseIsoDateTime(config.until) === undefined) {
        problems.push({ path: `${path}/config/until`, message: `"${config.until}" is not an ISO date-time with a zone (e.g. "2030-01-01T09:00:00Z")` });
      }
    }
  }
  for (const field of spec?.literalFields ?? []) {
    const value = config[field];
    if (typeof value === 'string' && value.includes('{{')) {
      problems.push({
        path: `${path}/config/${escapePointer(field)}`,
        message: `"${field}" must be written out in the definition, not built from a {{ }} template (run-time values go in "params" as $1, $2, so they can never change the statement)`,
      });
    }
  }
  const forged = findOutputRef(config, `${path}/config`);
  if (forged) problems.push({ path: forged, message: 'references to stored outputs ($trellisRef) are made by Trellis at run time, not written in a definition' });
  const rawFields = new Set([...(spec?.expressionFields ?? []), ...(ITERATION_TYPES.has(node.type) ? ['body'] : [])]);
  for (const [key, value] of Object.entries(config)) {
    if (rawFields.has(key)) continue;
    for (const found of templateExpressions(value, `${path}/config/${escapePointer(key)}`)) {
      const problem = expressionProblem(found.expression);
      if (problem) problems.push({ path: found.path, message: problem });
    }
  }
  return problems;
}

/** The path of the first object with a `$trellisRef` key, if any. */
function findOutputRef(value: unknown, path: string): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findOutputRef(value[i], `${path}/${i}`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    if (Object.hasOwn(value, '$trellisRef')) return `${path}/$trellisRef`;
    for (const [key, child] of Object.entries(value)) {
      const found = findOutputRef(child, `${path}/${escapePointer(key)}`);
      if (found) return found;
    }
  }
  return undefined;
}

const DURATION_KEYS = ['initialInterval', 'maximumInterval', 'startToClose', 'scheduleToClose', 'scheduleToStart', 'heartbeat'];

/** Durations inside `retry` (one policy or each retrier of a list) and `timeout` (of a node or of the defaults). */
function policyProblems(owner: { retry?: object; timeout?: object } | undefined, path: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const sections: [string, unknown][] = [[`${path}/timeout`, owner?.timeout]];
  if (Array.isArray(owner?.retry)) {
    owner.retry.forEach((retrier, i) => sections.push([`${path}/retry/${i}`, retrier]));
    problems.push(...retrierProblems(owner.retry, `${path}/retry`));
  } else {
    sections.push([`${path}/retry`, owner?.retry]);
  }
  for (const [sectionPath, policy] of sections) {
    if (!policy || typeof policy !== 'object') continue;
    for (const key of DURATION_KEYS) {
      const value = (policy as Record<string, unknown>)[key];
      if (value !== undefined && parseDuration(value) === undefined) {
        problems.push({ path: `${sectionPath}/${key}`, message: durationMessage(value) });
      }
    }
  }
  return problems;
}

function runTimeoutProblems(value: unknown): ValidationProblem[] {
  if (value === undefined) return [];
  const ms = parseDuration(value);
  if (ms === undefined) return [{ path: '/runTimeout', message: durationMessage(value) }];
  if (ms <= 0) return [{ path: '/runTimeout', message: 'must be longer than 0' }];
  if (ms > MAX_RUN_TIMEOUT_MS) return [{ path: '/runTimeout', message: `must be at most ${MAX_RUN_TIMEOUT_MS / 86_400_000} days` }];
  return [];
}

/** A definition's `retention` is at least a minute (DESIGN §7): shorter would delete runs as they are read. */
export const MIN_RETENTION_MS = 60_000;

function retentionProblems(value: unknown): ValidationProblem[] {
  if (value === undefined) return [];
  const ms = parseDuration(value);
  if (ms === undefined) return [{ path: '/retention', message: durationMessage(value) }];
  if (ms < MIN_RETENTION_MS) return [{ path: '/retention', message: 'must be at least 1m' }];
  return [];
}

function edgeProblems(
  edges: EdgeDef[],
  index: Map<string, number>,
  specs: Map<string, NodeTypeSpec | undefined>,
): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const seen = new Set<string>();
  edges.forEach((edge, i) => {
    if (!edge || typeof edge !== 'object') return;
    const path = `/edges/${i}`;
    for (const end of ['from', 'to'] as const) {
      if (typeof edge[end] === 'string' && !index.has(edge[end])) {
        problems.push({ path: `${path}/${end}`, message: `edge ${end} unknown node "${edge[end]}"` });
      }
    }
    // Schema problems of `from`/`to` are already listed; these checks need both to be names.
    if (typeof edge.from === 'string' && typeof edge.to === 'string') {
      if (edge.from === edge.to) problems.push({ path, message: `node "${edge.from}" cannot depend on itself` });
      const key = `${edge.from}\u0000${edge.to}\u0000${edge.when ?? ''}\u0000${edge.on ?? ''}`;
      if (seen.has(key)) problems.push({ path, message: `duplicate edge ${edge.from} -> ${edge.to}` });
      seen.add(key);
    }

    if (!index.has(edge.from)) return;
    const labels = specs.get(edge.from)?.branchLabels;
    if (edge.on !== 'error' && edge.errors !== undefined) {
      problems.push({ path: `${path}/errors`, message: '"errors" filters error edges only (add "on": "error")' });
    }
    if (edge.on === 'error') {
      if (edge.when !== undefined) problems.push({ path: `${path}/when`, message: 'an error edge cannot carry a "when" label' });
    } else if (labels === undefined) {
      if (edge.when !== undefined) {
        problems.push({ path: `${path}/when`, message: `"when" is only allowed on edges out of condition or switch nodes` });
      }
    } else if (edge.when === undefined) {
      const allowed = labels === 'any' ? 'a case or "default"' : labels.map((l) => `"${l}"`).join(' or ');
      problems.push({ path, message: `edges out of branch node "${edge.from}" need "when": ${allowed}` });
    } else if (labels !== 'any' && !labels.includes(edge.when)) {
      problems.push({ path: `${path}/when`, message: `"when" must be ${labels.map((l) => `"${l}"`).join(' or ')}` });
    }
  });
  return problems;
}

function schemaProblems(schema: TSchema, value: unknown, prefix: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    const problem = { path: prefix + error.path, message: describe(error) };
    const key = `${problem.path}\u0000${problem.message}`;
    if (!seen.has(key)) problems.push(problem);
    seen.add(key);
  }
  return problems;
}

function describe(error: ValueError): string {
  const property = error.path.split('/').pop() ?? '';
  if (error.message.startsWith('Expected union') && /interval|close|start|heartbeat|duration|timeout/i.test(property)) {
    return durationMessage(error.value);
  }
  const pattern = (error.schema as { pattern?: string }).pattern;
  if (pattern && property === 'id') return `node id must match ${pattern}`;
  if (error.message === 'Unexpected property') return `unknown property "${property}"`;
  const literals = ((error.schema as { anyOf?: { const?: unknown }[] }).anyOf ?? []).map((s) => s.const);
  if (literals.length > 0 && literals.every((l) => typeof l === 'string')) {
    return `must be one of ${literals.map((l) => `"${String(l)}"`).join(', ')}`;
  }
  return error.message.charAt(0).toLowerCase() + error.message.slice(1);
}

function durationMessage(value: unknown): string {
  return `${JSON.stringify(value)} is not a duration of at most 366d (use e.g. "500ms", "10s", "5m", "1h" or milliseconds)`;
}

/** True when the value at a config error's path is a whole-template string. */
function isTemplateAt(config: Record<string, unknown>, errorPath: string, nodePath: string): boolean {
  const pointer = errorPath.slice(`${nodePath}/config`.length);
  let value: unknown = config;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (value === null || typeof value !== 'object') return false;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === 'string' && wholeTemplateExpression(value) !== undefined;
}
