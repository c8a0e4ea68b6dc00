import { describe, expect, it } from 'vitest';
import { lineOf, locatePointers, spanFor } from '../../ui/src/json-locate';

// The console marks validation errors (JSON-pointer paths) on the line of the definition text they name.
describe('locatePointers', () => {
  const text = JSON.stringify({ name: 'x', nodes: [{ id: 'a', type: 'http', config: { url: 1 } }, { id: 'b/c~d', type: 'nope' }] }, null, 2);

  it('finds each value by pointer, properties starting at their key', () => {
    const spans = locatePointers(text)!;
    const at = (pointer: string) => text.slice(spans.get(pointer)!.start, spans.get(pointer)!.end);
    expect(at('/nodes/0/config/url')).toBe('"url": 1');
    expect(at('/nodes/1/type')).toBe('"type": "nope"');
    expect(at('/nodes/1/id')).toBe('"id": "b/c~d"');
    expect(lineOf(text, spans.get('/nodes/1/type')!.start)).toBe(text.split('\n').findIndex((l) => l.includes('"nope"')) + 1);
    expect(spans.get('')).toEqual({ start: 0, end: text.length });
  });

  it('falls back to the nearest ancestor for a missing property, and gives up on text that is not JSON', () => {
    const spans = locatePointers(text)!;
    expect(spanFor(spans, '/nodes/0/config/method')).toEqual(spans.get('/nodes/0/config'));
    expect(spanFor(spans, '/edges/3/to')).toEqual(spans.get(''));
    expect(locatePointers('{ "a": ')).toBeUndefined();
    expect(locatePointers('{"a": 1} x')).toBeUndefined();
    expect(locatePointers('[1, -2.5e3, true, null, "s\\"q", {}, []]')?.get('/4')).toEqual({ start: 24, end: 30 });
  });
});
