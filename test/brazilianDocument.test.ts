import { describe, expect, it } from 'vitest';
import {
  checkDocument,
  normaliseDocument,
  redactDocuments,
} from '../functions/kycert-worker/brazilianDocument.js';

describe('normaliseDocument', () => {
  it.each([
    ['123.456.789-09', '12345678909'],
    ['12.345.678/0001-95', '12345678000195'],
    [' 12.abc.345/01de-35 ', '12ABC34501DE35'],
  ])('%j → %j', (raw, normalised) => {
    expect(normaliseDocument(raw)).toBe(normalised);
  });
});

describe('checkDocument', () => {
  it.each([
    ['pf', '12345678909'],
    ['pf', '00000000191'], // kycert sandbox fixture
    ['pf', '00000000281'], // the other kycert fixtures fail the arithmetic and are accepted by name
    ['pf', '00000000453'],
    ['pf', '00000000806'],
    ['pj', '12345678000195'],
    ['pj', '11222333000181'],
    ['pj', '12ABC34501DE35'], // alphanumeric CNPJ (Receita Federal's example)
  ] as const)('%s %s is valid', (type, doc) => {
    expect(checkDocument(type, doc)).toBeUndefined();
  });

  it.each([
    ['pf', '12345678900', 'invalid_check_digits'],
    ['pf', '00000000282', 'invalid_check_digits'], // one digit off a fixture is not a fixture
    ['pf', '1234567890', 'invalid_length'],
    ['pf', '123456789090', 'invalid_length'],
    ['pf', '11111111111', 'repeated_digits'],
    ['pf', '1234567890A', 'invalid_characters'],
    ['pf', '１２３４５６７８９０９', 'invalid_characters'], // full-width digits
    ['pj', '12345678000196', 'invalid_check_digits'],
    ['pj', '12ABC34501DE36', 'invalid_check_digits'],
    ['pj', '12ABC34501DEAB', 'invalid_characters'],
    ['pj', '00000000000000', 'repeated_digits'],
    ['pj', '12345678909', 'invalid_length'], // a CPF sent as a company
  ] as const)('%s %s is refused: %s', (type, doc, problem) => {
    expect(checkDocument(type, doc)).toBe(problem);
  });
});

describe('redactDocuments', () => {
  it.each([
    ['document 123.456.789-09 is invalid', 'document [document] is invalid'],
    ['cnpj 12.345.678/0001-95', 'cnpj [document]'],
    ['raw 12345678909 and 12ABC34501DE35', 'raw [document] and [document]'],
  ])('masks %j', (text, redacted) => {
    expect(redactDocuments(text)).toBe(redacted);
  });

  it('leaves ordinary text alone', () => {
    expect(redactDocuments('HTTP 503 after 1234 ms at 2026-11-23T12:00:00Z')).toBe(
      'HTTP 503 after 1234 ms at 2026-11-23T12:00:00Z',
    );
  });
});
