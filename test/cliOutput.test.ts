import { describe, expect, it } from 'vitest';
import { cut, fitColumns, table } from '../tools/output.js';

describe('fitColumns', () => {
  it.each([
    // natural widths, shrinkable groups, width → widths with padding (undefined: fits as it is)
    [[10, 20], [[1]], 40, undefined],
    // 12 + 22 + 3 borders = 37 > 30: the shrinkable column gives the 7 it must.
    [[10, 20], [[1]], 30, [12, 15]],
    // Within a group the widest first, down to the next one, then both together.
    [[5, 40, 30], [[1, 2]], 60, [7, 24, 25]],
    // The first group down to the minimum before the second is touched.
    [[20, 40, 30], [[2], [1]], 60, [22, 24, 10]],
    // Not below 10 (a prefix and "…"); what is not shrinkable stays whole, and the table overflows.
    [[30, 30], [[1]], 20, [32, 10]],
  ])('%j shrinking %j to %i columns → %j', (natural, shrinkable, width, expected) => {
    const widths = fitColumns(natural, shrinkable, width);
    expect(widths).toEqual(expected);
    if (widths !== undefined && widths.at(-1) !== 10) {
      expect(widths.reduce((sum, w) => sum + w, 0) + widths.length + 1).toBeLessThanOrEqual(width);
    }
  });
});

describe('table', () => {
  const rows = [['m-1', 'a-very-long-idempotency-key-0001', '{"template_id":"tpl_onboarding_pf"}']];

  it('fits the terminal by cutting the shrinkable columns short with "…"', () => {
    const text = table(['id', 'idempotency key', 'body'], rows, {
      width: 50,
      shrinkable: [['body'], ['idempotency key']],
    });
    const lines = text.split('\n');
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(50);
    expect(text).toContain('m-1');
    expect(text).toContain('…');
  });

  it('is drawn whole without a width, and without colours', () => {
    const text = table(['id', 'idempotency key', 'body'], rows, { shrinkable: [['body']] });
    expect(text).toContain('a-very-long-idempotency-key-0001');
    expect(text).toContain('{"template_id":"tpl_onboarding_pf"}');
    expect(text).not.toContain('\u001b[');
  });

  it('cut keeps a text whole under --wide', () => {
    expect(cut('abcdefgh', 4, { width: undefined, wide: false })).toBe('abc…');
    expect(cut('abcdefgh', 4, { width: undefined, wide: true })).toBe('abcdefgh');
  });
});
