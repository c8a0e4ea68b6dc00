import { describe, expect, it } from 'vitest';
import { bodyRunUrl } from '../../ui/src/temporal-links';

// The console links each map item (or loop iteration) to the workflow that ran its body.
describe('bodyRunUrl', () => {
  const config = { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'team a' };

  it("opens the item's workflow run in the Temporal Web UI, ids escaped", () => {
    expect(bodyRunUrl(config, { workflowId: 'exec-1.big.0-99', runId: 'r/1' })).toBe(
      'http://127.0.0.1:8233/namespaces/team%20a/workflows/exec-1.big.0-99/r%2F1/history',
    );
  });

  it('searches by workflow id without a run id, and has no link for rows recorded without a workflow', () => {
    expect(bodyRunUrl(config, { workflowId: 'exec-1', runId: null })).toBe(
      `http://127.0.0.1:8233/namespaces/team%20a/workflows?query=${encodeURIComponent('WorkflowId="exec-1"')}`,
    );
    expect(bodyRunUrl(config, { workflowId: null, runId: null })).toBeUndefined();
  });
});
