import type { Group, Setting } from './kinds';
import { formatDuration } from './kinds';
import { FAMILY_DOCS } from './families';
import { SETTINGS, type SettingName } from './settings';

const GROUPS: readonly Group[] = ['Database', 'Temporal', 'API', 'Worker', 'Keys', 'Limits', 'Observability', 'Development', 'CLI'];

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function defaultOf(name: SettingName, setting: Setting<unknown>): string {
  if (setting.requiredBy?.length) return `required (${setting.requiredBy.map((r) => `\`trellis ${r}\``).join(', ')})`;
  if (setting.defaultText) return setting.defaultText;
  if (setting.default === undefined) return '';
  if (name.endsWith('_GRACE') && typeof setting.default === 'number') return formatDuration(setting.default);
  if (Array.isArray(setting.default)) return setting.default.join(',') || '(none)';
  return String(setting.default);
}

/** docs/configuration.md, generated from the settings table (`npm run config:docs`). */
export function configurationMarkdown(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/settings.ts by `npm run config:docs`; a test fails when this file and the table differ. -->',
    '',
    'Every Trellis process (`trellis api`, `trellis worker`, `trellis migrate`, the other CLI commands and `npm run dev`) reads these',
    'environment variables once at start and validates them: a bad value (an unparsable number, an unknown choice, a missing',
    'required setting, an unknown `TRELLIS_QUOTA_*`) stops the start with one line naming the variable. An empty variable is unset.',
    'A `TRELLIS_*` variable that is no setting is reported as a warning at start. `trellis config` prints the effective settings,',
    'secrets masked.',
    '',
    'Temporal settings are the Temporal client environment configuration (`@temporalio/envconfig`), the same as the Temporal CLI:',
    'a TOML file of profiles (`TEMPORAL_CONFIG_FILE`, default `~/.config/temporalio/temporal.toml`) and `TEMPORAL_PROFILE`,',
    'overridden by the variables below (`TEMPORAL_GRPC_META_<NAME>` adds gRPC metadata).',
    '',
    '| Variable | Group | Value | Default | Secret | Meaning |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const entries = Object.entries(SETTINGS) as [SettingName, Setting<unknown>][];
  for (const group of GROUPS) {
    for (const [name, setting] of entries.filter(([, s]) => s.group === group)) {
      lines.push(`| \`${name}\` | ${group} | ${cell(setting.expects)} | ${cell(defaultOf(name, setting))} | ${setting.secret ? 'yes' : ''} | ${cell(setting.description)} |`);
    }
    for (const family of FAMILY_DOCS.filter((f) => f.group === group)) {
      lines.push(`| \`${family.name}\` | ${group} | ${cell(family.expects)} | ${cell(family.default)} | ${family.secret ? 'yes' : ''} | ${cell(family.description)} |`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
