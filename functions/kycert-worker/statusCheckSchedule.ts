/**
 * When to ask kycert about a run it accepted, decided: pure, so every row is a table test. The first check
 * comes at kycert's estimate ("a hint, actual duration may vary"), then the interval doubles, capped; with
 * webhooks on, polling is the safety net and starts later. A run with no decision after `overdueAfterSeconds`
 * stops being checked and is recorded as `decision_overdue` (an alarm); a webhook may still bring its decision.
 */
export interface StatusCheckOptions {
  /** When kycert gives no estimate. @default 10 s */
  defaultFirstDelaySeconds: number;
  /** The interval never doubles past this. @default 900 s */
  maxIntervalSeconds: number;
  /** No decision this long after acceptance: `decision_overdue`. @default 86 400 s (24 h) */
  overdueAfterSeconds: number;
  /** Webhooks are on: the first check waits for them this much longer than the estimate. */
  webhookGraceSeconds: number | undefined;
}

export const DEFAULT_STATUS_CHECK_OPTIONS: StatusCheckOptions = {
  defaultFirstDelaySeconds: 10,
  maxIntervalSeconds: 900,
  overdueAfterSeconds: 86_400,
  webhookGraceSeconds: undefined,
};

/** kycert POSTs its webhook 5–30 s after the run's creation (its docs): wait that, and as long again. */
export const KYCERT_WEBHOOK_GRACE_SECONDS = 60;

export type StatusCheckDecision =
  /** Ask kycert in this many seconds (from now). */
  | { action: 'check'; delaySeconds: number }
  /** No decision in time: record `decision_overdue`, stop checking. */
  | { action: 'overdue' };

/** The delay before check number `checksDone + 1`, counted from acceptance (check 1 at the estimate). */
export function checkOffsetSeconds(
  checksDone: number,
  estimatedSeconds: number | null,
  options: StatusCheckOptions,
): number {
  const estimate =
    estimatedSeconds !== null && estimatedSeconds > 0 ? estimatedSeconds : options.defaultFirstDelaySeconds;
  const first = Math.max(1, Math.ceil(estimate + (options.webhookGraceSeconds ?? 0)));
  // Check n (1-based) at first + first·1 + first·2 + … intervals doubling from the first delay, capped.
  let offset = first;
  let interval = first;
  for (let n = 1; n <= checksDone; n++) {
    interval = Math.min(interval * 2, options.maxIntervalSeconds);
    offset += interval;
  }
  return offset;
}

/**
 * The next check for a run accepted at `acceptedAtMs`, `checksDone` checks in. A check due later than the
 * overdue time is moved to the overdue time itself, so that the last look comes exactly then.
 */
export function nextStatusCheck(
  at: { acceptedAtMs: number; nowMs: number; checksDone: number; estimatedSeconds: number | null },
  options: StatusCheckOptions,
): StatusCheckDecision {
  const overdueAtMs = at.acceptedAtMs + options.overdueAfterSeconds * 1000;
  if (at.nowMs >= overdueAtMs) return { action: 'overdue' };
  const dueAtMs = at.acceptedAtMs + checkOffsetSeconds(at.checksDone, at.estimatedSeconds, options) * 1000;
  const atMs = Math.min(Math.max(dueAtMs, at.nowMs), overdueAtMs);
  return { action: 'check', delaySeconds: Math.max(0, Math.ceil((atMs - at.nowMs) / 1000)) };
}
