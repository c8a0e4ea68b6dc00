import { useEffect, useMemo, useRef, useState } from 'react';
import { client, ok, type ErrorDetail } from './api';
import { errorText } from './format';
import { lineOf, locatePointers, spanFor } from './json-locate';

interface Located extends ErrorDetail {
  line?: number;
  start?: number;
  end?: number;
}

/**
 * The definition as JSON text, validated by the server as you type (POST /workflows/validate);
 * each problem is listed with its path and marked on its line; clicking one selects it.
 */
export function DefinitionEditor(props: { text: string; onChange: (text: string) => void; onValidity?: (valid: boolean) => void; extraErrors?: ErrorDetail[] }) {
  const { text, onChange, onValidity, extraErrors } = props;
  const [result, setResult] = useState<{ parse?: string; errors: ErrorDetail[]; checking: boolean }>({ errors: [], checking: true });
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let live = true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      setResult({ parse: errorText(err), errors: [], checking: false });
      onValidity?.(false);
      return;
    }
    setResult((r) => ({ ...r, parse: undefined, checking: true }));
    const timer = setTimeout(() => {
      ok(client.POST('/workflows/validate', { body: { definition: parsed } })).then(
        (v) => {
          if (!live) return;
          setResult({ errors: v.errors, checking: false });
          onValidity?.(v.valid);
        },
        (err: unknown) => live && setResult({ errors: [{ path: '', message: errorText(err) }], checking: false }),
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [text, onValidity]);

  const located: Located[] = useMemo(() => {
    const spans = locatePointers(text);
    return [...result.errors, ...(extraErrors ?? [])].map((e) => {
      const span = spans && spanFor(spans, e.path);
      return span ? { ...e, line: lineOf(text, span.start), start: span.start, end: span.end } : e;
    });
  }, [text, result.errors, extraErrors]);

  const lines = text.split('\n').length;
  const bad = new Set(located.map((e) => e.line));
  const select = (e: Located) => {
    const el = area.current;
    if (!el || e.start === undefined) return;
    el.focus();
    el.setSelectionRange(e.start, e.end ?? e.start);
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 18;
    el.scrollTop = Math.max(0, ((e.line ?? 1) - 4) * lineHeight);
  };

  return (
    <div className="editor">
      <div className="editor-body">
        <div className="gutter" ref={gutter} aria-hidden>
          {Array.from({ length: lines }, (_, k) => (
            <div key={k} className={bad.has(k + 1) ? 'bad' : undefined}>
              {k + 1}
            </div>
          ))}
        </div>
        <textarea
          ref={area}
          aria-label="definition JSON"
          spellCheck={false}
          wrap="off"
          value={text}
          onChange={(e) => onChange(e.target.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
        />
      </div>
      <div className="validation" data-testid="validation">
        {result.parse ? (
          <p className="error">Not JSON: {result.parse}</p>
        ) : result.checking ? (
          <p className="muted">checking…</p>
        ) : located.length === 0 ? (
          <p className="ok">✓ valid definition</p>
        ) : (
          <ul className="errors">
            {located.map((e, k) => (
              <li key={k} onClick={() => select(e)} title="show in the editor">
                <code>{e.path || '/'}</code>
                {e.line !== undefined && <span className="muted"> line {e.line}</span>} {e.message}
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
