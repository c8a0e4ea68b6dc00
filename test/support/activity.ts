import { expect } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';

/** Keeps the SDK's "Activity failed" warnings out of the test output. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** An activity context on its second attempt, so tests can see the attempt reported back. */
export const newActivityEnv = () => new MockActivityEnvironment({ attempt: 2 }, { logger: quiet });

/** The ApplicationFailure an activity promise rejects with; fails the test if it resolves. */
export async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => expect.fail('expected the activity to fail'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}
