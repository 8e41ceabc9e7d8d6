/**
 * kycert's own document checks, reimplemented here on purpose rather than imported from the worker: the sandbox
 * stands in for kycert, so a bug in the worker's validator must show up as a 400 from the sandbox, not be
 * shared by both sides.
 */
export type SubjectType = 'pf' | 'pj';

export type DocumentProblem =
  | 'invalid_characters'
  | 'invalid_length'
  | 'invalid_check_digits'
  | 'repeated_digits';

/** kycert accepts `123.456.789-09` and `12.345.678/0001-95` as well as bare digits, and lower-case letters. */
export function normaliseDocument(raw: string): string {
  return raw.replace(/[\s./-]/g, '').toUpperCase();
}

/** Returns what is wrong with an already normalised document, or `undefined` when it is valid. */
export function documentProblem(type: SubjectType, doc: string): DocumentProblem | undefined {
  return type === 'pf' ? cpfProblem(doc) : cnpjProblem(doc);
}

function cpfProblem(doc: string): DocumentProblem | undefined {
  if (!/^\d*$/.test(doc)) return 'invalid_characters';
  if (doc.length !== 11) return 'invalid_length';
  // 111.111.111-11 and the like pass the arithmetic but the Receita Federal never issues them.
  if (/^(\d)\1{10}$/.test(doc)) return 'repeated_digits';
  const digits = [...doc].map(Number);
  // Weights run from length + 1 down to 2; a remainder of 10 counts as 0.
  const checkDigit = (length: number): number => {
    const sum = digits.slice(0, length).reduce((acc, digit, i) => acc + digit * (length + 1 - i), 0);
    const remainder = (sum * 10) % 11;
    return remainder === 10 ? 0 : remainder;
  };
  return checkDigit(9) === digits[9] && checkDigit(10) === digits[10] ? undefined : 'invalid_check_digits';
}

const CNPJ_FIRST_WEIGHTS = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
const CNPJ_SECOND_WEIGHTS = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];

/**
 * From July 2026 new CNPJs may be alphanumeric: 12 characters in [0-9A-Z] then 2 numeric check digits. The
 * Receita kept the old arithmetic by giving each character the value of its ASCII code minus 48, so digits keep
 * their value and the numeric CNPJs already issued stay valid.
 */
function cnpjProblem(doc: string): DocumentProblem | undefined {
  if (!/^[0-9A-Z]*$/.test(doc)) return 'invalid_characters';
  if (doc.length !== 14) return 'invalid_length';
  if (!/^\d{2}$/.test(doc.slice(12))) return 'invalid_characters';
  if (/^(\d)\1{13}$/.test(doc)) return 'repeated_digits';
  const values = [...doc].map((char) => char.charCodeAt(0) - 48);
  const checkDigit = (weights: readonly number[]): number => {
    const sum = weights.reduce((acc, weight, i) => acc + weight * (values[i] ?? 0), 0);
    const remainder = sum % 11;
    return remainder < 2 ? 0 : 11 - remainder;
  };
  return checkDigit(CNPJ_FIRST_WEIGHTS) === values[12] && checkDigit(CNPJ_SECOND_WEIGHTS) === values[13]
    ? undefined
    : 'invalid_check_digits';
}

/**
 * For logs: only the two check digits stay readable, enough to tell two test documents apart and useless
 * for identifying anyone.
 */
export function maskDocument(raw: string): string {
  const doc = normaliseDocument(raw);
  return doc.length <= 2 ? '*'.repeat(doc.length) : `${'*'.repeat(doc.length - 2)}${doc.slice(-2)}`;
}
