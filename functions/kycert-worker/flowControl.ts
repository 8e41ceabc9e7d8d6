/**
 * Flow control, decided: given a slot on the shared schedule, or the state of the account breaker, what this
 * delivery does now. Pure — the schedule and the breaker live in DynamoDB (sharedFlowControl.ts), the caller
 * acts — so every path is a row in a table test.
 *
 * Two waits, neither of them an attempt:
 *   - for the rate budget: a slot a moment away is waited for in the function (cheaper than a round trip
 *     through SQS: one more receive, one more invocation); a slot further away is booked on the key and the
 *     message comes back just before it, through its visibility timeout;
 *   - for the account (402, a 401 that persists, a 403, an API key never set): the whole flow pauses; one
 *     probe at a time goes out, with backoff; the first success closes the breaker.
 */

export interface FlowControlOptions {
  /** A slot at most this far away is waited for inside the function. Measured: BENCHMARKS.md, P3. */
  maxInFunctionWaitMs: number;
  /** A booked slot is come back for this long before it, so that the visibility's whole seconds never make it late. */
  deferLeadMs: number;
  /** A booked slot more than this in the past (the message came back late) is given up for a new one. */
  maxLateMs: number;
  /** A message paused longer than this is dead-lettered as `kycert_account_blocked:<code>`. */
  pauseBudgetMs: number;
  /** First wait before probing an open breaker; doubles with each failed probe, up to `probeMaxMs`. */
  probeBaseMs: number;
  probeMaxMs: number;
}

/** What kycert's answer said of the account, not of the message: the flow pauses on these. */
export const AccountBlockCode = {
  outOfCredits: 'http_402',
  unauthorized: 'http_401',
  missingScope: 'http_403',
  apiKeyUnset: 'api_key_unset',
} as const;
export type AccountBlockCode = (typeof AccountBlockCode)[keyof typeof AccountBlockCode];

export type BreakerView =
  | { state: 'closed' }
  | {
      state: 'open';
      code: AccountBlockCode;
      openedAtMs: number;
      nextProbeAtMs: number;
      backoffMs: number;
      /** A probe holds the breaker until then (one probe at a time). */
      probeUntilMs: number | undefined;
    };

export type SlotDecision =
  /** Wait this long here, then POST. */
  | { action: 'send'; waitMs: number }
  /** Keep the slot on the key's item and come back for it: the visibility timeout to set. */
  | { action: 'book'; delaySeconds: number };

/**
 * A slot of the shared schedule, taken now or booked by an earlier delivery of this message. A booked slot has
 * a second's more room: the message was sent back `deferLeadMs` early, in whole seconds.
 */
export function slotDecision(
  slot: { atMs: number; booked: boolean },
  at: { nowMs: number; lastReceive: boolean },
  options: FlowControlOptions,
): SlotDecision {
  const waitMs = Math.max(0, slot.atMs - at.nowMs);
  const roomMs = slot.booked
    ? options.maxInFunctionWaitMs + options.deferLeadMs + 1_000
    : options.maxInFunctionWaitMs;
  // A visibility is one whole second at least: a slot nearer than that is waited for here, whatever the threshold,
  // or the message would always come back after it.
  if (waitMs <= roomMs || waitMs < 1_000) return { action: 'send', waitMs };
  // On its last receive before the redrive policy a message is never deferred: it goes at most a short wait
  // from now (a 429 then dead-letters it with its reason, never without one).
  if (at.lastReceive) return { action: 'send', waitMs: options.maxInFunctionWaitMs };
  return { action: 'book', delaySeconds: Math.max(1, Math.floor((waitMs - options.deferLeadMs) / 1000)) };
}

/** Whether a booked slot can still be used: not so far past that a call now would bunch with others. */
export function bookedSlotUsable(bookedAtMs: number, nowMs: number, options: FlowControlOptions): boolean {
  return bookedAtMs >= nowMs - options.maxLateMs;
}

export type PauseDecision =
  | { action: 'go' }
  /** This delivery may be the one probe: try to take the probe lease. */
  | { action: 'probe' }
  /** Come back after the next probe, spread so that the paused messages do not all return at once. */
  | { action: 'pause'; delaySeconds: number }
  | { action: 'deadLetter'; code: AccountBlockCode; detail: string };

/**
 * The breaker, for one delivery. `pausedSinceMs` is when this message can first have been paused: the later
 * of its send time and the breaker's opening.
 */
export function pauseDecision(
  breaker: BreakerView,
  at: { nowMs: number; messageSentAtMs: number; lastReceive: boolean; random: number },
  options: FlowControlOptions,
): PauseDecision {
  if (breaker.state === 'closed') return { action: 'go' };
  const pausedForMs = at.nowMs - Math.max(at.messageSentAtMs, breaker.openedAtMs);
  if (pausedForMs > options.pauseBudgetMs || at.lastReceive) {
    return {
      action: 'deadLetter',
      code: breaker.code,
      detail:
        `the kycert account has been blocked (${breaker.code}) for ${Math.round(pausedForMs / 60_000)} min` +
        (at.lastReceive ? ', and this is the last receive before the redrive policy' : '') +
        '; fix the account, then redrive (docs/operations.md, kycert-account-blocked)',
    };
  }
  const probeFree = breaker.probeUntilMs === undefined || breaker.probeUntilMs < at.nowMs;
  if (at.nowMs >= breaker.nextProbeAtMs && probeFree) return { action: 'probe' };
  const untilProbeMs = Math.max(0, breaker.nextProbeAtMs - at.nowMs);
  // After the probe, spread over half a backoff: if it succeeded the schedule paces them anyway, and if it
  // failed they see the next probe time then.
  const spreadMs = at.random * (breaker.backoffMs / 2);
  return { action: 'pause', delaySeconds: Math.max(1, Math.ceil((untilProbeMs + spreadMs) / 1000)) };
}

/** The backoff after a probe failed the same way: doubled, capped. A breaker opening anew starts at the base. */
export function nextProbeBackoffMs(breaker: BreakerView, options: FlowControlOptions): number {
  if (breaker.state === 'closed') return options.probeBaseMs;
  return Math.min(options.probeMaxMs, Math.max(options.probeBaseMs, breaker.backoffMs * 2));
}

/**
 * The spacing of the shared schedule: calls evenly spaced, so that any window of kycert's holds at most
 * `callsPerWindow` of them, whatever its alignment with ours (a window of length W holds at most W / T
 * calls spaced T when W / T is whole). A headroom for other users of the key, and at least one call short of
 * the limit so that a call landing on the window's edge cannot be the one too many.
 */
export function slotIntervalMs(limitPerWindow: number, windowMs: number, headroom: number): number {
  const callsPerWindow = Math.max(
    1,
    Math.min(Math.floor(limitPerWindow * (1 - headroom)), limitPerWindow - 1),
  );
  return windowMs / callsPerWindow;
}
