import type { NodeType } from '../registry';
import { httpNodeType } from './http';
import { postgresNodeType } from './postgres';

export { httpNodeType, HttpConfigSchema, type HttpConfig, type HttpOutput } from './http';
export {
  postgresNodeType,
  PostgresConfigSchema,
  closePostgresPools,
  connectionEnvVar,
  type PostgresConfig,
  type PostgresOutput,
} from './postgres';
export { ALLOW_PRIVATE_ENV, classifyAddress } from './ssrf';

/** The node types every Trellis worker runs as activities. */
export const builtinActivityNodeTypes: readonly NodeType[] = [httpNodeType, postgresNodeType];
