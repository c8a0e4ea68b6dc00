import { Connection } from '@temporalio/client';
import { TemporalConnectError, connectionOptions, temporalSettings, type TrellisConfig } from '../config';
import { setupSearchAttributes } from '../temporal/search-attribute-setup';

export const TEMPORAL_USAGE = `  temporal setup                          register Trellis's search attributes (TrellisTenant, TrellisWorkflowId,
                                          TrellisWorkflowVersion, TrellisTrigger) in TEMPORAL_NAMESPACE; idempotent`;

interface Io {
  out(line: string): void;
  usage(message: string): Error;
}

/** `trellis temporal setup`: what a namespace needs before Trellis's runs are searchable in the Web UI. */
export async function runTemporal(args: string[], config: TrellisConfig, io: Io): Promise<void> {
  if (args[0] !== 'setup' || args.length > 1) throw io.usage('expected: trellis temporal setup');
  const settings = temporalSettings(config);
  const connection = await Connection.connect(connectionOptions(settings)).catch((err: unknown) => {
    throw new TemporalConnectError(settings, err);
  });
  try {
    const { added, present } = await setupSearchAttributes(connection, settings.namespace);
    for (const name of added) io.out(`registered search attribute ${name} in namespace "${settings.namespace}"`);
    if (present.length > 0) io.out(`already registered: ${present.join(', ')}`);
    io.out(added.length === 0 ? 'nothing to do: the namespace is set up' : `${added.length} search attribute(s) registered`);
  } finally {
    await connection.close();
  }
}
