import { builtinActivityNodeTypes } from './nodes';
import { NodeRegistry, type NodeType } from './registry';

export * from './registry';
export * from './nodes';
export * from './plugins';

/** A registry holding the built-in activity node types plus any custom ones. */
export function createNodeRegistry(extra: readonly NodeType[] = []): NodeRegistry {
  const registry = new NodeRegistry();
  for (const nodeType of [...builtinActivityNodeTypes, ...extra]) registry.register(nodeType);
  return registry;
}
