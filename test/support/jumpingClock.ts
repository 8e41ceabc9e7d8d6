/**
 * A clock that runs with real time but can jump ahead: the worker (`nowMs`) and the sandbox (`clock`) share
 * one, so that "22 hours later" happens between two deliveries without waiting. Real time keeps flowing
 * underneath, so SQS's own timers (visibility, long polls) still work.
 */
export class JumpingClock {
  #offsetMs = 0;

  readonly now = (): number => Date.now() + this.#offsetMs;

  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}
