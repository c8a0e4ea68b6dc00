/**
 * What one run may hold inside Temporal. Everything a run keeps inline (node outputs, resolved
 * configs, its result) travels in workflow-task payloads and history events, which Temporal caps
 * (2 MB per payload, 4 MB per gRPC message). A definition that passed these caps used to fail its
 * workflow task again and again, leaving the run RUNNING with no error; these budgets fail the
 * node instead, with a clear error, before the task is completed.
 */
export const RUN_LIMITS = {
  /** Largest output an in-workflow node (transform, condition, ...) may produce, as JSON. */
  inlineOutputBytes: 256 * 1024,
  /** Sum of every node output a run holds inline; larger activity outputs go to Postgres by reference. */
  runOutputBytes: 1024 * 1024,
  /** Largest resolved config an activity node may be scheduled with, as JSON. */
  activityConfigBytes: 512 * 1024,
  /**
   * Expression evaluation steps in one workflow task (all nodes evaluated in it together). Past
   * it, the next evaluation waits for a fresh workflow task, so no task runs into Temporal's
   * deadlock detector (2 s) however many heavy transforms become ready at once.
   */
  stepsPerWorkflowTask: 60_000,
} as const;

/** Size of a value as the JSON Temporal and Postgres will carry. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  if (text === undefined) return 0;
  // UTF-8 length without a Buffer (not available in the workflow sandbox).
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) bytes += code >= 0x800 && (code < 0xd800 || code > 0xdfff) ? 2 : 1;
  }
  return bytes;
}
