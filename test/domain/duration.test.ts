import { describe, expect, it } from 'vitest';
import { durationMs, parseDuration } from '../../src/domain/duration';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s5ms', 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5],
    ['1.5s', 1_500],
    ['0.5m', 30_000],
    ['0s', 0],
    ['  10s  ', 10_000],
    ['1h 30m', 5_400_000],
    ['10 s', 10_000],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('tells "m" (minutes) from "ms" (milliseconds)', () => {
    expect(parseDuration('5ms')).toBe(5);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('5m5ms')).toBe(300_005);
  });

  it('rounds fractional results to whole milliseconds', () => {
    expect(parseDuration('1.0006s')).toBe(1_001);
    expect(parseDuration(1.4)).toBe(1);
    expect(parseDuration(1.6)).toBe(2);
  });

  it('takes numbers as milliseconds', () => {
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration(86_400_000)).toBe(86_400_000);
  });

  it('takes a string of digits as milliseconds', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('10')).toBe(10);
    expect(parseDuration('1500')).toBe(1_500);
  });

  it.each([
    [''],
    ['   '],
    ['abc'],
    ['10x'],
    ['s'],
    ['ms'],
    ['-5s'],
    ['-10'],
    ['1.5'],
    ['.5s'],
    ['10s!'],
    ['10s x'],
    ['1e3'],
    ['1e3ms'],
    ['10sec'],
    ['1,5s'],
    ['1h30'],
  ])('rejects the string %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([[-1], [-0.5], [Number.NaN], [Number.POSITIVE_INFINITY], [Number.NEGATIVE_INFINITY]])(
    'rejects the number %d',
    (value) => {
      expect(parseDuration(value)).toBeUndefined();
    },
  );

  it.each([[null], [undefined], [true], [{}], [{ ms: 10 }], [['10s']], [() => 10]])('rejects the non-duration %j', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });

  it('rejects values too large to be finite', () => {
    expect(parseDuration('9'.repeat(400))).toBeUndefined();
    expect(parseDuration(`1${'0'.repeat(400)}d`)).toBeUndefined();
  });

  it('does not carry state between calls (the part regex is sticky and shared)', () => {
    expect(parseDuration('10x')).toBeUndefined();
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('5s')).toBe(5_000);
  });
});

describe('durationMs', () => {
  it('returns the milliseconds of a valid duration', () => {
    expect(durationMs('2m')).toBe(120_000);
    expect(durationMs(42)).toBe(42);
  });

  it('throws with the offending value on an invalid one', () => {
    expect(() => durationMs('soon')).toThrow('invalid duration: "soon"');
    expect(() => durationMs(-1)).toThrow('invalid duration: -1');
  });
});
