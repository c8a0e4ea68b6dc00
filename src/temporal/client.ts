import { Client, Connection } from '@temporalio/client';
import type { TemporalSettings } from '../config';
import { clientDataConverter } from '../services/payload-codec';

/**
 * The one way a Trellis process builds its Temporal client: same namespace and data converter
 * (the payload codec, when TRELLIS_PAYLOAD_KEY is set) for the API, the worker's reconciler and
 * `trellis dev`, so a payload one of them writes is readable by the others.
 */
export function createTemporalClient(connection: Connection, settings: Pick<TemporalSettings, 'namespace'>): Client {
  return new Client({ connection, namespace: settings.namespace, dataConverter: clientDataConverter() });
}

/** Connects now (throws if Temporal is unreachable): processes that cannot work without it. */
export async function connectTemporalClient(settings: Pick<TemporalSettings, 'address' | 'namespace'>): Promise<Client> {
  return createTemporalClient(await Connection.connect({ address: settings.address }), settings);
}

/**
 * Connects on first use: the API starts (and /readyz says why it is not ready) while Temporal
 * is unreachable.
 */
export function lazyTemporalClient(settings: Pick<TemporalSettings, 'address' | 'namespace'>): Client {
  return createTemporalClient(Connection.lazy({ address: settings.address }), settings);
}
