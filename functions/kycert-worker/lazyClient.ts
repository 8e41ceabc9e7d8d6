/**
 * An AWS client given as itself, or as a function that makes it on first use. The worker's clients that the
 * success path does not need (SQS for retries and dead letters, EventBridge for decisions) are made through
 * `await import()` on first use: the bundle keeps them in chunks of their own, which the cold start does not
 * load (issue 14, BENCHMARKS.md P4).
 */
export type ClientSource<T extends object> = T | (() => Promise<T>);

/** `create` called once, on the first call; a failure is not kept, so the next call tries again. */
export function lazily<T>(create: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= create().catch((error: unknown) => {
      made = undefined;
      throw error;
    });
    return made;
  };
}

/** The client of a source, made on the first call when it is a function. */
export function clientOf<T extends object>(source: ClientSource<T>): () => Promise<T> {
  if (typeof source !== 'function') {
    const client = Promise.resolve(source);
    return () => client;
  }
  return lazily(source as () => Promise<T>);
}
