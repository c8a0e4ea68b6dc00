import { describe, expect, it } from 'vitest';
import { trellis } from '../support/cli';

/**
 * Every subcommand reads its settings through the validated config, like `trellis api`: a bad
 * value stops it before it does anything, with one line naming the variable and a non-zero exit.
 * No database is needed: the settings are refused before one is opened (the URL is unreachable).
 */
const UNREACHABLE_DB = 'postgres://trellis:trellis@127.0.0.1:1/none';

function expectOneLineNaming(result: { code: number; stderr: string }, command: string, message: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^trellis ${command}: `));
  expect(lines[0]).toMatch(message);
}

describe('CLI subcommands validate their settings', () => {
  it('codec decode: a payload key that is no key, and any other bad setting', async () => {
    const badKey = await trellis(['codec', 'decode'], { TRELLIS_PAYLOAD_KEY: 'not-a-key' });
    expectOneLineNaming(badKey, 'codec', /TRELLIS_PAYLOAD_KEY must be 32 random bytes/);
    const badFormat = await trellis(['codec', 'decode'], { TRELLIS_PAYLOAD_KEY: Buffer.alloc(32, 1).toString('base64'), LOG_FORMAT: 'fancy' });
    expectOneLineNaming(badFormat, 'codec', /LOG_FORMAT must be one of json, pretty, not "fancy"/);
  });

  it('secret: a bad setting stops set, list and generate-key alike', async () => {
    for (const args of [
      ['secret', 'set', 'X', '--tenant', 't', '--value', 'v'],
      ['secret', 'list', '--tenant', 't'],
      ['secret', 'generate-key'],
    ]) {
      const result = await trellis(args, { DATABASE_URL: UNREACHABLE_DB, DATABASE_POOL_MAX: 'ten' });
      expectOneLineNaming(result, 'secret', /DATABASE_POOL_MAX must be an integer from 1 to 1000, not "ten"/);
    }
  });

  it('tenant quota: a bad setting besides TRELLIS_QUOTA_*', async () => {
    const result = await trellis(['tenant', 'quota', '--tenant', 'q1'], { DATABASE_URL: UNREACHABLE_DB, LOG_LEVEL: 'loud' });
    expectOneLineNaming(result, 'tenant', /LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "loud"/);
  });

  it('temporal setup: a bad Temporal setting, before any connection', async () => {
    const result = await trellis(['temporal', 'setup'], { TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_TLS: 'maybe' });
    expectOneLineNaming(result, 'temporal', /TEMPORAL_TLS must be true or false/);
  });
});
