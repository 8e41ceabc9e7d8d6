import { describe, expect, it } from 'vitest';
import type { BreakerView, FlowControlOptions } from '../functions/kycert-worker/flowControl.js';
import { type FlowControlDeps, type GateContext, passFlowGate } from '../functions/kycert-worker/flowGate.js';
import { RateLimitGovernor } from '../functions/kycert-worker/rateLimitGovernor.js';
import type { Reservation, SharedFlowControl } from '../functions/kycert-worker/sharedFlowControl.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const options: FlowControlOptions = {
  maxInFunctionWaitMs: 1_000,
  deferLeadMs: 1_000,
  maxLateMs: 500,
  pauseBudgetMs: 24 * 3_600_000,
  probeBaseMs: 2_000,
  probeMaxMs: 10_000,
};

/** The shared state's calls, recorded; what it answers, scripted. */
function fakeShared(script: { reservation?: Reservation; probeWon?: boolean; cached?: BreakerView } = {}) {
  const calls: string[] = [];
  const shared = {
    reserve: async () => {
      calls.push('reserve');
      return script.reservation ?? { kind: 'slot', atMs: NOW_MS };
    },
    holdUntil: async (atMs: number) => {
      calls.push(`holdUntil +${atMs - NOW_MS}`);
    },
    cachedBreaker: () => script.cached,
    takeProbe: async () => {
      calls.push('takeProbe');
      return script.probeWon ?? false;
    },
    open: async (code: string, _nowMs: number, backoffMs: number, reopen: boolean) => {
      calls.push(`open ${code} ${backoffMs} ${reopen}`);
    },
  } as unknown as SharedFlowControl;
  return { shared, calls };
}

function gate(shared: SharedFlowControl, sleeps: number[]): FlowControlDeps {
  return { shared, options, apiKeyPattern: /^sk_(test|live)_/, sleep: async (ms) => void sleeps.push(ms) };
}

const context = (overrides: Partial<GateContext> = {}): GateContext => ({
  nowMs: () => NOW_MS,
  random: () => 0,
  bookedSlotAtMs: undefined,
  messageSentAtMs: NOW_MS - 10_000,
  lastReceive: false,
  deadlineMs: NOW_MS + 60_000,
  governor: undefined,
  apiKey: { get: async () => 'sk_test_key', refresh: async () => 'sk_test_key' },
  ...overrides,
});
const openBreaker = (overrides: Partial<Extract<BreakerView, { state: 'open' }>> = {}): BreakerView => ({
  state: 'open',
  code: 'http_402',
  openedAtMs: NOW_MS - 5_000,
  nextProbeAtMs: NOW_MS + 1_500,
  backoffMs: 2_000,
  probeUntilMs: undefined,
  ...overrides,
});

