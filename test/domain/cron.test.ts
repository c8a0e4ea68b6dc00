import { describe, expect, it } from 'vitest';
import { CRON_MACROS, cronError, isValidCron, isValidTimezone, timezoneError } from '../../src/domain/cron';

describe('cronError', () => {
  it.each([
    '* * * * *',
    '0 9 * * MON-FRI',
    '0 9 * * mon-fri',
    '*/15 * * * *',
    '0 0 1 JAN,jul *',
    '0 0 * * 7',
    '0 0 * * 0',
    '0 0 * * 5-7',
    '1-59/2 0-23/3 1-31/7 1-12/2 0-7/2',
    '0 0 31 DEC SUN',
    '59 23 * * *',
    '*/59 */23 */31 */12 */7',
    '0,15,30,45 8-18 * * 1-5',
    '  5   4 * * sun  ',
    '0 0 13 * FRI',
    ...CRON_MACROS,
  ])('accepts %j', (cron) => {
    expect(cronError(cron)).toBeUndefined();
    expect(isValidCron(cron)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['* * * *', /5 fields.*got 4/],
    ['* * * * * *', /5 fields.*got 6/],
    ['0 0 * * * 2030', /5 fields/],
    ['60 * * * *', /minute field "60"/],
    ['* 24 * * *', /hour field "24"/],
    ['* * 0 * *', /day-of-month field "0"/],
    ['* * 32 * *', /day-of-month/],
    ['* * * 13 *', /month field "13"/],
    ['* * * 0 *', /month field "0"/],
    ['* * * * 8', /day-of-week field "8"/],
    ['* * * FOO *', /month field "FOO": "FOO" is not a value from 1 to 12 or JAN–DEC/],
    ['* * * * MONDAY', /day-of-week/],
    ['* * * MON *', /month/],
    ['* * * * JAN', /day-of-week/],
    ['*/0 * * * *', /step "0"/],
    ['*/60 * * * *', /step "60"/],
    ['*/x * * * *', /step "x"/],
    ['5/15 * * * *', /a step needs "\*" or a range/],
    ['1-2-3 * * * *', /not a value or a range/],
    ['*/5/2 * * * *', /more than one step/],
    ['30-10 * * * *', /runs backwards/],
    ['1,,2 * * * *', /empty list item/],
    ['1, * * * *', /empty list item/],
    ['? * * * *', /minute/],
    ['0 0 L * *', /day-of-month/],
    ['0 0 * * 5#3', /day-of-week/],
    ['0 0 15W * *', /day-of-month/],
    ['-1 * * * *', /minute/],
    ['1.5 * * * *', /minute/],
    ['0x1 * * * *', /minute/],
    ['0001 * * * *', /minute/],
    ['@every 5m', /unknown macro/],
    ['@reboot', /unknown macro/],
    ['@DAILY', /unknown macro/],
    ['@', /unknown macro/],
    [`${'1,'.repeat(150)}1 * * * *`, /at most 200/],
  ])('rejects %j', (cron, message) => {
    expect(cronError(cron)).toMatch(message);
    expect(isValidCron(cron)).toBe(false);
  });
});

describe('isValidTimezone', () => {
  it.each(['UTC', 'Europe/Paris', 'America/New_York', 'America/Argentina/Buenos_Aires', 'Asia/Kolkata', 'Asia/Calcutta', 'US/Eastern', 'Etc/GMT+5', 'GMT', 'EST', 'America/Port-au-Prince'])(
    'accepts %j',
    (tz) => {
      expect(isValidTimezone(tz)).toBe(true);
      expect(timezoneError(tz)).toBeUndefined();
    },
  );

  it.each([
    '',
    'Nope/Nowhere',
    'Mars/Olympus_Mons',
    'europe/paris',
    'EUROPE/PARIS',
    'utc',
    'us/eastern',
    '+01:00',
    'UTC+1',
    'Local',
    'Europe/Paris ',
    '../../etc/passwd',
    'x'.repeat(65),
  ])('rejects %j', (tz) => {
    expect(isValidTimezone(tz)).toBe(false);
    expect(timezoneError(tz)).toMatch(/unknown time zone/);
  });
});
