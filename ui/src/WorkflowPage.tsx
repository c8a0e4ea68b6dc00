import { useCallback, useEffect, useMemo, useState } from 'react';
import { client, ok, ApiError, uiConfig, type Definition, type ErrorDetail, type NodeView, type WorkflowDetail, type WorkflowVersion } from './api';
import { Dag } from './Dag';
import { DefinitionEditor } from './DefinitionEditor';
import { exampleNamed, sampleInputOf } from './examples';
import { errorText, json } from './format';
import { useLoad } from './hooks';
import { Link, navigate } from './router';
import { RunsList } from './RunsPage';
import { SchedulesPanel } from './SchedulesPanel';
import { TestNodePanel } from './TestNode';

const NO_NODES = new Map<string, NodeView>();

/** The input a run of this workflow likely wants: its example's sampleInput (pointed at this server's demo target). */
function useSampleInput(workflowName: string | undefined): unknown {
  const [input, setInput] = useState<unknown>();
  useEffect(() => {
    const example = exampleNamed(workflowName);
    if (!example) return setInput(undefined);
    void uiConfig().then((config) => setInput(sampleInputOf(example, config.demoBaseUrl)));
  }, [workflowName]);
  return input;
}

/** The graph of the definition being edited, redrawn as it changes (the last text that parsed). */
function DagPreview({ text }: { text: string }) {
  const [selected, setSelected] = useState<string>();
  const definition = useMemo(() => {
    try {
      const parsed = JSON.parse(text) as Definition;
      return parsed && Array.isArray(parsed.nodes) && parsed.nodes.every((n) => n && typeof n.id === 'string') ? parsed : undefined;
    } catch {
      return undefined;
    }
  }, [text]);
  const [last, setLast] = useState<Definition>();
  useEffect(() => {
    if (definition) setLast(definition);
  }, [definition]);
  const shown = definition ?? last;
  return (
    <div className="dag-preview" data-testid="dag-preview">
      <h3>Preview{!definition && shown ? ' (last valid JSON)' : ''}</h3>
      {shown ? <Dag definition={shown} nodes={NO_NODES} selected={selected} onSelect={setSelected} now={0} /> : <p className="muted">no graph yet</p>}
    </div>
  );
}

export function WorkflowPage({ id }: { id: string }) {
  const { data: workflow, error, reload } = useLoad(() => ok(client.GET('/workflows/{id}', { params: { path: { id } } })) as Promise<WorkflowDetail>, [id]);
  const [version, setVersion] = useState<number>();
  const [text, setText] = useState('');
  const [valid, setValid] = useState(false);
  const [saveErrors, setSaveErrors] = useState<ErrorDetail[]>();
  const [message, setMessage] = useState<string>();

  // The latest version on load (and after a save); another version when picked.
  useEffect(() => {
    if (!workflow) return;
    setVersion(workflow.version);
    setText(json(workflow.definition));
  }, [workflow]);

  const pick = async (v: number) => {
    setVersion(v);
    setSaveErrors(undefined);
    const one = (await ok(client.GET('/workflows/{id}/versions/{version}', { params: { path: { id, version: v } } }))) as WorkflowVersion;
    setText(json(one.definition));
  };

  const save = async () => {
    setMessage(undefined);
    setSaveErrors(undefined);
    try {
      const saved = (await ok(client.PUT('/workflows/{id}', { params: { path: { id } }, body: { definition: JSON.parse(text) as unknown } }))) as WorkflowDetail;
      setMessage(`saved as version ${saved.version}`);
      reload();
    } catch (err) {
      if (err instanceof ApiError && Array.isArray(err.details)) setSaveErrors(err.details as ErrorDetail[]);
      setMessage(errorText(err));
    }
  };
  const onValidity = useCallback((v: boolean) => setValid(v), []);
  const sampleInput = useSampleInput(workflow?.name);

  if (error) return <p className="error">{error}</p>;
  if (!workflow) return <p className="muted">loading…</p>;
  const latest = workflow.version;
  return (
    <>
      <p className="crumbs">
        <Link to="/">Workflows</Link> / {workflow.name}
      </p>
      <h1>
        {workflow.name} <span className="muted mono small">{workflow.id}</span>
        {workflow.archived && <span className="badge CANCELLED">archived</span>}
      </h1>
      {workflow.description && <p>{workflow.description}</p>}

      <div className="columns">
        <section className="card grow">
          <div className="row">
            <h2>Definition</h2>
            <label>
              version{' '}
              <select aria-label="version" value={version ?? latest} onChange={(e) => void pick(Number(e.target.value))}>
                {Array.from({ length: latest }, (_, k) => latest - k).map((v) => (
                  <option key={v} value={v}>
                    v{v}
                    {v === latest ? ' (latest)' : ''}
                  </option>
                ))}
              </select>
            </label>
            <span className="spacer" />
            <button onClick={() => void save()} disabled={!valid}>
              Save as new version
            </button>
          </div>
          <div className="editor-and-preview">
            <DefinitionEditor text={text} onChange={setText} onValidity={onValidity} extraErrors={saveErrors} />
            <DagPreview text={text} />
          </div>
          {message && <p className="muted">{message}</p>}
          <TestNodePanel text={text} sampleInput={sampleInput} />
        </section>
        <aside className="side">
          <StartRun workflowId={workflow.id} disabled={workflow.archived} sampleInput={sampleInput} />
          <SchedulesPanel workflowId={workflow.id} defaultInput={sampleInput} />
        </aside>
      </div>

      <section>
        <h2>Runs</h2>
        <RunsList workflowId={workflow.id} />
      </section>
    </>
  );
}

function StartRun({ workflowId, disabled, sampleInput }: { workflowId: string; disabled: boolean; sampleInput: unknown }) {
  const [input, setInput] = useState('{\n  "who": "world"\n}');
  useEffect(() => {
    if (sampleInput !== undefined) setInput(json(sampleInput));
  }, [sampleInput]);
  const [error, setError] = useState<string>();
  const start = async () => {
    setError(undefined);
    let parsed: unknown;
    try {
      parsed = input.trim() ? JSON.parse(input) : undefined;
    } catch (err) {
      return setError(`input is not JSON: ${errorText(err)}`);
    }
    try {
      const run = await ok(client.POST('/executions', { body: { workflowId, ...(parsed === undefined ? {} : { input: parsed }) } }));
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div className="card">
      <h2>Start a run</h2>
      <textarea aria-label="run input" className="small-area" spellCheck={false} value={input} onChange={(e) => setInput(e.target.value)} />
      <button onClick={() => void start()} disabled={disabled}>
        Start run
      </button>
      {error && <p className="error">{error}</p>}
    </div>
  );
}
