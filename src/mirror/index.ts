/**
 * The Postgres status mirror: the one module that reads and writes the `executions`,
 * `node_runs`, `node_attempts` and `map_items` tables, and speaks the NOTIFY protocol live readers listen to.
 * Writers: the workflow's mirror activities (src/activities/mirror.ts, map-items-mirror.ts), the
 * node activities' worker (node results ahead of the workflow, failed attempts: node-result-mirror.ts),
 * the API's start path (services/executions.ts) and the reconciler (persistence/reconciler.ts).
 * Readers: services only (routes never query Postgres). May import domain/ and db/ only.
 */
export * from './executions';
export * from './map-items';
export * from './node-attempts';
export * from './node-runs';
export * from './notify';
export * from './reconcile';
export * from './run-admission';
export * from './retention';
export * from './start-execution';
export * from './stats';
export * from './storable';
export * from './transitions';
export * from './views';
