/**
 * Where each JSON-pointer path sits in a JSON text, so validation errors (which carry paths such
 * as `/nodes/0/config/url`) can be shown on the line they are about. A small position-tracking
 * parser; it returns undefined for text that is not JSON.
 */
export interface Span {
  start: number;
  end: number;
}

export function locatePointers(text: string): Map<string, Span> | undefined {
  const spans = new Map<string, Span>();
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw new SyntaxError(`unexpected input at ${i}`);
  };
  const str = (): string => {
    const start = i;
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (pointer: string): void => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') i++;
      else
        for (;;) {
          ws();
          const keyStart = i;
          const key = str();
          ws();
          if (text[i++] !== ':') fail();
          const child = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
          value(child);
          // A property's span starts at its key, which is where a reader looks for it.
          spans.set(child, { start: keyStart, end: spans.get(child)!.end });
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === '}') {
            i++;
            break;
          } else fail();
        }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') i++;
      else
        for (let index = 0; ; index++) {
          value(`${pointer}/${index}`);
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === ']') {
            i++;
            break;
          } else fail();
        }
    } else if (c === '"') str();
    else {
      const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
      if (!m) fail();
      i += m![0].length;
    }
    spans.set(pointer, { start, end: i });
  };
  try {
    value('');
    ws();
    if (i !== text.length) fail();
    return spans;
  } catch {
    return undefined;
  }
}

/** The span of `pointer`, or of its nearest ancestor in the text (a missing property points at its object). */
export function spanFor(spans: Map<string, Span>, pointer: string): Span | undefined {
  let p = pointer;
  for (;;) {
    const span = spans.get(p);
    if (span) return span;
    if (p === '') return undefined;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text[k] === '\n') line++;
  return line;
}
