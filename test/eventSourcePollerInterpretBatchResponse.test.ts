import { describe, expect, it } from 'vitest';
import { type BatchVerdict, interpretBatchResponse } from '../local/aws/interpretBatchResponse.js';

const batch = ['id-1', 'id-2', 'id-3'];

describe('interpretBatchResponse', () => {
  it.each<[string, unknown, BatchVerdict]>([
    ['an undefined response', undefined, { kind: 'allSucceeded' }],
    ['a null response', null, { kind: 'allSucceeded' }],
    ['an empty object', {}, { kind: 'allSucceeded' }],
    ['a null batchItemFailures', { batchItemFailures: null }, { kind: 'allSucceeded' }],
    ['an empty batchItemFailures', { batchItemFailures: [] }, { kind: 'allSucceeded' }],
    [
      'listed failures, duplicates once',
      {
        batchItemFailures: [
          { itemIdentifier: 'id-3' },
          { itemIdentifier: 'id-1' },
          { itemIdentifier: 'id-3' },
        ],
      },
      { kind: 'someFailed', failedMessageIds: ['id-3', 'id-1'] },
    ],
  ])('reads %s as such', (_case, response, verdict) => {
    // Act
    const result = interpretBatchResponse(response, batch);

    // Assess
    expect(result).toEqual(verdict);
  });

  it.each<[string, unknown, string]>([
    ['a string response', 'ok', 'the response is a string, not an object'],
    ['an array response', [{ itemIdentifier: 'id-1' }], 'the response is an array, not an object'],
    [
      'batchItemFailures not a list',
      { batchItemFailures: 'id-1' },
      'batchItemFailures is a string, not an array',
    ],
    [
      'an empty itemIdentifier',
      { batchItemFailures: [{ itemIdentifier: '' }] },
      'batchItemFailures[0] has no',
    ],
    [
      'a null itemIdentifier',
      { batchItemFailures: [{ itemIdentifier: null }] },
      'batchItemFailures[0] has no',
    ],
    ['a misspelled key', { batchItemFailures: [{ itemIdentifer: 'id-1' }] }, 'batchItemFailures[0] has no'],
    ['a bare id instead of an entry', { batchItemFailures: ['id-1'] }, 'batchItemFailures[0] has no'],
    [
      'an id from another batch',
      { batchItemFailures: [{ itemIdentifier: 'id-1' }, { itemIdentifier: 'id-9' }] },
      'batchItemFailures[1].itemIdentifier id-9 is not a message of this batch',
    ],
  ])('fails the whole batch on %s', (_case, response, reason) => {
    // Act
    const result = interpretBatchResponse(response, batch);

    // Assess
    expect(result).toEqual({ kind: 'invalid', reason: expect.stringContaining(reason) });
  });
});
