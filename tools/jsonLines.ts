/** One line of a JSON Lines file, numbered from 1 as an editor shows it. */
export interface JsonLine {
  lineNumber: number;
  text: string;
}

/** A file given where JSON Lines are read is one JSON document over several lines (pretty-printed). */
export class NotJsonLinesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotJsonLinesError';
  }
}

/**
 * The non-blank lines of a JSON Lines file: one message per line. A pretty-printed file is refused rather
 * than half-read line by line into a message per fragment: one JSON document over several lines (an
 * array of messages, an object), or a line holding nothing but an opening `{` or `[`, which no message
 * on one line is. The lines themselves are not parsed: what is invalid in a line is its message's reason.
 * @throws NotJsonLinesError
 */
export function jsonLines(text: string, name: string): JsonLine[] {
  const lines = text
    .split(/\r?\n/)
    .map((line, index) => ({ lineNumber: index + 1, text: line }))
    .filter((line) => line.text.trim().length > 0);
  const rewrite = (json: string) =>
    `write one message per line (${json === 'array' ? `jq -c '.[]' ${name}` : `jq -c . ${name}`})`;
  if (lines.length > 1) {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      document = undefined;
    }
    if (document !== undefined) {
      const kind = Array.isArray(document) ? 'array' : 'object';
      throw new NotJsonLinesError(
        `${name} is one JSON ${kind} over ${lines.length} lines, not JSON Lines: ${rewrite(kind)}`,
      );
    }
  }
  const opening = lines.find((line) => line.text.trim() === '{' || line.text.trim() === '[');
  if (opening !== undefined) {
    const kind = opening.text.trim() === '[' ? 'array' : 'object';
    throw new NotJsonLinesError(
      `${name}:${opening.lineNumber} holds only "${opening.text.trim()}": the file is pretty-printed JSON, not JSON Lines: ${rewrite(kind)}`,
    );
  }
  return lines;
}
