import { useState } from 'react';
import { client, ok } from './api';
import { navigate } from './router';

/**
 * "Rerun from here": a new run from this node (it and everything downstream run again), with the
 * kept nodes' outputs editable first (`outputs` of POST /executions/:id/rerun). The API's 400
 * names every node the rerun cannot go without; it is shown as is.
 */
export function RerunForm({ executionId, nodeId }: { executionId: string; nodeId: string }) {
  const [open, setOpen] = useState(false);
  const [outputs, setOutputs] = useState('{}');
  const [error, setError] = useState<string>();
  if (!open) {
    return (
      <button type="button" data-testid="rerun-open" onClick={() => setOpen(true)}>
        Rerun from here
      </button>
    );
  }
  const submit = async () => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(outputs) as Record<string, unknown>;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('outputs must be a JSON object: { "nodeId": output }');
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    try {
      const next = await ok(client.POST('/executions/{id}/rerun', { params: { path: { id: executionId } }, body: { fromNodes: [nodeId], outputs: parsed } }));
      navigate(`/runs/${next.id}`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <div className="rerun-form" data-testid="rerun-form">
      <label>
        Outputs of kept nodes to replace first (JSON, by node id)
        <textarea data-testid="rerun-outputs" rows={5} value={outputs} onChange={(e) => setOutputs(e.target.value)} spellCheck={false} />
      </label>
      <button type="button" data-testid="rerun-submit" onClick={() => void submit()}>
        Rerun from {nodeId}
      </button>{' '}
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
