/** How one invocation ended, from the event source mapping's side. */
export type InvocationOutcome =
  | { readonly kind: 'returned'; readonly response: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  /** The function timeout passed first. Lambda kills the runtime; in process the handler's promise is abandoned. */
  | { readonly kind: 'timedOut' }
  /** The runtime process ended mid-invocation (a crash, `process.exit`, out of memory): Lambda's `Runtime.ExitError`. */
  | { readonly kind: 'runtimeExited'; readonly error: Error };

/**
 * Runs `invoke` and settles with whichever comes first, its result or the timeout. A synchronous throw counts
 * as `threw`. The returned promise never rejects, and neither does the abandoned one: a handler that fails
 * after its timeout must not become an unhandled rejection.
 */
export async function invokeWithTimeout(
  invoke: () => unknown,
  timeoutMs: number,
): Promise<InvocationOutcome> {
  const running = Promise.resolve()
    .then(invoke)
    .then(
      (response): InvocationOutcome => ({ kind: 'returned', response }),
      (error: unknown): InvocationOutcome => ({ kind: 'threw', error }),
    );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<InvocationOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timedOut' }), timeoutMs);
  });
  try {
    return await Promise.race([running, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
