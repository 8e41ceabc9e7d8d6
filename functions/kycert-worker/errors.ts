/** Base class of the worker's own errors; branch on `instanceof`, never on names. */
export class KycertQueueError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Thrown for a record that must come back later: its visibility timeout is already set, and the batch
 * processor reports it as a batch item failure. An expected path, not an error to alarm on.
 */
export class RetryLaterError extends KycertQueueError {
  constructor(
    readonly messageId: string,
    readonly delaySeconds: number,
    readonly retryCause: string,
  ) {
    super(`message ${messageId} retries in ${delaySeconds} s (${retryCause})`);
  }
}
