/**
 * A clock that runs with real time but can jump ahead, shared by the pipeline's process (the sandbox's
 * `clock`) and every execution environment (the worker's `nowMs`, through a worker plugin): "22 hours later"
 * happens between two deliveries without waiting. Real time keeps flowing underneath, so SQS's own timers
 * (visibility, long polls) still work. The environments hold copies of the offset, kept current over IPC.
 */
export class JumpingClock {
  #offsetMs = 0;
  readonly #listeners = new Set<(offsetMs: number) => void>();

  readonly now = (): number => Date.now() + this.#offsetMs;

  get offsetMs(): number {
    return this.#offsetMs;
  }

  advance(ms: number): void {
    this.#offsetMs += ms;
    for (const listener of this.#listeners) listener(this.#offsetMs);
  }

  /** Calls `listener` with the new offset after every jump; returns the unsubscribe function. */
  onAdvance(listener: (offsetMs: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
