import { escapePointer, parseTemplate } from './templates';

/**
 * `{{ secrets.NAME }}` references (DESIGN.md §1 "Secrets"). Pure: the workflow only ever sees the
 * reference; the activity that runs the node swaps in the value just before use.
 */
export const SECRET_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';
const SECRET_NAME = new RegExp(SECRET_NAME_PATTERN);
/** A template part that is exactly `secrets.NAME` (blanks aside). */
const SECRET_REF = /^secrets\.([A-Za-z_][A-Za-z0-9_]{0,127})$/;
/** `secrets` used as a path anywhere inside a larger expression (outside string literals, roughly). */
const SECRET_MENTION = /(^|[^.$\w'"`])secrets\s*(\.|\[)/;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** The secret a template part names, when the part is a plain `secrets.NAME` reference. */
export function secretRefName(expression: string): string | undefined {
  return SECRET_REF.exec(expression.trim())?.[1];
}

/** Whether an expression reads `secrets` in any way other than a whole `secrets.NAME` part. */
export function mentionsSecrets(expression: string): boolean {
  return secretRefName(expression) === undefined && SECRET_MENTION.test(expression);
}

/**
 * What the workflow puts in an activity's config where the definition had a string holding
 * secret references: the other parts already resolved, each secret still a name. The activity
 * turns it back into a string; only at the paths the workflow lists (`secretPaths`), so a value
 * of this shape arriving through run input is never treated as one.
 */
export interface SecretTemplate {
  $secretTemplate: (string | { secret: string })[];
}

export function isSecretTemplate(value: unknown): value is SecretTemplate {
  return value !== null && typeof value === 'object' && Array.isArray((value as SecretTemplate).$secretTemplate);
}

/**
 * The string a template stands for as errors, outputs and logs show it: every secret part in its
 * definition form, `{{ secrets.NAME }}`. Built from the template, so no encoding of the value
 * (percent, base64, a parser's normalisation) can reach what is shown.
 */
export function shownSecretTemplate(template: SecretTemplate): string {
  return template.$secretTemplate.map((part) => (typeof part === 'string' ? part : `{{ secrets.${part.secret} }}`)).join('');
}

/** Whether a string holds at least one `{{ secrets.NAME }}` part. */
export function hasSecretRef(value: string): boolean {
  return (parseTemplate(value) ?? []).some((part) => 'expression' in part && secretRefName(part.expression) !== undefined);
}

/**
 * JSON pointers (relative to the config) of every string holding a secret reference, with the
 * names it references. Computed from the definition, never from resolved data.
 */
export function secretRefPaths(config: unknown, path = ''): { path: string; names: string[] }[] {
  const found: { path: string; names: string[] }[] = [];
  const walk = (value: unknown, at: string) => {
    if (typeof value === 'string') {
      const names = (parseTemplate(value) ?? []).flatMap((p) => ('expression' in p ? (secretRefName(p.expression) ?? []) : []));
      if (names.length > 0) found.push({ path: at, names });
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${at}/${i}`));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) walk(child, `${at}/${escapePointer(key)}`);
    }
  };
  walk(config, path);
  return found;
}

/** The top-level config field a relative pointer starts in (`/headers/x` → `headers`). */
export function topField(pointer: string): string {
  return (pointer.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
}