describe('passFlowGate', () => {
  it('a near slot is waited for here, then the POST goes', async () => {
    const { shared, calls } = fakeShared({ reservation: { kind: 'slot', atMs: NOW_MS + 400 } });
    const sleeps: number[] = [];
    expect(await passFlowGate(gate(shared, sleeps), context())).toEqual({ kind: 'go', probe: undefined });
    expect(sleeps).toEqual([400]);
    expect(calls).toEqual(['reserve']);
  });

  it('a far slot is booked: come back for it, no attempt', async () => {
    const { shared } = fakeShared({ reservation: { kind: 'slot', atMs: NOW_MS + 7_500 } });
    expect(await passFlowGate(gate(shared, []), context())).toEqual({
      kind: 'wait',
      delaySeconds: 6,
      cause: 'waiting_for_rate_budget',
      slotAtMs: NOW_MS + 7_500,
    });
  });

  it('a slot booked by an earlier delivery is used without a new reservation', async () => {
    const { shared, calls } = fakeShared();
    const sleeps: number[] = [];
    expect(
      await passFlowGate(gate(shared, sleeps), context({ bookedSlotAtMs: NOW_MS + 1_800 })),
    ).toMatchObject({
      kind: 'go',
    });
    expect(calls).toEqual([]);
    expect(sleeps).toEqual([1_800]);
  });

  it('a booked slot come back for too late is given up for a new one', async () => {
    const { shared, calls } = fakeShared();
    await passFlowGate(gate(shared, []), context({ bookedSlotAtMs: NOW_MS - 2_000 }));
    expect(calls).toEqual(['reserve']);
  });

  it('when this environment’s view of kycert’s window says it is spent, the schedule is pushed to the reset for all', async () => {
    const governor = new RateLimitGovernor();
    governor.observe({ limit: 60, remaining: 0, resetAtEpochSeconds: NOW_MS / 1000 + 20 }, NOW_MS);
    const { shared, calls } = fakeShared({ reservation: { kind: 'slot', atMs: NOW_MS } });
    const result = await passFlowGate(gate(shared, []), context({ governor }));
    expect(calls).toEqual(['reserve', 'holdUntil +20000']);
    expect(result).toMatchObject({
      kind: 'wait',
      cause: 'waiting_for_rate_budget',
      slotAtMs: NOW_MS + 20_000,
    });
  });

  it('an open breaker before its probe: paused until after the probe, not an attempt', async () => {
    const { shared } = fakeShared({ reservation: { kind: 'paused', breaker: openBreaker() } });
    expect(await passFlowGate(gate(shared, []), context())).toEqual({
      kind: 'wait',
      delaySeconds: 2,
      cause: 'paused_for_account',
    });
  });

  it('at probe time, the delivery that takes the probe goes at once, carrying the breaker it probes', async () => {
    const breaker = openBreaker({ nextProbeAtMs: NOW_MS - 1 });
    const { shared, calls } = fakeShared({ reservation: { kind: 'paused', breaker }, probeWon: true });
    expect(await passFlowGate(gate(shared, []), context())).toEqual({ kind: 'go', probe: breaker });
    expect(calls).toEqual(['reserve', 'takeProbe']);
  });

  it('at probe time, one that loses the probe waits about a backoff', async () => {
    const breaker = openBreaker({ nextProbeAtMs: NOW_MS - 1 });
    const { shared } = fakeShared({ reservation: { kind: 'paused', breaker }, probeWon: false });
    expect(await passFlowGate(gate(shared, []), context())).toEqual({
      kind: 'wait',
      delaySeconds: 2,
      cause: 'paused_for_account',
    });
  });

  it('paused longer than the budget: given up with the breaker’s code', async () => {
    const breaker = openBreaker({ openedAtMs: NOW_MS - 25 * 3_600_000 });
    const { shared } = fakeShared({ reservation: { kind: 'paused', breaker } });
    expect(
      await passFlowGate(gate(shared, []), context({ messageSentAtMs: NOW_MS - 26 * 3_600_000 })),
    ).toMatchObject({ kind: 'giveUp', code: 'http_402' });
  });

  it('a breaker this environment saw open while the delivery waited for its slot: no POST', async () => {
    const { shared } = fakeShared({
      reservation: { kind: 'slot', atMs: NOW_MS + 300 },
      cached: openBreaker(),
    });
    expect(await passFlowGate(gate(shared, []), context())).toMatchObject({
      kind: 'wait',
      cause: 'paused_for_account',
    });
  });

  it('an API key that is still the stack’s placeholder opens the breaker as api_key_unset, and nothing is POSTed', async () => {
    const { shared, calls } = fakeShared();
    const placeholder = { get: async () => 'Xq3v9P2mLr7TzB5wK8nD4fH6jS1cA0eG', refresh: async () => 'same' };
    expect(await passFlowGate(gate(shared, []), context({ apiKey: placeholder }))).toEqual({
      kind: 'wait',
      delaySeconds: 2,
      cause: 'paused_for_account',
      apiKeyUnset: true,
    });
    expect(calls).toEqual(['reserve', 'open api_key_unset 2000 false']);
  });

  it('the probe of an unset key reads the secret again, and goes once it holds a real key', async () => {
    const breaker = openBreaker({ code: 'api_key_unset', nextProbeAtMs: NOW_MS - 1 });
    const { shared } = fakeShared({ reservation: { kind: 'paused', breaker }, probeWon: true });
    let refreshed = 0;
    const apiKey = {
      get: async () => 'placeholder',
      refresh: async () => {
        refreshed += 1;
        return 'sk_live_real';
      },
    };
    expect(await passFlowGate(gate(shared, []), context({ apiKey }))).toEqual({ kind: 'go', probe: breaker });
    expect(refreshed).toBe(1);
  });
});
