import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { TemporalConnectError, connectionOptions, type TemporalSettings } from '../config';
import { clientDataConverter } from '../crypto/payload-codec';
import { PROCESS_PAYLOAD_TENANTS, type PayloadTenants } from '../crypto/payload-tenants';
import { DAG_WORKFLOW_TYPE } from '../contracts/dag-workflow';
import { tracingClientInterceptors } from '../observability/tracing';

/**
 * Tells the payload codec the tenant of each run this process starts before the start encodes
 * its input, so the API's start path seals for the tenant from memory (no lookup). The tenant is
 * the one Trellis itself put into the start (from the caller's API key); a start without one
 * (a `workflowId` start from outside) is left to the codec's lookup.
 */
export function rememberStartedTenants(tenants: PayloadTenants = PROCESS_PAYLOAD_TENANTS): WorkflowClientInterceptor {
  return {
    async start(input, next) {
      const args = input.options.args as unknown[] | undefined;
      const tenantId = input.workflowType === DAG_WORKFLOW_TYPE ? (args?.[0] as { tenantId?: unknown } | undefined)?.tenantId : undefined;
      if (typeof tenantId === 'string' && tenantId) tenants.remember(input.options.workflowId, tenantId);
      return next(input);
    },
  };
}

/**
 * The one way a Trellis process builds its Temporal client: same namespace and data converter
 * (the payload codec, when TRELLIS_PAYLOAD_KEY is set) for the API, the worker's reconciler and
 * `trellis dev`, so a payload one of them writes is readable by the others; the codec seals each
 * run's payloads for its tenant (payload-tenants.ts). With tracing on, each start carries the
 * caller's trace context (observability/tracing.ts).
 */
export function createTemporalClient(connection: Connection, settings: Pick<TemporalSettings, 'namespace'>): Client {
  return new Client({ connection, namespace: settings.namespace, dataConverter: clientDataConverter(), interceptors: { workflow: [...tracingClientInterceptors(), rememberStartedTenants()] } });
}

/** Connects now (throws if Temporal is unreachable): processes that cannot work without it. */
export async function connectTemporalClient(settings: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(settings)).catch((err: unknown) => {
    throw new TemporalConnectError(settings, err);
  });
  return createTemporalClient(connection, settings);
}

/**
 * Connects on first use: the API starts (and /readyz says why it is not ready) while Temporal
 * is unreachable.
 */
export function lazyTemporalClient(settings: TemporalSettings): Client {
  return createTemporalClient(Connection.lazy(connectionOptions(settings)), settings);
}
