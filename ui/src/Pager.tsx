import { useState } from 'react';

/** Cursor pagination state: the stack of cursors walked so far; the last one is the current page. */
export function useCursorPages() {
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    cursor: cursors[cursors.length - 1],
    reset: () => setCursors([]),
    pager: (nextCursor: string | null | undefined) => (
      <div className="pager">
        <button disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Newer
        </button>
        <button disabled={!nextCursor} onClick={() => nextCursor && setCursors((c) => [...c, nextCursor])}>
          Older →
        </button>
      </div>
    ),
  };
}
