/**
 * One problem found in a definition. Its own file so the rule modules (field-rules.ts,
 * references.ts, flow-control.ts ...) can speak of problems without importing the validator
 * that calls them.
 */
export interface ValidationProblem {
  /** JSON pointer into the definition, e.g. `/nodes/2/config/url`. */
  path: string;
  message: string;
}
