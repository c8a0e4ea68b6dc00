import { ApplicationFailure } from '@temporalio/common';
import { ExpressionCompiler } from '../domain/expressions';
import { itemRanges, splitBySize } from '../domain/iteration';
import type {
  EvaluatedItems,
  IterationStoreActivities,
  ItemsChunk,
  ResultsChunk,
  StoredReadResult,
  StoredRef,
} from '../contracts/iteration-store';
import { StoredOutputNotFound, resolveOutputRefs, type OutputStore } from './output-store';

const compiler = new ExpressionCompiler();

/**
 * Map items and results by reference. With a store every batch of items and every stored
 * results chunk is one `output_blobs` row; without one (a worker with no database) values stay
 * inline, which is fine for the small maps such a worker runs.
 */
export function createIterationStoreActivities(store?: OutputStore): IterationStoreActivities {
  async function save(executionId: string, nodeId: string, value: unknown, tenantId: string | undefined): Promise<StoredRef | undefined> {
    if (!store) return undefined;
    const sizeBytes = Buffer.byteLength(JSON.stringify(value));
    return store.save(executionId, nodeId, value, sizeBytes, tenantId);
  }

  async function load(ref: StoredRef, tenantId: string | undefined): Promise<unknown> {
    if (!store) throw ApplicationFailure.nonRetryable(`stored value ${ref.$trellisRef} needs a database`, 'OutputStoreUnavailable');
    try {
      return await store.load(ref, tenantId);
    } catch (err) {
      // Chunks saved before they carried their tenant (runs in flight across that upgrade) have
      // none. These references come from the map's own activities, never from a definition or
      // an input, so the tenant-less row is this run's own.
      if (!(err instanceof StoredOutputNotFound) || tenantId === undefined) throw err;
      return store.load(ref, undefined);
    }
  }

  return {
    async evaluateMapItems(request): Promise<EvaluatedItems> {
      const nodes = store
        ? ((await resolveOutputRefs(request.context.nodes, store, request.tenantId)) as typeof request.context.nodes)
        : request.context.nodes;
      let value: unknown;
      try {
        value = await compiler.evaluate(request.expression, { ...request.context, nodes });
      } catch (err) {
        return { error: { type: 'ExpressionError', message: err instanceof Error ? err.message : String(err) } };
      }
      if (value !== null && !Array.isArray(value)) {
        return { error: { type: 'MapItemsNotArray', message: `items must evaluate to an array, got ${typeof value} (wrap a single value in [ ])` } };
      }
      const items = (value ?? []) as unknown[];
      if (items.length > request.maxItems) {
        return { error: { type: 'MapTooManyItems', message: `${items.length} items exceed maxItems (${request.maxItems})` } };
      }
      const sizes = items.map((item) => Buffer.byteLength(JSON.stringify(item ?? null)));
      const ranges = itemRanges(items.length, request.batchSize).flatMap((r) => splitBySize(r, (i) => sizes[i]!, request.batchBytes));
      const chunks: ItemsChunk[] = [];
      for (const range of ranges) {
        const slice = items.slice(range.start, range.end);
        const ref = await save(request.executionId, request.nodeId, slice, request.tenantId);
        chunks.push(ref ? { ...range, ref } : { ...range, items: slice });
      }
      return { total: items.length, chunks };
    },

    async loadMapItems(chunk: ItemsChunk, scope): Promise<unknown[]> {
      if (chunk.items) return chunk.items;
      return (await load(chunk.ref!, scope?.tenantId)) as unknown[];
    },

    async storeMapResults({ executionId, nodeId, chunk, tenantId }): Promise<ResultsChunk> {
      const ref = await save(executionId, nodeId, chunk.results ?? [], tenantId);
      return ref ? { start: chunk.start, end: chunk.end, ref } : chunk;
    },

    async storeResultChunks({ executionId, nodeId, chunks, tenantId }): Promise<ResultsChunk[]> {
      const out: ResultsChunk[] = [];
      for (const chunk of chunks) {
        const ref = chunk.results ? await save(executionId, nodeId, chunk.results, tenantId) : undefined;
        out.push(ref ? { start: chunk.start, end: chunk.end, ref } : chunk);
      }
      return out;
    },

    async evaluateOverStoredOutputs({ expression, context, load: ids, maxBytes, tenantId }): Promise<StoredReadResult> {
      const nodes = { ...context.nodes };
      try {
        for (const id of ids) {
          const state = nodes[id];
          if (!state) continue;
          if (!store) return { error: { type: 'OutputStoreUnavailable', message: `node "${id}": its output is stored and this worker has no database` } };
          nodes[id] = { ...state, output: await resolveOutputRefs(state.output, store, tenantId) };
        }
      } catch (err) {
        if (err instanceof StoredOutputNotFound) return { error: { type: 'StoredOutputNotFound', message: err.message } };
        throw err; // Postgres down: retried
      }
      let value: unknown;
      try {
        value = await compiler.evaluate(expression, { ...context, nodes });
      } catch (err) {
        const type = err instanceof Error && err.name === 'ExpressionLimitExceeded' ? err.name : 'ExpressionError';
        return { error: { type, message: err instanceof Error ? err.message : String(err) } };
      }
      const bytes = Buffer.byteLength(JSON.stringify(value ?? null));
      if (bytes > maxBytes) {
        return {
          error: {
            type: 'OutputLimitExceeded',
            message: `the expression over stored outputs yields ${bytes} bytes; at most ${maxBytes} fit in the run (read a part: $page(list, offset, limit), list[i], $count(list))`,
          },
        };
      }
      return { value };
    },

    async assembleMapResults({ executionId, nodeId, chunks, inlineBytes, tenantId }): Promise<unknown[] | StoredRef> {
      const results: unknown[] = [];
      for (const chunk of [...chunks].sort((a, b) => a.start - b.start)) {
        const part = chunk.ref ? ((await load(chunk.ref, tenantId)) as unknown[]) : (chunk.results ?? []);
        for (let i = 0; i < chunk.end - chunk.start; i++) results[chunk.start + i] = part[i] ?? null;
      }
      for (let i = 0; i < results.length; i++) if (results[i] === undefined) results[i] = null;
      const bytes = Buffer.byteLength(JSON.stringify(results));
      if (bytes <= inlineBytes) return results;
      const ref = await save(executionId, nodeId, results, tenantId);
      return ref ?? results;
    },
  };
}
