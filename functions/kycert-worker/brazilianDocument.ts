/**
 * CPF (people, `pf`) and CNPJ (companies, `pj`) numbers: normalisation and check-digit verification, so a
 * mistyped number is refused before it can spend a kycert credit.
 */
export type SubjectType = 'pf' | 'pj';

export type DocumentProblem =
  | 'invalid_characters'
  | 'invalid_length'
  | 'invalid_check_digits'
  | 'repeated_digits';

/** Strips the usual punctuation (`123.456.789-09`, `12.345.678/0001-95`) and upper-cases letters. */
export function normaliseDocument(raw: string): string {
  return raw.replace(/[\s./-]/g, '').toUpperCase();
}

/**
 * kycert's sandbox fixture CPFs, from its docs: each yields a fixed decision with `sk_test_` keys. Most of
 * them fail the check-digit arithmetic, so they are accepted by name; they belong to nobody, and kycert's
 * live environment refuses them with `invalid_document`.
 */
export const KYCERT_SANDBOX_FIXTURE_CPFS: readonly string[] = [
  '00000000191',
  '00000000281',
  '00000000453',
  '00000000806',
];

/** Checks an already normalised document; returns the problem, or `undefined` when it is valid. */
export function checkDocument(type: SubjectType, doc: string): DocumentProblem | undefined {
  if (type === 'pf' && KYCERT_SANDBOX_FIXTURE_CPFS.includes(doc)) return undefined;
  return type === 'pf' ? checkCpf(doc) : checkCnpj(doc);
}

function checkCpf(doc: string): DocumentProblem | undefined {
  if (!/^\d+$/.test(doc)) return 'invalid_characters';
  if (doc.length !== 11) return 'invalid_length';
  // 111.111.111-11 and the like pass the arithmetic but are never issued.
  if (/^(\d)\1{10}$/.test(doc)) return 'repeated_digits';
  const digits = [...doc].map(Number);
  const checkDigit = (length: number) => {
    const sum = digits.slice(0, length).reduce((acc, d, i) => acc + d * (length + 1 - i), 0);
    const remainder = (sum * 10) % 11;
    return remainder === 10 ? 0 : remainder;
  };
  return checkDigit(9) === digits[9] && checkDigit(10) === digits[10] ? undefined : 'invalid_check_digits';
}

/**
 * Since July 2026 new CNPJs may be alphanumeric: 12 characters in [0-9A-Z], then 2 numeric check digits.
 * The check-digit arithmetic is unchanged if each character counts as its ASCII code minus 48.
 */
function checkCnpj(doc: string): DocumentProblem | undefined {
  if (!/^[0-9A-Z]+$/.test(doc)) return 'invalid_characters';
  if (doc.length !== 14) return 'invalid_length';
  if (!/^\d{2}$/.test(doc.slice(12))) return 'invalid_characters';
  if (/^(\d)\1{13}$/.test(doc)) return 'repeated_digits';
  const values = [...doc].map((c) => c.charCodeAt(0) - 48);
  const checkDigit = (length: number) => {
    const weights =
      length === 12 ? [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2] : [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    const sum = values.slice(0, length).reduce((acc, v, i) => acc + v * (weights[i] ?? 0), 0);
    const remainder = sum % 11;
    return remainder < 2 ? 0 : 11 - remainder;
  };
  return checkDigit(12) === values[12] && checkDigit(13) === values[13] ? undefined : 'invalid_check_digits';
}

/**
 * Masks anything that looks like a CPF or CNPJ (formatted or not) in free text — kycert's error messages,
 * for instance — before it reaches a log or the outcome table.
 */
export function redactDocuments(text: string): string {
  return text.replace(DOCUMENT_LIKE, '[document]');
}

// A CNPJ (alphanumeric root allowed), a CPF, or any run of 11+ digits, with or without punctuation.
const DOCUMENT_LIKE =
  /[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}\/?[0-9A-Z]{4}-?\d{2}|\d{3}\.?\d{3}\.?\d{3}-?\d{2}|\d{11,}/g;
