import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { patched, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { RUN_LABELS_PATCH } from '../contracts/patches';

/**
 * The search attributes and memo every run Trellis starts carries (DESIGN.md §7), so the
 * Temporal Web UI can find "runs of workflow X" or "tenant Y's runs" among runs that are all
 * `dagWorkflow`. `trellis temporal setup` registers the keys in the namespace; a start with a key
 * the namespace does not know is refused by Temporal, so the client side adds them only once it
 * has seen them registered (src/temporal/search-attribute-setup.ts), and the workflow side only
 * copies what its own run already carries.
 */
export const TRELLIS_TENANT = defineSearchAttributeKey('TrellisTenant', SearchAttributeType.KEYWORD);
export const TRELLIS_WORKFLOW_ID = defineSearchAttributeKey('TrellisWorkflowId', SearchAttributeType.KEYWORD);
export const TRELLIS_WORKFLOW_VERSION = defineSearchAttributeKey('TrellisWorkflowVersion', SearchAttributeType.INT);
export const TRELLIS_TRIGGER = defineSearchAttributeKey('TrellisTrigger', SearchAttributeType.KEYWORD);

/** Every key, for `trellis temporal setup`. */
export const TRELLIS_SEARCH_ATTRIBUTES = [TRELLIS_TENANT, TRELLIS_WORKFLOW_ID, TRELLIS_WORKFLOW_VERSION, TRELLIS_TRIGGER] as const;

/** The memo field with the stored workflow's name (names change and are not unique: memo, not an attribute). */
export const WORKFLOW_NAME_MEMO = 'trellisWorkflowName';

/** How a top-level run started (the mirror's trigger), or what kind of child a run is. */
export type RunTrigger = 'MANUAL' | 'SCHEDULE' | 'RETRY' | 'WEBHOOK' | 'EXTERNAL' | 'RERUN' | ChildTrigger;
/** A `subworkflow` node's run, a map or loop node's child, or one batch of a map's items. */
export type ChildTrigger = 'SUBWORKFLOW' | 'ITERATION' | 'MAP_BATCH';

export interface RunLabels {
  tenantId?: string;
  workflowId?: string;
  version?: number;
  trigger: RunTrigger;
  workflowName?: string;
}

/** The attributes of a run; absent facts are left out (Temporal has no null for a start). */
export function runSearchAttributes(labels: RunLabels): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: TRELLIS_TRIGGER, value: labels.trigger }];
  if (labels.tenantId) pairs.push({ key: TRELLIS_TENANT, value: labels.tenantId });
  if (labels.workflowId) pairs.push({ key: TRELLIS_WORKFLOW_ID, value: labels.workflowId });
  if (Number.isSafeInteger(labels.version)) pairs.push({ key: TRELLIS_WORKFLOW_VERSION, value: labels.version! });
  return pairs;
}

export function runMemo(labels: Pick<RunLabels, 'workflowName'>): Record<string, unknown> | undefined {
  return labels.workflowName ? { [WORKFLOW_NAME_MEMO]: labels.workflowName } : undefined;
}

interface ChildLabelOptions {
  typedSearchAttributes?: SearchAttributePair[];
  memo?: Record<string, unknown>;
}

/**
 * Options for a child start (inside a workflow): the parent's tenant, and its workflow and
 * version unless the child runs another stored workflow (a `subworkflow` node). Nothing when
 * the parent carries no Trellis attributes: the namespace may not know the keys, and a child
 * start with an unknown key would fail the parent's workflow task over and over.
 */
export function childRunOptions(trigger: ChildTrigger, runs?: { workflowId: string; version?: unknown }): ChildLabelOptions {
  const info = workflowInfo();
  const attributes = info.typedSearchAttributes;
  if (attributes.get(TRELLIS_TRIGGER) === undefined) return {};
  const tenantId = attributes.get(TRELLIS_TENANT);
  const labels: RunLabels = runs
    ? { trigger, tenantId, workflowId: runs.workflowId, ...(typeof runs.version === 'number' && { version: runs.version }) }
    : { trigger, tenantId, workflowId: attributes.get(TRELLIS_WORKFLOW_ID), version: attributes.get(TRELLIS_WORKFLOW_VERSION) };
  const name = runs ? undefined : info.memo?.[WORKFLOW_NAME_MEMO];
  return { typedSearchAttributes: runSearchAttributes(labels), ...(typeof name === 'string' && { memo: { [WORKFLOW_NAME_MEMO]: name } }) };
}


/**
 * A run learns its version and name only once it loads its definition when its start could not
 * say them (a schedule's run takes the latest version; a subworkflow may name none): it adds
 * them then. Two commands, for those runs only; a run started by the API already has both.
 */
export function completeRunLabels(run: { version?: number; workflowName?: string }): void {
  const info = workflowInfo();
  const attributes = info.typedSearchAttributes;
  if (attributes.get(TRELLIS_TRIGGER) === undefined) return;
  const version = Number.isSafeInteger(run.version) && attributes.get(TRELLIS_WORKFLOW_VERSION) === undefined ? run.version : undefined;
  const name = run.workflowName && info.memo?.[WORKFLOW_NAME_MEMO] === undefined ? run.workflowName : undefined;
  if ((version === undefined && name === undefined) || !patched(RUN_LABELS_PATCH)) return;
  if (version !== undefined) upsertSearchAttributes([{ key: TRELLIS_WORKFLOW_VERSION, value: version }]);
  if (name !== undefined) upsertMemo({ [WORKFLOW_NAME_MEMO]: name });
}
