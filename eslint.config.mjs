import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O.
    files: ['src/workflows/**/*.ts', 'src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'path', 'http', 'https', 'net', 'crypto', 'undici', 'pg', '@temporalio/activity', '@temporalio/worker', '@temporalio/client', '../activities/*'], message: 'Workflow and domain code must stay free of I/O (Temporal sandbox).' },
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
          { group: ['../api', '../api/*', '../services', '../services/*', '../workflows', '../workflows/*', '../activities', '../activities/*', '../temporal', '../temporal/*'], message: 'src/mirror may import domain/, db/ and the Prisma client only.' },
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
);
