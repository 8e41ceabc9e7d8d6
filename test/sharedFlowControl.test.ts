import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SharedFlowControl } from '../functions/kycert-worker/sharedFlowControl.js';
import { LOCAL_CREDENTIALS } from '../local/aws/createLocalClients.js';
import { createOutcomeTable } from '../local/aws/createOutcomeTable.js';
import type { RunningEmulator } from '../local/aws/RunningEmulator.js';
import { startDynamoDbEmulator } from '../local/aws/startDynamoDbEmulator.js';

/**
 * The shared schedule and breaker against dynalite, with real SDK clients: several SharedFlowControl
 * instances stand for several execution environments, each with its own client and cache.
 */

const T0_MS = Date.parse('2026-11-23T12:00:00.000Z');
const INTERVAL_MS = 100;
let emulator: RunningEmulator;
let client: DynamoDBClient;
let table = 0;
let tableName: string;

const environment = (options: { coalesce?: boolean } = {}) =>
  new SharedFlowControl({ client, tableName, intervalMs: () => INTERVAL_MS, ...options });
const slotOf = (reservation: { kind: string; atMs?: number }) => {
  if (reservation.kind !== 'slot') throw new Error(`expected a slot, got ${JSON.stringify(reservation)}`);
  return reservation.atMs as number;
};

beforeAll(async () => {
  emulator = await startDynamoDbEmulator();
  client = new DynamoDBClient({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
});
afterAll(async () => {
  client.destroy();
  await emulator.stop();
});
beforeEach(async () => {
  tableName = `outcomes-${table++}`;
  await createOutcomeTable(client, tableName);
});

describe('the shared schedule', () => {
  it('an idle schedule gives the first slot now, and the next ones T apart', async () => {
    const env = environment({ coalesce: false });
    const slots = [];
    for (let i = 0; i < 4; i++) slots.push(slotOf(await env.reserve(T0_MS)));
    expect(slots).toEqual([T0_MS, T0_MS + 100, T0_MS + 200, T0_MS + 300]);
  });

  it('three environments reserving at once share one line: every slot distinct, evenly spaced', async () => {
    const envs = [environment(), environment(), environment()];
    const slots = (
      await Promise.all(envs.flatMap((env) => Array.from({ length: 10 }, () => env.reserve(T0_MS))))
    ).map(slotOf);
    const sorted = [...slots].sort((a, b) => a - b);
    expect(sorted).toEqual(Array.from({ length: 30 }, (_, i) => T0_MS + i * INTERVAL_MS));
  });

  it('coalesces the reservations of one turn of the event loop into one write', async () => {
    const env = environment();
    const slots = (await Promise.all(Array.from({ length: 10 }, () => env.reserve(T0_MS)))).map(slotOf);
    expect(slots).toEqual(Array.from({ length: 10 }, (_, i) => T0_MS + i * INTERVAL_MS));
    expect(env.writes.reservations).toBe(1);
  });

  it('without coalescing, one write per slot', async () => {
    const env = environment({ coalesce: false });
    await Promise.all(Array.from({ length: 5 }, () => env.reserve(T0_MS)));
    expect(env.writes.reservations).toBeGreaterThanOrEqual(5);
  });

  it('a schedule that fell behind now restarts at now, not in the past', async () => {
    const env = environment();
    slotOf(await env.reserve(T0_MS));
    expect(slotOf(await env.reserve(T0_MS + 60_000))).toBe(T0_MS + 60_000);
  });

  it('after a hold (a 429, a window spent) every slot is after it, spread T apart', async () => {
    const [a, b] = [environment(), environment()];
    slotOf(await a.reserve(T0_MS));
    await a.holdUntil(T0_MS + 5_000, T0_MS);
    const slots = (
      await Promise.all([b.reserve(T0_MS + 10), b.reserve(T0_MS + 10), a.reserve(T0_MS + 10)])
    ).map(slotOf);
    expect([...slots].sort((x, y) => x - y)).toEqual([T0_MS + 5_000, T0_MS + 5_100, T0_MS + 5_200]);
  });

  it('a hold earlier than the schedule changes nothing', async () => {
    const env = environment();
    await env.holdUntil(T0_MS + 5_000, T0_MS);
    await env.holdUntil(T0_MS + 1_000, T0_MS);
    expect(slotOf(await env.reserve(T0_MS))).toBe(T0_MS + 5_000);
  });
});

describe('the account breaker', () => {
  it('an open breaker refuses reservations in every environment, and says why', async () => {
    const [a, b] = [environment(), environment()];
    await a.open('http_402', T0_MS, 2_000);
    const reservation = await b.reserve(T0_MS + 10);
    expect(reservation).toEqual({
      kind: 'paused',
      breaker: {
        state: 'open',
        code: 'http_402',
        openedAtMs: T0_MS,
        nextProbeAtMs: T0_MS + 2_000,
        backoffMs: 2_000,
        probeUntilMs: undefined,
      },
    });
  });

  it('one probe at a time, and only once its time has come', async () => {
    const [a, b, c] = [environment(), environment(), environment()];
    await a.open('http_402', T0_MS, 2_000);
    expect(await b.takeProbe(T0_MS + 1_000, T0_MS + 61_000)).toBe(false); // too early
    const probes = await Promise.all([b, c].map((env) => env.takeProbe(T0_MS + 2_000, T0_MS + 62_000)));
    expect(probes.filter(Boolean)).toHaveLength(1);
  });

  it('a failed probe reopens with its new backoff and frees the probe; the opening time is kept', async () => {
    const env = environment();
    await env.open('http_402', T0_MS, 2_000);
    expect(await env.takeProbe(T0_MS + 2_000, T0_MS + 62_000)).toBe(true);
    await env.open('http_402', T0_MS + 2_100, 4_000, true);
    expect(await env.readBreaker(T0_MS + 2_100)).toEqual({
      state: 'open',
      code: 'http_402',
      openedAtMs: T0_MS,
      nextProbeAtMs: T0_MS + 6_100,
      backoffMs: 4_000,
      probeUntilMs: undefined,
    });
  });

  it('a second opening outside a probe leaves the breaker as it is', async () => {
    const [a, b] = [environment(), environment()];
    await a.open('http_402', T0_MS, 2_000);
    await b.open('http_403', T0_MS + 500, 2_000);
    expect(await a.readBreaker(T0_MS + 600)).toMatchObject({
      code: 'http_402',
      nextProbeAtMs: T0_MS + 2_000,
    });
  });

  it('the first success closes it: reservations are served again, and a second close is a no-op', async () => {
    const [a, b] = [environment(), environment()];
    await a.open('http_402', T0_MS, 2_000);
    expect(await b.close(T0_MS + 2_500)).toBe(true);
    expect(await a.close(T0_MS + 2_600)).toBe(false);
    expect((await a.reserve(T0_MS + 2_700)).kind).toBe('slot');
  });

  it('an environment that saw the breaker open says so from its cache, briefly', async () => {
    const env = environment();
    await env.open('http_402', T0_MS, 2_000);
    expect(env.cachedBreaker(T0_MS + 100)).toMatchObject({ state: 'open' });
    expect(env.cachedBreaker(T0_MS + 1_000)).toBeUndefined();
  });
});
