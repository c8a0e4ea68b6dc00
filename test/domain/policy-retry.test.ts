import { describe, expect, it } from 'vitest';
import { executionTimeoutFor, nextRetryDelay, resolveActivityPolicy, type ResolvedRetrier } from '../../src/domain/policy';

describe('resolveActivityPolicy with retry lists', () => {
  it('keeps the single-object form exactly as Temporal RetryPolicy', () => {
    expect(resolveActivityPolicy({ retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['X'] } }, { retry: { initialInterval: '2s' } })).toEqual({
      retry: { maximumAttempts: 5, initialInterval: 2_000, backoffCoefficient: 2, maximumInterval: 60_000, nonRetryableErrorTypes: ['X'] },
      startToCloseTimeout: 300_000,
      heartbeatTimeout: 5_000, // the platform default (issue 13)
    });
  });

  it('turns a list into one Temporal attempt plus retriers filled from object defaults, then the platform', () => {
    const policy = resolveActivityPolicy(
      { retry: [{ errors: ['RateLimited'], maximumAttempts: 10, maximumInterval: '30s' }, { errors: ['*'] }] },
      { retry: { initialInterval: '500ms', nonRetryableErrorTypes: ['Ignored'] }, timeout: { startToClose: '10s' } },
    );
    expect(policy.retry).toEqual({ maximumAttempts: 1, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 60_000 });
    expect(policy.startToCloseTimeout).toBe(10_000);
    expect(policy.retriers).toEqual([
      { errors: ['RateLimited'], maximumAttempts: 10, initialInterval: 500, backoffCoefficient: 2, maximumInterval: 30_000 },
      { errors: ['*'], maximumAttempts: 3, initialInterval: 500, backoffCoefficient: 2, maximumInterval: 60_000 },
    ]);
  });

  it('uses a list in defaults when the node has no retry of its own, and not when it has', () => {
    const defaults = { retry: [{ errors: ['*'], maximumAttempts: 4 }] };
    expect(resolveActivityPolicy({}, defaults).retriers).toHaveLength(1);
    const own = resolveActivityPolicy({ retry: { maximumAttempts: 2 } }, defaults);
    expect(own.retriers).toBeUndefined();
    expect(own.retry.maximumAttempts).toBe(2);
  });
});

describe('nextRetryDelay', () => {
  const retriers: ResolvedRetrier[] = [
    { errors: ['RateLimited'], maximumAttempts: 4, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 3_000 },
    { errors: ['Fatal'], maximumAttempts: 1, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 1_000 },
    { errors: ['*'], maximumAttempts: 2, initialInterval: 100, backoffCoefficient: 1, maximumInterval: 100 },
  ];

  it('picks the retrier naming the type, backs off by the node attempt, capped', () => {
    expect(nextRetryDelay(retriers, { type: 'RateLimited', nonRetryable: false }, 1)).toBe(1_000);
    expect(nextRetryDelay(retriers, { type: 'RateLimited', nonRetryable: false }, 2)).toBe(2_000);
    expect(nextRetryDelay(retriers, { type: 'RateLimited', nonRetryable: false }, 3)).toBe(3_000);
    expect(nextRetryDelay(retriers, { type: 'RateLimited', nonRetryable: false }, 4)).toBeUndefined();
    expect(nextRetryDelay(retriers, { type: 'Fatal', nonRetryable: false }, 1)).toBeUndefined();
  });

  it('counts every attempt of the node so far, whatever failed before', () => {
    // Attempt 1 failed RateLimited, attempt 2 fails Other: the "*" retrier allows 2 attempts in all.
    expect(nextRetryDelay(retriers, { type: 'Other', nonRetryable: false }, 2)).toBeUndefined();
    expect(nextRetryDelay(retriers, { type: 'Other', nonRetryable: false }, 1)).toBe(100);
  });

  it('retries a non-retryable failure only when a retrier names its type', () => {
    expect(nextRetryDelay(retriers, { type: 'HttpClientError', nonRetryable: true }, 1)).toBeUndefined();
    expect(nextRetryDelay(retriers, { type: 'RateLimited', nonRetryable: true }, 1)).toBe(1_000);
    expect(nextRetryDelay([retriers[0]!], { type: 'Other', nonRetryable: false }, 1)).toBeUndefined();
  });

  it('treats maximumAttempts 0 as unlimited', () => {
    expect(nextRetryDelay([{ ...retriers[0]!, maximumAttempts: 0 }], { type: 'RateLimited', nonRetryable: false }, 1_000)).toBe(3_000);
  });
});

describe('executionTimeoutFor', () => {
  it('backs runTimeout with a Temporal execution timeout past the grace and margin', () => {
    expect(executionTimeoutFor(undefined)).toBeUndefined();
    expect(executionTimeoutFor('2s')).toBe(12_000);
    expect(executionTimeoutFor(60_000)).toBe(70_000);
  });
});
