import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { isSecretTemplate, shownSecretTemplate, topField } from '../domain/secrets';

/** Where activities read tenant secrets from (the worker wires the encrypted store). */
export interface SecretSource {
  /** The named secrets of the tenant that exist; absent names are simply missing from the map. */
  values(tenantId: string, names: readonly string[]): Promise<Map<string, string>>;
}

export class SecretNotFound extends Error {
  constructor(readonly names: string[]) {
    super(`secret${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')} not found for this run's tenant (set with PUT /secrets/:name)`);
    this.name = 'SecretNotFound';
  }
}

/**
 * Swaps the secret templates at `paths` (pointers the workflow derived from the definition) for
 * their strings. Only fields the node type declares secret-capable are resolved. Every value
 * used is added to `redactor` before the node runs.
 */
export async function resolveSecretTemplates(
  config: Record<string, unknown>,
  paths: readonly string[],
  options: { fields: readonly string[]; source?: SecretSource; tenantId?: string; redactor: Redactor; nodeType: string },
): Promise<Record<string, unknown>> {
  const targets = paths.filter((p) => {
    if (!options.fields.includes(topField(p))) {
      throw ApplicationFailure.create({
        type: 'ConfigError',
        message: `config field "${topField(p)}" of type "${options.nodeType}" cannot hold secret references`,
        nonRetryable: true,
      });
    }
    return isSecretTemplate(valueAt(config, p));
  });
  if (targets.length === 0) return config;
  const names = [...new Set(targets.flatMap((p) => templateOf(config, p).flatMap((part) => (typeof part === 'string' ? [] : [part.secret]))))];
  const values = options.source && options.tenantId ? await options.source.values(options.tenantId, names) : new Map<string, string>();
  const missing = names.filter((n) => !values.has(n));
  if (missing.length > 0) throw new SecretNotFound(missing);
  for (const [name, value] of values) options.redactor.add(name, value);

  const out = structuredClone(config);
  for (const p of targets) {
    const parts = templateOf(out, p);
    const text = parts.map((part) => (typeof part === 'string' ? part : values.get(part.secret)!)).join('');
    const label = parts.flatMap((part) => (typeof part === 'string' ? [] : [part.secret])).join('+');
    // A composite string (a URL with credentials, "user:pass") is redacted as a whole too.
    if (parts.length > 1) options.redactor.addDerived(label, text);
    setAt(out, p, text);
  }
  return out;
}

/**
 * The config as errors and logs describe it: each string built from secrets (at the pointers the
 * workflow lists) in its template form, `{{ secrets.NAME }}`, everything else as given. A node
 * names its request from this, never from the resolved values, so what it reports cannot carry
 * a secret in any encoding.
 */
export function showSecretTemplates(config: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const targets = paths.filter((p) => isSecretTemplate(valueAt(config, p)));
  if (targets.length === 0) return config;
  const out = structuredClone(config);
  for (const p of targets) setAt(out, p, shownSecretTemplate(valueAt(out, p) as { $secretTemplate: (string | { secret: string })[] }));
  return out;
}

function templateOf(config: unknown, pointer: string) {
  return (valueAt(config, pointer) as { $secretTemplate: (string | { secret: string })[] }).$secretTemplate;
}

