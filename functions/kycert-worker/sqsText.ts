/**
 * Text that goes into an SQS message attribute. SQS accepts in a String attribute value only the characters it
 * accepts in a body (#x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF) and refuses the whole
 * SendMessage otherwise, so a control character or a lone surrogate copied from a producer's message would keep
 * a dead letter from ever being sent. Every attribute value the worker writes goes through here.
 */
const OUTSIDE_SQS_CHARACTER_SET = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** U+FFFD, the Unicode replacement character: visibly "something was here", and inside SQS's set. */
const REPLACEMENT = '\uFFFD';

/** Characters SQS refuses become U+FFFD; the result is cut to `maxCodePoints` whole characters. */
export function sqsSafeText(text: string, maxCodePoints: number): string {
  // toWellFormed() first: a lone surrogate is one code unit the regex could not see as a character.
  return cutToCodePoints(text.toWellFormed().replace(OUTSIDE_SQS_CHARACTER_SET, REPLACEMENT), maxCodePoints);
}

/** Cuts by code point, so a character outside the BMP is never split into half a surrogate pair. */
export function cutToCodePoints(text: string, maxCodePoints: number): string {
  if (text.length <= maxCodePoints) return text; // fewer code units than the bound: nothing to cut
  const codePoints = Array.from(text);
  return codePoints.length <= maxCodePoints ? text : codePoints.slice(0, maxCodePoints).join('');
}

/**
 * A producer's text (a field name, a value) quoted for a human: JSON-escaped, so control characters and lone
 * surrogates show as `\u0001`, and cut to `maxCodePoints` with an ellipsis when longer.
 */
export function quoteForHumans(text: string, maxCodePoints = 60): string {
  const cut = cutToCodePoints(text, maxCodePoints);
  return JSON.stringify(cut === text ? text : `${cut}…`);
}
