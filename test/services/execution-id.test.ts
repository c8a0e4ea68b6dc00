import { describe, expect, it } from 'vitest';
import { newExecutionId } from '../../src/services/executions';

describe('newExecutionId', () => {
  it('gives 22 base64url characters of fresh randomness per id, across refills of its pool', () => {
    const ids = Array.from({ length: 1000 }, () => newExecutionId()); // about four refills of 256 ids
    for (const id of ids) expect(id).toMatch(/^ex_[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // No id's bytes are reused: 16 bytes each, so no two ids share a 16-character prefix either.
    expect(new Set(ids.map((id) => id.slice(3, 19))).size).toBe(ids.length);
  });
});
