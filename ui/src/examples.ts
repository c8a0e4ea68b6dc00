import type { Definition } from './api';

/** One file of examples/: `{ name, description, definition, sampleInput }`. */
export interface Example {
  name: string;
  description: string;
  definition: Definition;
  sampleInput: unknown;
}

/** The base URL the examples' sampleInput names: dev mode's demo target on its default port. */
const DEMO_DEFAULT_BASE = 'http://127.0.0.1:4100';

// Bundled at build time: the console needs no API route for them, and they match this checkout.
const files = import.meta.glob<Example>('../../examples/*.json', { eager: true, import: 'default' });

export const EXAMPLES: Example[] = Object.values(files).sort((a, b) => a.name.localeCompare(b.name));

/** The example's sampleInput with the demo target's URL where this server runs it (dev mode says so in its config). */
export function sampleInputOf(example: Example, demoBaseUrl: string | undefined): unknown {
  if (!demoBaseUrl || demoBaseUrl === DEMO_DEFAULT_BASE) return example.sampleInput;
  return JSON.parse(JSON.stringify(example.sampleInput).split(DEMO_DEFAULT_BASE).join(demoBaseUrl)) as unknown;
}

export function exampleNamed(name: string | undefined): Example | undefined {
  return EXAMPLES.find((e) => e.name === name);
}
