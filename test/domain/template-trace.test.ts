import { describe, expect, it } from 'vitest';
import { emptyTemplates, explainConfigError } from '../../src/domain/template-trace';

describe('emptyTemplates / explainConfigError', () => {
  it('finds whole templates that resolved to null or to nothing, with their paths', () => {
    const raw = { url: '{{ input.baseUrl }}', headers: { 'x/a': '{{ input.h }}' }, body: 'id: {{ input.id }}', ok: '{{ input.ok }}' };
    const resolved = { url: null, headers: {}, body: 'id: ', ok: 'yes' };
    expect(emptyTemplates(raw, resolved)).toEqual([
      { path: '/url', expression: 'input.baseUrl', value: null },
      { path: '/headers/x~1a', expression: 'input.h', value: 'undefined' },
    ]);
  });

  it('quotes the template and what it gave in a config error at (or under) its path', () => {
    const traced = emptyTemplates({ url: '{{ input.baseUrl }}' }, { url: null });
    expect(explainConfigError('/url', 'Expected string', traced)).toBe('/url: Expected string, but the template "{{ input.baseUrl }}" gave null');
    expect(explainConfigError('/method', 'Expected union value', traced)).toBe('/method: Expected union value');
    expect(explainConfigError('', 'Expected object', undefined)).toBe('/: Expected object');
  });
});
