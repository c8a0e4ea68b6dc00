import { StrictMode, useEffect, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { client, ok, getKey, setKey } from './api';
import { errorText } from './format';
import { Link, useRoute } from './router';
import { WorkflowsPage } from './WorkflowsPage';
import { WorkflowPage } from './WorkflowPage';
import { RunsPage } from './RunsPage';
import { RunPage } from './RunPage';
import { SchedulesPage } from './SchedulesPage';
import { LimitsPage } from './LimitsPage';
import './styles.css';

function useKey(): string | null {
  const [key, set] = useState(getKey);
  useEffect(() => {
    const update = () => set(getKey());
    window.addEventListener('trellis:key', update);
    return () => window.removeEventListener('trellis:key', update);
  }, []);
  return key;
}

function KeyForm() {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const key = value.trim();
    sessionStorage.setItem('trellis.apiKey', key);
    try {
      await ok(client.GET('/workflows', { params: { query: { limit: 1 } } })); // proves the key
      setKey(key);
    } catch (err) {
      setKey(null);
      setError(errorText(err));
    }
  };
  return (
    <div className="keygate">
      <h1>Trellis</h1>
      <form onSubmit={submit} className="card">
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} placeholder="trl_…" autoFocus />
        <button type="submit" disabled={!value.trim()}>
          Sign in
        </button>
        {error && <p className="error">{error}</p>}
        <p className="muted">Kept in this tab's session storage only. Create one with <code>trellis apikey create --tenant NAME</code>.</p>
      </form>
    </div>
  );
}

function Routes() {
  const path = useRoute();
  let m: RegExpMatchArray | null;
  if ((m = path.match(/^\/workflows\/([^/]+)$/))) return <WorkflowPage key={m[1]} id={decodeURIComponent(m[1]!)} />;
  if ((m = path.match(/^\/runs\/([^/]+)$/))) return <RunPage key={m[1]} id={decodeURIComponent(m[1]!)} />;
  if (path === '/runs' || path === '/runs/') return <RunsPage />;
  if (path === '/schedules' || path === '/schedules/') return <SchedulesPage />;
  if (path === '/limits' || path === '/limits/') return <LimitsPage />;
  return <WorkflowsPage />;
}

function App() {
  const key = useKey();
  const path = useRoute();
  if (!key) return <KeyForm />;
  return (
    <>
      <header className="top">
        <span className="brand">Trellis</span>
        <nav>
          <Link to="/" className={path.startsWith('/runs') || path.startsWith('/schedules') || path.startsWith('/limits') ? '' : 'active'}>
            Workflows
          </Link>
          <Link to="/runs" className={path.startsWith('/runs') ? 'active' : ''}>
            Runs
          </Link>
          <Link to="/schedules" className={path.startsWith('/schedules') ? 'active' : ''}>
            Schedules
          </Link>
          <Link to="/limits" className={path.startsWith('/limits') ? 'active' : ''}>
            Limits
          </Link>
        </nav>
        <button className="link" onClick={() => setKey(null)}>
          Forget key
        </button>
      </header>
      <main>
        <Routes />
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
