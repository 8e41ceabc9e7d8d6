import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../functions/kycert-worker/parseRetryAfter.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['120', 120],
    [' 7 ', 7],
    ['0', 0],
    ['Mon, 23 Nov 2026 12:01:30 GMT', 90],
    ['Monday, 23-Nov-26 12:00:10 GMT', 10],
    ['Mon Nov 23 12:00:05 2026', 5],
    ['Mon, 23 Nov 2026 11:00:00 GMT', 0],
  ])('%j → %i s', (value, seconds) => {
    expect(parseRetryAfter(value, NOW_MS)).toBe(seconds);
  });

  it.each([
    [undefined],
    [null],
    [''],
    ['-1'],
    ['1.5'],
    ['soon'],
    ['-3'],
    ['2026-11-23T12:01:00Z'],
    ['99999999999999999999'],
    ['Mon, 32 Foo 2026 99:00:00 GMT'],
  ])('%j is unreadable', (value) => {
    expect(parseRetryAfter(value, NOW_MS)).toBeUndefined();
  });
});
