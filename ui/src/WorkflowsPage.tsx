import { useState, type FormEvent } from 'react';
import { useCursorPages } from './Pager';
import { client, ok } from './api';
import { EXAMPLES } from './examples';
import { errorText, when } from './format';
import { useLoad } from './hooks';
import { Link, navigate } from './router';

const STARTER = (name: string) => ({
  name,
  nodes: [
    { id: 'greet', type: 'transform', config: { expression: "'hello ' & input.who" } },
    { id: 'done', type: 'noop' },
  ],
  edges: [{ from: 'greet', to: 'done' }],
});

export function WorkflowsPage() {
  const { cursor, pager } = useCursorPages();
  const { data, error } = useLoad(
    () => ok(client.GET('/workflows', { params: { query: { limit: 20, ...(cursor ? { cursor } : {}) } } })),
    [cursor],
  );
  return (
    <>
      <h1>Workflows</h1>
      <CreateWorkflow />
      <CreateFromExample />
      {error && <p className="error">{error}</p>}
      <table className="list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Version</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((w) => (
            <tr key={w.id}>
              <td>
                <Link to={`/workflows/${w.id}`}>{w.name}</Link>
                {w.description && <div className="muted">{w.description}</div>}
              </td>
              <td>v{w.version}</td>
              <td>{when(w.updatedAt)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 && (
            <tr>
              <td colSpan={3} className="muted">
                No workflows yet: create one above.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {pager(data?.nextCursor)}
    </>
  );
}

function CreateWorkflow() {
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const created = await ok(client.POST('/workflows', { body: { name: name.trim(), definition: STARTER(name.trim()) } }));
      navigate(`/workflows/${created.id}`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form className="inline card" onSubmit={submit}>
      <label htmlFor="new-name">New workflow</label>
      <input id="new-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="name" />
      <button type="submit" disabled={!name.trim()}>
        Create
      </button>
      <span className="muted">starts from a two-node example you can edit</span>
      {error && <span className="error">{error}</span>}
    </form>
  );
}

/** "New from example": one of examples/ (bundled into the console) stored as a new workflow. */
function CreateFromExample() {
  const [name, setName] = useState(EXAMPLES[0]?.name ?? '');
  const [error, setError] = useState<string>();
  if (EXAMPLES.length === 0) return null;
  const example = EXAMPLES.find((e) => e.name === name);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!example) return;
    try {
      const created = await ok(client.POST('/workflows', { body: { name: example.name, description: example.description, definition: example.definition } }));
      navigate(`/workflows/${created.id}`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form className="inline card" onSubmit={submit}>
      <label htmlFor="example">New from example</label>
      <select id="example" value={name} onChange={(e) => setName(e.target.value)}>
        {EXAMPLES.map((x) => (
          <option key={x.name} value={x.name}>
            {x.name}
          </option>
        ))}
      </select>
      <button type="submit">Create from example</button>
      {example && <span className="muted">{example.description}</span>}
      {error && <span className="error">{error}</span>}
    </form>
  );
}
