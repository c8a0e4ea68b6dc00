import { useEffect, useMemo, useState } from 'react';
import { client, ok, ApiError, type ErrorDetail } from './api';
import { errorText, json } from './format';

type TestNodeResult = Awaited<ReturnType<typeof runTest>>;

function runTest(body: { definition: unknown; nodeId: string; input?: unknown; nodes?: Record<string, { output: unknown }> }) {
  return ok(client.POST('/workflows/test-node', { body }));
}

/** The top-level node ids (and types) of the definition text, when it parses. */
function nodesOf(text: string): { id: string; type: string }[] {
  try {
    const parsed = JSON.parse(text) as { nodes?: unknown };
    if (!Array.isArray(parsed.nodes)) return [];
    return parsed.nodes.filter((n): n is { id: string; type: string } => !!n && typeof n.id === 'string').map((n) => ({ id: n.id, type: String(n.type) }));
  } catch {
    return [];
  }
}

/** A JSON text field, or undefined when it is empty; throws naming the field when it is not JSON. */
function parseField(text: string, what: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not JSON: ${errorText(err)}`);
  }
}

/**
 * "Test node" (POST /workflows/test-node): one node of the definition being edited (saved or
 * not) against an input and the outputs of the nodes it reads. In-workflow types are evaluated by
 * the API; activity types run once for real on a worker, under this key's tenant, without retries.
 */
export function TestNodePanel({ text, sampleInput }: { text: string; sampleInput?: unknown }) {
  const nodes = useMemo(() => nodesOf(text), [text]);
  const [nodeId, setNodeId] = useState('');
  const [input, setInput] = useState('{}');
  const [upstream, setUpstream] = useState('{}');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestNodeResult>();
  const [problem, setProblem] = useState<{ message: string; details?: ErrorDetail[] }>();
  useEffect(() => {
    if (sampleInput !== undefined) setInput(json(sampleInput));
  }, [sampleInput]);
  // Keeps the pick while it is still a node; otherwise the first one.
  useEffect(() => {
    if (!nodes.some((n) => n.id === nodeId)) setNodeId(nodes[0]?.id ?? '');
  }, [nodes, nodeId]);

  const test = async () => {
    setResult(undefined);
    setProblem(undefined);
    let body: Parameters<typeof runTest>[0];
    try {
      const outputs = parseField(upstream, 'upstream outputs');
      if (outputs !== undefined && (outputs === null || typeof outputs !== 'object' || Array.isArray(outputs))) {
        throw new Error('upstream outputs must be a JSON object: { "nodeId": output }');
      }
      const given = Object.entries((outputs ?? {}) as Record<string, unknown>);
      const parsedInput = parseField(input, 'input');
      body = {
        definition: parseField(text, 'the definition'),
        nodeId,
        ...(parsedInput === undefined ? {} : { input: parsedInput }),
        ...(given.length > 0 && { nodes: Object.fromEntries(given.map(([id, output]) => [id, { output }])) }),
      };
    } catch (err) {
      return setProblem({ message: errorText(err) });
    }
    setBusy(true);
    try {
      setResult(await runTest(body));
    } catch (err) {
      setProblem({ message: errorText(err), ...(err instanceof ApiError && Array.isArray(err.details) && { details: err.details as ErrorDetail[] }) });
    } finally {
      setBusy(false);
    }
  };

  const type = nodes.find((n) => n.id === nodeId)?.type;
  return (
    <div className="card test-node" data-testid="test-node">
      <h2>Test node</h2>
      <p className="muted small">
        Runs one node of the definition above (unsaved edits included). Transform, condition and switch are evaluated here; other types run once
        for real on a worker, without retries.
      </p>
      <label>
        node{' '}
        <select aria-label="node to test" value={nodeId} onChange={(e) => setNodeId(e.target.value)} disabled={nodes.length === 0}>
          {nodes.map((n) => (
            <option key={n.id} value={n.id}>
              {n.id} ({n.type})
            </option>
          ))}
        </select>
      </label>
      <label>
        Input (JSON)
        <textarea aria-label="test input" className="small-area" spellCheck={false} value={input} onChange={(e) => setInput(e.target.value)} />
      </label>
      <label>
        Upstream outputs (JSON, by node id)
        <textarea aria-label="upstream outputs" className="small-area" spellCheck={false} value={upstream} onChange={(e) => setUpstream(e.target.value)} />
      </label>
      <button type="button" onClick={() => void test()} disabled={busy || !nodeId}>
        {busy ? 'Testing…' : `Test ${nodeId || 'node'}`}
      </button>
      {problem && (
        <div className="error" role="alert" data-testid="test-node-problem">
          <p>{problem.message}</p>
          {problem.details && (
            <ul className="errors">
              {problem.details.map((d, k) => (
                <li key={k}>
                  <code>{d.path || '/'}</code> {d.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {result && (
        <div className="test-node-result" data-testid="test-node-result">
          <p>
            <span className={`badge ${result.status}`} data-testid="test-node-status">
              {result.status}
            </span>{' '}
            <span className="muted">
              {type ?? ''} · {result.durationMs < 1 ? '<1' : Math.round(result.durationMs)} ms · {result.attempts} attempt{result.attempts === 1 ? '' : 's'}
            </span>
          </p>
          {result.error ? (
            <pre className="error" data-testid="test-node-error">
              {result.error.type}: {result.error.message}
            </pre>
          ) : (
            <pre data-testid="test-node-output">{json(result.output)}</pre>
          )}
        </div>
      )}
    </div>
  );
}
