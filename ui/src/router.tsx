import { useEffect, useState, type MouseEvent, type ReactNode } from 'react';

// A few client-side routes under /ui/; the server answers index.html for each of them.
const BASE = '/ui';

function current(): string {
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : '/';
  return path || '/';
}

export function navigate(to: string): void {
  window.history.pushState(null, '', BASE + to);
  window.dispatchEvent(new Event('trellis:navigate'));
  window.scrollTo(0, 0);
}

export function useRoute(): string {
  const [path, setPath] = useState(current);
  useEffect(() => {
    const update = () => setPath(current());
    window.addEventListener('popstate', update);
    window.addEventListener('trellis:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('trellis:navigate', update);
    };
  }, []);
  return path;
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const onClick = (e: MouseEvent) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={BASE + to} onClick={onClick} className={className}>
      {children}
    </a>
  );
}

/**
 * One query-string parameter of the page's address as state (list filters live in the URL, so a
 * filtered list can be linked, bookmarked and reloaded). Setting it replaces the history entry;
 * an empty value removes the parameter.
 */
export function useQueryParam(name: string): [string, (value: string) => void] {
  const read = () => new URLSearchParams(window.location.search).get(name) ?? '';
  const [value, setValue] = useState(read);
  useEffect(() => {
    const update = () => setValue(read());
    window.addEventListener('popstate', update);
    window.addEventListener('trellis:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('trellis:navigate', update);
    };
  }, [name]);
  const set = (next: string) => {
    const params = new URLSearchParams(window.location.search);
    if (next) params.set(name, next);
    else params.delete(name);
    const search = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (search ? `?${search}` : ''));
    setValue(next);
  };
  return [value, set];
}
