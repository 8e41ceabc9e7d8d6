import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { documentProblem, maskDocument, normaliseDocument } from '../local/sandbox/brazilianDocument.js';

// The sandbox's own CPF/CNPJ arithmetic (independent of the worker's, on purpose).

/** Builds a valid CPF from its first nine digits, by the Receita's weights written out longhand. */
function cpfWithCheckDigits(nine: readonly number[]): string {
  const first = ((nine.reduce((sum, d, i) => sum + d * (10 - i), 0) * 10) % 11) % 10;
  const second = (([...nine, first].reduce((sum, d, i) => sum + d * (11 - i), 0) * 10) % 11) % 10;
  return [...nine, first, second].join('');
}

describe('documentProblem', () => {
  it.each([
    ['pf', '52998224725'],
    ['pf', '00000000191'],
    ['pj', '11222333000181'],
    ['pj', '12ABC34501DE35'], // the Receita Federal's alphanumeric example
  ] as const)('%s %s is valid', (type, doc) => {
    expect(documentProblem(type, doc)).toBeUndefined();
  });

  it.each([
    ['pf', '52998224724', 'invalid_check_digits'],
    ['pf', '00000000281', 'invalid_check_digits'], // a documented fixture: valid only by name, see fixtureOutcomes
    ['pf', '5299822472', 'invalid_length'],
    ['pf', '', 'invalid_length'],
    ['pf', '11111111111', 'repeated_digits'],
    ['pf', '5299822472X', 'invalid_characters'],
    ['pf', '５２９９８２２４７２５', 'invalid_characters'], // full-width digits are not digits here
    ['pj', '11222333000180', 'invalid_check_digits'],
    ['pj', '12ABC34501DE36', 'invalid_check_digits'],
    ['pj', '12ABC34501DEA5', 'invalid_characters'], // the check digits stay numeric
    ['pj', '1122233300018', 'invalid_length'],
    ['pj', '00000000000000', 'repeated_digits'],
    ['pj', '12abc34501de35', 'invalid_characters'], // not normalised
  ] as const)('%s %s → %s', (type, doc, problem) => {
    expect(documentProblem(type, doc)).toBe(problem);
  });

  it('accepts every CPF whose check digits follow the arithmetic, and refuses it with either digit changed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 }),
        fc.integer({ min: 9, max: 10 }),
        fc.integer({ min: 1, max: 9 }),
        (nine, position, shift) => {
          fc.pre(new Set(nine).size > 1);
          const cpf = cpfWithCheckDigits(nine);
          expect(documentProblem('pf', cpf)).toBeUndefined();
          const wrong = `${cpf.slice(0, position)}${(Number(cpf[position]) + shift) % 10}${cpf.slice(position + 1)}`;
          expect(documentProblem('pf', wrong)).toBe('invalid_check_digits');
        },
      ),
    );
  });
});

describe('normaliseDocument and maskDocument', () => {
  it.each([
    ['529.982.247-25', '52998224725', '*********25'],
    [' 12.abc.345/01de-35 ', '12ABC34501DE35', '************35'],
    ['7', '7', '*'],
  ])('%j → %j, masked %j', (raw, normalised, masked) => {
    expect(normaliseDocument(raw)).toBe(normalised);
    expect(maskDocument(raw)).toBe(masked);
  });
});
