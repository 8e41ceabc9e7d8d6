import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiKeySource } from './apiKeySource.js';
import {
  AccountBlockCode,
  type BreakerView,
  bookedSlotUsable,
  type FlowControlOptions,
  nextProbeBackoffMs,
  pauseDecision,
  slotDecision,
} from './flowControl.js';
import type { RateLimitGovernor } from './rateLimitGovernor.js';
import type { SharedFlowControl } from './sharedFlowControl.js';

/** The flow-control parts of the worker's dependencies. */
export interface FlowControlDeps {
  shared: SharedFlowControl;
  options: FlowControlOptions;
  /** A key that does not match is a placeholder (the secret never set): the flow pauses, nothing is POSTed. */
  apiKeyPattern: RegExp;
  /** @default node:timers/promises setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

/** A slot booked on the outcome item (`reserved_slot_ms`, `check_slot_ms`: a DynamoDB number), if there is one. */
export function bookedSlotOf(attribute: { N?: string } | undefined): number | undefined {
  const atMs = Number(attribute?.N);
  return Number.isFinite(atMs) && atMs > 0 ? atMs : undefined;
}

/** What the gate let through, or why it did not. */
export type GateResult =
  /** POST now. `probe`: this delivery is the breaker's one probe, and its answer closes or reopens it. */
  | { kind: 'go'; probe: BreakerView | undefined }
  /** Come back later, through the visibility timeout; not an attempt. */
  | {
      kind: 'wait';
      delaySeconds: number;
      cause: 'waiting_for_rate_budget' | 'paused_for_account';
      /** A slot to book on the key for the next delivery. */
      slotAtMs?: number;
      /** Set when this delivery found the API key unset. */
      apiKeyUnset?: true;
    }
  /** Paused past the budget: dead-letter with this code. */
  | { kind: 'giveUp'; code: AccountBlockCode; detail: string };

export interface GateContext {
  nowMs: () => number;
  random: () => number;
  /** The slot an earlier delivery of this message booked on the key, if any. */
  bookedSlotAtMs: number | undefined;
  messageSentAtMs: number;
  lastReceive: boolean;
  /** A probe's hold on the breaker ends with this invocation. */
  deadlineMs: number;
  governor: RateLimitGovernor | undefined;
  apiKey: ApiKeySource | undefined;
  /** A POST, or a status check (a read, which an account out of credits still allows). @default 'post' */
  purpose?: 'post' | 'statusCheck';
}

/**
 * Before a POST: a slot on the shared schedule (or the booked one), the breaker, the API key. Waits for a near
 * slot here; a far one, or an open breaker, is a `wait` for the caller to turn into a visibility change.
 */
export async function passFlowGate(flow: FlowControlDeps, ctx: GateContext): Promise<GateResult> {
  const nowMs = ctx.nowMs();
  let probe: BreakerView | undefined;
  let slot: { atMs: number; booked: boolean };
  if (ctx.bookedSlotAtMs !== undefined && bookedSlotUsable(ctx.bookedSlotAtMs, nowMs, flow.options)) {
    slot = { atMs: ctx.bookedSlotAtMs, booked: true };
  } else {
    const reservation = await flow.shared.reserve(nowMs, ctx.purpose ?? 'post');
    if (reservation.kind === 'paused') {
      const held = await holdOrProbe(flow, reservation.breaker, ctx);
      if (held.kind !== 'go') return held;
      probe = reservation.breaker;
      slot = { atMs: nowMs, booked: false };
    } else {
      slot = { atMs: reservation.atMs, booked: false };
    }
  }
  // The environment's own view of kycert's window (X-RateLimit-*): when it says the window runs low sooner
  // than the schedule thinks (another client of the key), the schedule is pushed back for everyone.
  const localWaitMs = ctx.governor?.reserve(slot.atMs) ?? 0;
  if (localWaitMs > 0) {
    slot = { ...slot, atMs: slot.atMs + localWaitMs };
    await flow.shared.holdUntil(slot.atMs, nowMs);
  }
  const decision = slotDecision(slot, { nowMs, lastReceive: ctx.lastReceive }, flow.options);
  if (decision.action === 'book') {
    return {
      kind: 'wait',
      delaySeconds: decision.delaySeconds,
      cause: 'waiting_for_rate_budget',
      slotAtMs: slot.atMs,
    };
  }
  if (decision.waitMs > 0) await (flow.sleep ?? sleep)(decision.waitMs);
  // Another delivery of this environment may have met the account's block while this one waited.
  const seen = flow.shared.cachedBreaker(ctx.nowMs());
  if (probe === undefined && seen?.state === 'open') return holdOrProbe(flow, seen, ctx, true);
  return checkApiKey(flow, ctx, probe);
}

async function holdOrProbe(
  flow: FlowControlDeps,
  breaker: BreakerView,
  ctx: GateContext,
  noProbe = false,
): Promise<GateResult> {
  const nowMs = ctx.nowMs();
  const pause = pauseDecision(
    breaker,
    { nowMs, messageSentAtMs: ctx.messageSentAtMs, lastReceive: ctx.lastReceive, random: ctx.random() },
    flow.options,
  );
  switch (pause.action) {
    case 'go':
      return { kind: 'go', probe: undefined };
    case 'deadLetter':
      return { kind: 'giveUp', code: pause.code, detail: pause.detail };
    case 'probe':
      if (!noProbe && (await flow.shared.takeProbe(nowMs, ctx.deadlineMs)))
        return { kind: 'go', probe: breaker };
      return {
        kind: 'wait',
        delaySeconds: waitForNextProbe(breaker, ctx, flow),
        cause: 'paused_for_account',
      };
    case 'pause':
      return { kind: 'wait', delaySeconds: pause.delaySeconds, cause: 'paused_for_account' };
  }
}

/** A probe already taken, or due: come back after about one backoff, spread. */
function waitForNextProbe(breaker: BreakerView, ctx: GateContext, flow: FlowControlDeps): number {
  const backoffMs = breaker.state === 'open' ? breaker.backoffMs : flow.options.probeBaseMs;
  return Math.max(1, Math.ceil((backoffMs * (1 + ctx.random() / 2)) / 1000));
}

/**
 * The secret still holds the placeholder the stack generated (no kycert key looks like it): pause the flow
 * instead of spending every message on a 401. A probe reads the secret again, bypassing the cache.
 */
async function checkApiKey(
  flow: FlowControlDeps,
  ctx: GateContext,
  probe: BreakerView | undefined,
): Promise<GateResult> {
  if (ctx.apiKey === undefined) return { kind: 'go', probe };
  const probingTheKey = probe?.state === 'open' && probe.code === AccountBlockCode.apiKeyUnset;
  const key = probingTheKey ? await ctx.apiKey.refresh() : await ctx.apiKey.get();
  if (flow.apiKeyPattern.test(key)) return { kind: 'go', probe };
  const nowMs = ctx.nowMs();
  const current = probe ?? { state: 'closed' as const };
  const backoffMs = nextProbeBackoffMs(current, flow.options);
  await flow.shared.open(AccountBlockCode.apiKeyUnset, nowMs, backoffMs, probe !== undefined);
  return {
    kind: 'wait',
    delaySeconds: Math.max(1, Math.ceil((backoffMs * (1 + ctx.random() / 2)) / 1000)),
    cause: 'paused_for_account',
    apiKeyUnset: true,
  };
}
