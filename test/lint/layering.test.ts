import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '../..');

/** The rule ids ESLint reports for `source` as if it were the file at `file` (relative to the repository). */
async function ruleIds(file: string, source: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(source, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('layering (eslint.config.mjs)', () => {
  it.each([
    ['src/services/probe.ts', "import { ApiError } from '../api/errors';\nexport const x = ApiError;\n"],
    ['src/temporal/probe.ts', "import { ApiError } from '../api/errors';\nexport const x = ApiError;\n"],
    ['src/activities/probe.ts', "import type { AppDeps } from '../api/deps';\nexport type X = AppDeps;\n"],
    ['src/activities/nodes/probe.ts', "import { buildApp } from '../../api/app';\nexport const x = buildApp;\n"],
    ['src/workflows/probe.ts', "import type { AppDeps } from '../api/deps';\nexport type X = AppDeps;\n"],
    ['src/domain/probe.ts', "import type { AppDeps } from '../api/deps';\nexport type X = AppDeps;\n"],
  ])('%s may not import src/api/', async (file, source) => {
    expect(await ruleIds(file, source)).toContain('no-restricted-imports');
  });

  it('still keeps I/O out of domain/ and workflows/ (the second block did not replace the first)', async () => {
    expect(await ruleIds('src/domain/probe.ts', "import fs from 'node:fs';\nexport const x = fs;\n")).toContain('no-restricted-imports');
    expect(await ruleIds('src/workflows/probe.ts', "import { Client } from '@temporalio/client';\nexport const x = Client;\n")).toContain(
      'no-restricted-imports',
    );
  });

  it('lets the HTTP layer and the processes import api/, and services import temporal/', async () => {
    expect(await ruleIds('src/api/routes/probe.ts', "import { ApiError } from '../errors';\nexport const x = ApiError;\n")).toEqual([]);
    expect(await ruleIds('src/cli/probe.ts', "import { buildApp } from '../api/app';\nexport const x = buildApp;\n")).toEqual([]);
    expect(await ruleIds('src/services/probe.ts', "import type { TemporalGateway } from '../temporal/gateway';\nexport type X = TemporalGateway;\n")).toEqual([]);
  });
});
