import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { createNodeRegistry, defineNodeType } from '../../src/activities';

describe('createNodeRegistry', () => {
  it('registers http and postgres as activities and in the catalog', () => {
    const registry = createNodeRegistry();
    expect(Object.keys(registry.activities()).sort()).toEqual(['http', 'postgres']);
    expect(registry.catalog().get('http')?.execution).toBe('activity');
    expect(registry.catalog().get('postgres')?.execution).toBe('activity');
    expect(registry.catalog().get('transform')?.execution).toBe('inline');
  });

  it('adds custom node types and refuses to shadow a built-in one', () => {
    const echo = defineNodeType({
      type: 'echo',
      configSchema: Type.Object({ value: Type.String() }),
      run: async (config) => config.value,
    });
    expect(Object.keys(createNodeRegistry([echo]).activities()).sort()).toEqual(['echo', 'http', 'postgres']);
    expect(() => createNodeRegistry([{ ...echo, type: 'http' }])).toThrow(/already registered/);
  });
});
