import type { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TRELLIS_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const INDEXED_TYPES: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

export interface SearchAttributeSetup {
  added: string[];
  present: string[];
}

/** A key registered with another type: Temporal cannot change it, an operator must decide. */
export class SearchAttributeConflict extends Error {}

/**
 * `trellis temporal setup`: registers Trellis's search attributes in the namespace. Idempotent:
 * keys already there with the right type are left alone; one there with another type stops it.
 */
export async function setupSearchAttributes(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<SearchAttributeSetup> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const existing = customAttributes ?? {};
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  const present: string[] = [];
  for (const key of TRELLIS_SEARCH_ATTRIBUTES) {
    const wanted = INDEXED_TYPES[key.type]!;
    const has = existing[key.name];
    if (has === undefined || has === null) missing[key.name] = wanted;
    else if (Number(has) !== wanted) {
      throw new SearchAttributeConflict(
        `search attribute ${key.name} is registered in namespace "${namespace}" as ${IndexedValueType[Number(has)]}, Trellis needs ${IndexedValueType[wanted]}; remove it (temporal operator search-attribute remove) and run setup again`,
      );
    } else present.push(key.name);
  }
  if (Object.keys(missing).length > 0) await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  return { added: Object.keys(missing), present };
}

/** How long a "not registered" answer is believed before asking again (setup may run meanwhile). */
const UNREGISTERED_RECHECK_MS = 30_000;

/**
 * Whether the namespace knows every Trellis key: a start naming a key it does not know is
 * refused outright, so a deployment that has not run `trellis temporal setup` yet starts its
 * runs without them (and says so once) instead of failing them. Asked once per process while
 * the answer is yes; a no (or no answer: an API key without operator rights) is asked again
 * after a while.
 */
export function searchAttributeProbe(client: Client, warn: (message: string) => void = (m) => console.warn(m)): () => Promise<boolean> {
  let registered = false;
  let checkedAt = -Infinity;
  let pending: Promise<boolean> | undefined;
  let warned = false;
  const check = async (): Promise<boolean> => {
    try {
      const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace: client.options.namespace });
      registered = TRELLIS_SEARCH_ATTRIBUTES.every((key) => Number(customAttributes?.[key.name]) === INDEXED_TYPES[key.type]);
    } catch {
      registered = false;
    }
    checkedAt = Date.now();
    if (!registered && !warned) {
      warned = true;
      warn(`trellis: the Temporal namespace "${client.options.namespace}" lacks Trellis's search attributes; runs start without them until \`trellis temporal setup\` registers them`);
    }
    return registered;
  };
  return async () => {
    if (registered || Date.now() - checkedAt < UNREGISTERED_RECHECK_MS) return registered;
    pending ??= check().finally(() => (pending = undefined));
    return pending;
  };
}
