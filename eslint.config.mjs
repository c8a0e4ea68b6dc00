import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** src/api/ is the HTTP layer: the layers below it (domain, workflows, activities, services) never import it. */
const NO_API = {
  group: ['../api', '../api/*', '../../api', '../../api/*', '../../../api', '../../../api/*'],
  message: 'Only the HTTP layer and the processes import src/api/: throw a services/errors.ts error, or move the shared code below api/.',
};

/** Temporal's deterministic sandbox: workflow code, and what it shares with histories and activities. */
const NO_IO = {
  group: ['node:*', 'fs', 'path', 'http', 'https', 'net', 'crypto', 'undici', 'pg', '@temporalio/activity', '@temporalio/worker', '@temporalio/client', '../activities/*'],
  message: 'Workflow, contract and domain code must stay free of I/O (Temporal sandbox).',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'src/generated/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Settings are read and validated in one place (DESIGN §7): everything else asks src/config
    // (setting(name), the loaded config, processEnvironment() for a process entry).
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/generated/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through src/config (setting(name) or the loaded config); add new ones to src/config/settings.ts.' }],
    },
  },
  {
    // Below the HTTP layer nothing speaks HTTP: services own their errors (services/errors.ts),
    // the Temporal client side lives in temporal/, and api/ maps both onto routes.
    files: ['src/services/**/*.ts', 'src/mirror/**/*.ts', 'src/temporal/**/*.ts', 'src/activities/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_API] }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O.
    // (This block replaces the rule for these files, so it repeats the no-api/ pattern.)
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_IO, NO_API] }],
    },
  },
  {
    // domain/ is pure and at the bottom: it imports no Trellis layer, not even the contracts.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          NO_IO,
          NO_API,
          { group: ['../contracts', '../contracts/*', '../workflows', '../workflows/*'], message: 'src/domain is pure and imports no other layer.' },
        ],
      }],
    },
  },
  {
    // contracts/ is a leaf: everything recorded histories depend on (workflow inputs and results,
    // signals, activity shapes, mirror writes, patch ids). It sits on domain/ and imports nothing
    // else of Trellis, and from outside only Temporal's workflow API (defineSignal / defineQuery).
    files: ['src/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          NO_IO,
          NO_API,
          { regex: String.raw`^(?!\./[^/]+$|\.\./domain/[^/]+$|@temporalio/workflow$)`, message: 'src/contracts may import ./*, ../domain/* and @temporalio/workflow only.' },
        ],
      }],
    },
  },
  {
    // The status mirror owns the executions, node_runs and map_items tables; services and
    // activities call it, never the other way round.
    files: ['src/mirror/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../api', '../api/*', '../services', '../services/*', '../workflows', '../workflows/*', '../activities', '../activities/*', '../temporal', '../temporal/*'], message: 'src/mirror may import domain/, contracts/, db/ and the Prisma client only.' },
        ],
      }],
    },
  },
  {
    // Routes are HTTP only: Postgres is reached through services (and the mirror through them).
    files: ['src/api/routes/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../../generated/*', '../../mirror', '../../mirror/*'], message: 'Routes call services; services call src/mirror and Prisma.' },
        ],
      }],
    },
  },
  {
    // util/ is a leaf of plain helpers (caches, cursors): it imports no Trellis folder.
    files: ['src/util/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`^\.\./`, message: 'src/util is a leaf: it imports no other Trellis folder.' }] }],
    },
  },
  {
    // config/ is read by every process and layer, so it may depend on the pure domain only.
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`^\.\./(?!domain/)`, message: 'src/config may import ../domain/* only.' }] }],
    },
  },
  {
    // crypto/ (keyring, payload codec, claims) sits under the Temporal client and the worker:
    // it may use the contracts, the database, the domain and util, nothing that calls it; its keys
    // come from the settings (config, the one place that reads the environment).
    files: ['src/crypto/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`^\.\./(?!(contracts|db|domain|util)/|config$)`, message: 'src/crypto may import config, contracts/, db/, domain/ and util/ only.' }] }],
    },
  },
  {
    // persistence/ is the worker's side of Postgres beside mirror/: it implements the activities'
    // ports (types only) and never reaches up into services, routes or workflow code.
    files: ['src/persistence/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          NO_API,
          { group: ['../services', '../services/*', '../workflows', '../workflows/*'], message: 'src/persistence is below services/ and beside mirror/: it imports neither services/ nor workflows/.' },
        ],
      }],
    },
  },
);
