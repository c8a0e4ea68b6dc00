import type { NodeDef } from './definition';
import { escapePointer, parseTemplate, templateExpressions } from './expressions';
import type { NodeTypeSpec } from './node-types';
import { mentionsSecrets, secretRefName } from './secrets';

interface Problem {
  path: string;
  message: string;
}

const HOW_TO = 'store it as a tenant secret (PUT /secrets/NAME) and write "{{ secrets.NAME }}" instead';

/**
 * Where `{{ secrets.NAME }}` may appear (DESIGN.md §1 "Secrets"): only as a whole template part,
 * only in the config of activity node types, only in fields the type declares secret-capable,
 * and (when the tenant's names are known, i.e. at save time) only naming an existing secret.
 * A type the validator does not know (the workflow sandbox cannot see the registry) is trusted:
 * the activity applies the same field rule when it resolves.
 */
export function secretProblems(node: NodeDef, path: string, spec: NodeTypeSpec | undefined, secretNames?: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  const config = (node.config ?? {}) as Record<string, unknown>;
  const rawFields = new Set(spec?.expressionFields ?? []);
  for (const [field, value] of Object.entries(config)) {
    const fieldPath = `${path}/config/${escapePointer(field)}`;
    const expressions = rawFields.has(field) ? rawExpressions(value, fieldPath) : [...templateExpressions(value, fieldPath)];
    for (const { path: at, expression } of expressions) {
      const name = rawFields.has(field) ? undefined : secretRefName(expression);
      if (name === undefined) {
        if (mentionsSecrets(expression) || (rawFields.has(field) && secretRefName(expression) !== undefined)) {
          problems.push({
            path: at,
            message: 'secrets can only be used as a whole "{{ secrets.NAME }}" part in the config of an activity node, never inside an expression',
          });
        }
        continue;
      }
      if (spec && spec.execution !== 'activity') {
        problems.push({
          path: at,
          message: `secret references are only allowed in the config of activity node types; "${spec.type}" runs in the workflow, where secrets never go`,
        });
      } else if (spec && !(spec.secretFields ?? []).includes(field)) {
        const allowed = spec.secretFields?.length ? ` (it accepts them in: ${spec.secretFields.join(', ')})` : ' (it declares no secret-capable fields)';
        problems.push({ path: at, message: `config field "${field}" of type "${spec.type}" cannot hold secret references${allowed}` });
      } else if (secretNames && !secretNames.has(name)) {
        problems.push({ path: at, message: `unknown secret "${name}" (create it with PUT /secrets/${name})` });
      }
    }
  }
  return problems;
}

/** Raw JSONata fields (e.g. a transform's expression): the whole string is one expression. */
function rawExpressions(value: unknown, path: string): { path: string; expression: string }[] {
  return typeof value === 'string' ? [{ path, expression: value }] : [...templateExpressions(value, path)];
}

/** Expressions elsewhere in a definition (map `items`/`output`, loop `until`) must not read secrets. */
export function secretInExpressionProblem(expression: unknown, path: string): Problem | undefined {
  if (typeof expression !== 'string') return undefined;
  if (secretRefName(expression) !== undefined || mentionsSecrets(expression) || (parseTemplate(expression) ?? []).some((p) => 'expression' in p && (secretRefName(p.expression) !== undefined || mentionsSecrets(p.expression)))) {
    return { path, message: 'secrets cannot be read here: only activity node config may reference "{{ secrets.NAME }}"' };
  }
  return undefined;
}

const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-auth-token', 'x-access-token', 'cookie']);
const CREDENTIAL_PARAMS = new Set(['token', 'access_token', 'api_key', 'apikey', 'api-key', 'key', 'secret', 'client_secret', 'password', 'auth', 'sig', 'signature']);

/** A value typed into the definition (not computed): no template at all. */
const literal = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '' && parseTemplate(value) === undefined;

/**
 * Credentials still typed into a definition end up in its stored versions, GET /workflows and
 * every run's history: warn (not reject: a public demo key is legitimate) and point to secrets.
 */
export function literalCredentialWarnings(node: NodeDef, path: string, spec: NodeTypeSpec | undefined): Problem[] {
  if (spec && spec.execution !== 'activity') return [];
  const config = (node.config ?? {}) as Record<string, unknown>;
  const warnings: Problem[] = [];
  const headers = config.headers;
  if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers)) {
      if (CREDENTIAL_HEADERS.has(name.toLowerCase()) && literal(value)) {
        warnings.push({ path: `${path}/config/headers/${escapePointer(name)}`, message: `the "${name}" header holds a literal credential; ${HOW_TO}` });
      }
    }
  }
  const query = config.query;
  if (query && typeof query === 'object' && !Array.isArray(query)) {
    for (const [name, value] of Object.entries(query)) {
      if (CREDENTIAL_PARAMS.has(name.toLowerCase()) && literal(value)) {
        warnings.push({ path: `${path}/config/query/${escapePointer(name)}`, message: `the "${name}" query parameter holds a literal credential; ${HOW_TO}` });
      }
    }
  }
  if (typeof config.url === 'string') warnings.push(...urlWarnings(config.url, `${path}/config/url`));
  return warnings;
}

function urlWarnings(url: string, path: string): Problem[] {
  // Only the literal text outside templates counts: "{{ input.base }}/x" says nothing.
  const text = (parseTemplate(url) ?? [{ text: url }]).map((p) => ('text' in p ? p.text : '\uFFFF')).join('');
  const warnings: Problem[] = [];
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\uFFFF\s]*:[^/@\uFFFF\s]+@/i.test(text)) {
    warnings.push({ path, message: `the URL carries a literal user:password; ${HOW_TO}` });
  }
  const query = text.split('?')[1];
  for (const pair of query?.split('&') ?? []) {
    const [name, value] = pair.split('=');
    if (name && value && !value.includes('\uFFFF') && CREDENTIAL_PARAMS.has(decodeSafe(name).toLowerCase())) {
      warnings.push({ path, message: `the URL's "${decodeSafe(name)}" parameter holds a literal credential; ${HOW_TO}` });
    }
  }
  return warnings;
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
