import { describe, expect, it } from 'vitest';
import { jsonLines, NotJsonLinesError } from '../tools/jsonLines.js';

describe('jsonLines', () => {
  it('gives each non-blank line with its number, unparsed (an invalid line is its message’s problem)', () => {
    expect(jsonLines('{"a":1}\n\nnot json\r\n{"b":2}\n', 'in.jsonl')).toEqual([
      { lineNumber: 1, text: '{"a":1}' },
      { lineNumber: 3, text: 'not json' },
      { lineNumber: 4, text: '{"b":2}' },
    ]);
  });

  it.each([
    [
      JSON.stringify([{ a: 1 }, { b: 2 }], null, 2),
      "in.json is one JSON array over 8 lines, not JSON Lines: write one message per line (jq -c '.[]' in.json)",
    ],
    [
      JSON.stringify({ template_id: 'tpl_x' }, null, 2),
      'in.json is one JSON object over 3 lines, not JSON Lines: write one message per line (jq -c . in.json)',
    ],
    // Pretty-printed messages one after another (`jq . file.jsonl`): not one document, still refused.
    [
      `${JSON.stringify({ a: 1 }, null, 2)}\n${JSON.stringify({ b: 2 }, null, 2)}`,
      'in.json:1 holds only "{": the file is pretty-printed JSON, not JSON Lines: write one message per line (jq -c . in.json)',
    ],
  ])('refuses pretty-printed JSON in one line saying what to do: %j', (text, message) => {
    expect(() => jsonLines(text, 'in.json')).toThrow(new NotJsonLinesError(message));
  });

  it('takes a one-line array as one line (the message then says it is not an object)', () => {
    expect(jsonLines('[{"a":1},{"b":2}]\n', 'in.jsonl')).toEqual([
      { lineNumber: 1, text: '[{"a":1},{"b":2}]' },
    ]);
  });
});
