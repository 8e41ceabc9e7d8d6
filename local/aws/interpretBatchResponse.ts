/** What the event source mapping does with a batch once the function has returned. */
export type BatchVerdict =
  | { readonly kind: 'allSucceeded' }
  /** Delete all but these; they come back when their visibility timeout ends. */
  | { readonly kind: 'someFailed'; readonly failedMessageIds: readonly string[] }
  /** The response cannot be trusted: Lambda deletes nothing and the whole batch comes back. */
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Lambda's reading of a partial batch response (ReportBatchItemFailures), from the Lambda developer guide,
 * "Handling errors for an SQS event source":
 * - success: a null or empty response, or a null or empty `batchItemFailures` list;
 * - whole batch failed: an invalid response, an empty or null `itemIdentifier`, an entry with a misspelled
 *   key, or an `itemIdentifier` that is not a message of this batch.
 */
export function interpretBatchResponse(response: unknown, batchMessageIds: readonly string[]): BatchVerdict {
  if (response === undefined || response === null) {
    return { kind: 'allSucceeded' };
  }
  if (typeof response !== 'object' || Array.isArray(response)) {
    return { kind: 'invalid', reason: `the response is ${describe(response)}, not an object` };
  }
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) {
    return { kind: 'allSucceeded' };
  }
  if (!Array.isArray(failures)) {
    return { kind: 'invalid', reason: `batchItemFailures is ${describe(failures)}, not an array` };
  }
  const inBatch = new Set(batchMessageIds);
  const failedMessageIds = new Set<string>();
  for (const [index, failure] of failures.entries()) {
    const itemIdentifier =
      typeof failure === 'object' && failure !== null
        ? (failure as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    if (typeof itemIdentifier !== 'string' || itemIdentifier === '') {
      return {
        kind: 'invalid',
        reason: `batchItemFailures[${index}] has no itemIdentifier: ${JSON.stringify(failure) ?? String(failure)}`,
      };
    }
    if (!inBatch.has(itemIdentifier)) {
      return {
        kind: 'invalid',
        reason: `batchItemFailures[${index}].itemIdentifier ${itemIdentifier} is not a message of this batch`,
      };
    }
    failedMessageIds.add(itemIdentifier);
  }
  return failedMessageIds.size === 0
    ? { kind: 'allSucceeded' }
    : { kind: 'someFailed', failedMessageIds: [...failedMessageIds] };
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
