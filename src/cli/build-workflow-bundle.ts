import fs from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ENCODED_BUNDLE_SUFFIX, WORKFLOWS_PATH } from '../worker';
import { ENCODED_FAILURE_CONVERTER_PATH } from '../crypto/payload-codec';
import { TRACING_WORKFLOW_INTERCEPTORS } from '../observability/tracing';

/**
 * Builds the workflow bundle ahead of time so production workers start without webpack:
 * run the worker with TRELLIS_WORKFLOW_BUNDLE pointing at the file this writes. The bundle
 * carries the OpenTelemetry workflow interceptors (they add headers, never commands): a worker
 * with OTEL_* tracing on exports the workflow's spans, one with it off drops them.
 */
async function main(): Promise<void> {
  const workflowInterceptorModules = [TRACING_WORKFLOW_INTERCEPTORS];
  const out = path.resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules });
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, code);
  console.log(`workflow bundle written to ${out} (${Math.round(code.length / 1024)} KiB)`);
  // The worker picks this one when TRELLIS_PAYLOAD_KEY is set: failures' messages encrypted too.
  const encoded = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules, failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH });
  const encodedOut = out.replace(/\.js$/, '') + ENCODED_BUNDLE_SUFFIX;
  await fs.writeFile(encodedOut, encoded.code);
  console.log(`workflow bundle for the payload codec written to ${encodedOut}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