function keys(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const key of keys(pointer)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function setAt(root: unknown, pointer: string, next: unknown): void {
  const path = keys(pointer);
  const last = path.pop()!;
  const parent = valueAt(root, path.length ? `/${path.join('/')}` : '') as Record<string, unknown>;
  parent[last] = next;
}

// Control characters are part of both sets, by the URL standard's definition.
/* eslint-disable no-control-regex */
/** What the WHATWG URL parser percent-encodes in a path, and in a query (DESIGN §8: a secret in a URL). */
const URL_PATH_SET = /[\u0000-\u0020"#<>?`{}\u007f-\u{10ffff}]/gu;
const URL_QUERY_SET = /[\u0000-\u0020"#<>'\u007f-\u{10ffff}]/gu;
/* eslint-enable no-control-regex */

function percentEncoded(value: string, set: RegExp): string {
  return value.replace(set, (c) => (c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff ? '%EF%BF%BD' : encodeURIComponent(c)));
}

function orValue(value: string, encode: (value: string) => string): string {
  try {
    return encode(value);
  } catch {
    return value;
  }
}

/** Values shorter than this are not redacted: replacing "1" everywhere would wreck every output. */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Replaces every resolved secret value — plain, base64 (standard and URL-safe), URL-, path-,
 * query- and form-encoded, JSON-escaped — with `[secret:NAME]` in outputs, errors and heartbeat
 * details. The last line of defence: what a node builds from a secret is described from its
 * template (`showSecretTemplates`); this catches what comes back from elsewhere (a target that
 * echoes a header, a driver that quotes its connection string).
 */
export class Redactor {
  private readonly forms = new Map<string, string>();
  private ordered: [string, string][] | undefined;

  get empty(): boolean {
    return this.forms.size === 0;
  }

  add(name: string, value: string): void {
    this.addDerived(name, value);
  }

  /** A string built from secrets (e.g. a URL with user:pass); `label` names the secrets in it. */
  addDerived(label: string, value: string): void {
    this.addForms(`[secret:${label}]`, value);
    // A URL's credentials also travel on their own (Basic auth header, driver errors).
    try {
      const url = new URL(value);
      if (url.username || url.password) {
        this.addForms(`[secret:${label}]`, `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`);
        if (url.password) this.addForms(`[secret:${label}]`, decodeURIComponent(url.password));
      }
    } catch {
      // not a URL
    }
  }

  private addForms(replacement: string, value: string): void {
    if (value.length < MIN_REDACTED_LENGTH) return;
    const bytes = Buffer.from(value);
    const base64 = bytes.toString('base64');
    const candidates = [
      value,
      value.toLowerCase(), // a host name, as the URL parser writes it
      base64,
      base64.replace(/=+$/, ''),
      bytes.toString('base64url'),
      orValue(value, encodeURIComponent), // both throw on a lone surrogate
      orValue(value, encodeURI),
      percentEncoded(value, URL_PATH_SET),
      percentEncoded(value, URL_QUERY_SET),
      new URLSearchParams({ v: value }).toString().slice(2),
      JSON.stringify(value).slice(1, -1),
    ];
    // A whole URL as the URL parser writes it back (the form undici and most drivers report).
    if (URL.canParse(value)) candidates.push(new URL(value).href, new URL(value).href.replace(/\/$/, ''));
    for (const form of candidates) if (form.length >= MIN_REDACTED_LENGTH && !this.forms.has(form)) this.forms.set(form, replacement);
    this.ordered = undefined;
  }

  text(value: string): string {
    if (this.forms.size === 0) return value;
    // Longest first, so a composite string goes before the secrets inside it.
    this.ordered ??= [...this.forms.entries()].sort((a, b) => b[0].length - a[0].length);
    let out = value;
    for (const [form, replacement] of this.ordered) if (out.includes(form)) out = out.split(form).join(replacement);
    return out;
  }

  /** A deep copy with every string (keys included) redacted. */
  value<T>(value: T): T {
    if (this.forms.size === 0) return value;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.text(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, c]) => [this.text(k), walk(c)]));
      return v;
    };
    return walk(value) as T;
  }

  /** The failure rebuilt with message, details, stack and cause chain redacted. */
  failure(err: unknown): unknown {
    if (this.forms.size === 0) return err;
    if (err instanceof ApplicationFailure) {
      const redacted = ApplicationFailure.create({
        type: err.type ?? 'Error',
        message: this.text(err.message),
        nonRetryable: err.nonRetryable ?? false,
        details: this.value(err.details ?? []),
        nextRetryDelay: err.nextRetryDelay,
        cause: err.cause ? this.error(err.cause) : undefined,
      });
      redacted.stack = err.stack ? this.text(err.stack) : redacted.stack;
      return redacted;
    }
    // Cancellation and other Temporal failures carry Trellis' own messages; keep their type.
    if (err instanceof TemporalFailure) return err;
    return err instanceof Error ? this.error(err) : new Error(this.text(String(err)));
  }

  private error(err: Error, depth = 0): Error {
    const copy = new Error(this.text(err.message));
    copy.name = err.name;
    copy.stack = err.stack ? this.text(err.stack) : undefined;
    if (err.cause instanceof Error && depth < 5) copy.cause = this.error(err.cause, depth + 1);
    return copy;
  }
}
