/**
 * Shared by the AWS fault plugins: faults thrown as the SDK surfaces them once its own retries are spent,
 * either before the call (nothing happened) or after it (it happened, the answer was lost).
 */
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { RequestThrottled } from '@aws-sdk/client-sqs';

export type When = 'before' | 'after';

export const throttled = (what: string) =>
  new ProvisionedThroughputExceededException({ message: `injected: ${what} throttled`, $metadata: {} });
export const sqsThrottled = (what: string) =>
  new RequestThrottled({ message: `injected: ${what} throttled`, $metadata: {} });

/** Runs `call` with the fault `when` says: thrown instead of it, or after it. */
export async function withFault<T>(
  when: When | undefined,
  error: () => Error,
  call: () => Promise<T>,
): Promise<T> {
  if (when === 'before') throw error();
  const result = await call();
  if (when === 'after') throw error();
  return result;
}
