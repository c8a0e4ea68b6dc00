import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (workers, clients and the workflow bundle) when the payload codec is on:
 * failure messages and stack traces travel in the encoded (hence encrypted) attributes payload
 * instead of the failure's plain fields, so errors are not readable in the raw history either.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
