import Table from 'cli-table3';
import { describe, expect, it } from 'vitest';
import { tableStyle } from '../local/pipeline/tableStyle.js';

describe('tableStyle (npm start, npm run chaos)', () => {
  it.each([
    ['a terminal', { isTTY: true }, {}, { head: ['bold'], border: ['grey'] }],
    ['a terminal with NO_COLOR', { isTTY: true }, { NO_COLOR: '1' }, { head: [], border: [] }],
    [
      'a terminal with an empty NO_COLOR',
      { isTTY: true },
      { NO_COLOR: '' },
      { head: ['bold'], border: ['grey'] },
    ],
    ['a dumb terminal', { isTTY: true }, { TERM: 'dumb' }, { head: [], border: [] }],
    ['a pipe', { isTTY: false }, {}, { head: [], border: [] }],
  ])('%s', (_name, stream, env, expected) => {
    expect(tableStyle(stream, env)).toEqual(expected);
  });

  it('a table drawn without colour holds no escape sequence', () => {
    const table = new Table({ head: ['reason'], style: tableStyle({ isTTY: false }, {}) });
    table.push(['retries_exhausted']);
    expect(table.toString()).not.toContain('\u001b[');
  });
});
