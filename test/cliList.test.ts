/**
 * `list` and `status` over the outcome table as the worker and the webhook receiver write it: dynalite with the
 * deployed indexes, items written by the OutcomeStore's own methods, the CLI's entry point (`runCli`).
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LIST_STATUS_SHARDS,
  OutcomeStore,
  shardedListStatus,
} from '../functions/kycert-worker/outcomeStore.js';
import type { RunResult } from '../functions/kycert-worker/runResult.js';
import { SharedFlowControl } from '../functions/kycert-worker/sharedFlowControl.js';
import { LOCAL_CREDENTIALS } from '../local/aws/createLocalClients.js';
import { createOutcomeTable } from '../local/aws/createOutcomeTable.js';
import type { RunningEmulator } from '../local/aws/RunningEmulator.js';
import { startDynamoDbEmulator } from '../local/aws/startDynamoDbEmulator.js';
import type { Target } from '../tools/target.js';
import { runCliCaptured } from './support/runCliCaptured.js';
import { runRequestFactory } from './support/runRequestFactory.js';

const TABLE = 'kycert-outcomes';
const T0_MS = Date.parse('2026-11-23T10:00:00.000Z');
const NOW_MS = T0_MS + 3_600_000;

let emulator: RunningEmulator;
let dynamodb: DynamoDBClient;
let store: OutcomeStore;

beforeAll(async () => {
  emulator = await startDynamoDbEmulator();
  dynamodb = new DynamoDBClient({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  await createOutcomeTable(dynamodb, TABLE);
  store = new OutcomeStore({ client: dynamodb, tableName: TABLE, ttlSeconds: 30 * 86_400 });
});
afterAll(async () => {
  dynamodb?.destroy();
  await emulator?.stop();
});

const target = (): Target => ({
  kind: 'explicit',
  description: 'dynalite',
  notes: [],
  sqs: new SQSClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS }),
  dynamodb,
  queueUrl: undefined,
  deadLetterQueueUrl: undefined,
  tableName: TABLE,
  idempotencyWindowHours: 22,
  supportsMessageMoveTask: false,
  queueArn: async () => '',
  deadLetterQueueArn: async () => '',
  destroy: () => {},
});

const cli = (...args: string[]) =>
  runCliCaptured(args, { nowMs: () => NOW_MS, resolveTarget: async () => target() });

/** A key accepted by kycert at `atMs`, as the worker records it. */
async function acceptedKey(key: string, runId: string, atMs: number): Promise<void> {
  const request = runRequestFactory({ idempotencyKey: key, externalId: `order-${key}` });
  const begun = await store.beginAttempt(request, { nowMs: atMs, leaseUntilMs: atMs + 30_000 });
  expect(begun.kind).toBe('started');
  await store.recordSuccess(key, {
    runId,
    httpStatus: 202,
    replayed: false,
    nowMs: atMs,
    leaseToken: begun.kind === 'started' ? begun.leaseToken : undefined,
    estimatedSeconds: 5,
    nextCheckAtMs: atMs + 5_000,
  });
}

const result = (runId: string, overrides: Partial<RunResult> = {}): RunResult => ({
  runId,
  status: 'blocked',
  decision: 'BLOCKED',
  riskBand: 'CRITICAL',
  completedAt: '2026-11-23T10:00:05.000Z',
  failedAt: null,
  estimatedSeconds: 5,
  ...overrides,
});

describe('list --decision over the four shards', () => {
  // 9 blocked decisions, one a minute, over keys whose hashes spread them across the shards.
  const blockedKeys = Array.from({ length: 9 }, (_, i) => `list-blocked-${i}`);

  beforeAll(async () => {
    for (const [i, key] of blockedKeys.entries()) {
      await acceptedKey(key, `run_blocked_${i}`, T0_MS);
      await store.recordRunResult(key, result(`run_blocked_${i}`), {
        nowMs: T0_MS + (i + 1) * 60_000,
        source: 'webhook',
      });
    }
    await acceptedKey('list-approved-0', 'run_approved_0', T0_MS);
    await store.recordRunResult(
      'list-approved-0',
      result('run_approved_0', { status: 'completed', decision: 'APPROVED', riskBand: 'LOW' }),
      {
        nowMs: T0_MS + 120_000,
        source: 'status_check',
      },
    );
  });

  it('spreads the keys over more than one shard (else this test would prove nothing about merging)', () => {
    const shards = new Set(blockedKeys.map((key) => shardedListStatus(key, 'decision:blocked')));
    expect(shards.size).toBeGreaterThan(1);
    expect([...shards].every((value) => /^decision:blocked#[0-3]$/.test(value))).toBe(true);
    expect(LIST_STATUS_SHARDS).toBe(4);
  });

  it('lists every blocked decision once, newest first, in pages of 4 whose token spans the shards', async () => {
    // Act
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let token: string | null = null;
    do {
      const page = await cli(
        'list',
        '--decision',
        'blocked',
        '--limit',
        '4',
        '--json',
        ...(token === null ? [] : ['--next-token', token]),
      );
      expect(page.code).toBe(0);
      const json = page.json<{
        items: { idempotency_key: string; decision: string }[];
        next_token: string | null;
      }>();
      pageSizes.push(json.items.length);
      seen.push(...json.items.map((item) => item.idempotency_key));
      expect(json.items.every((item) => item.decision === 'BLOCKED')).toBe(true);
      token = json.next_token;
    } while (token !== null && pageSizes.length < 10);

    // Assess
    expect(pageSizes).toEqual([4, 4, 1]);
    expect(seen).toEqual([...blockedKeys].reverse());
  });

  it('shows the run columns in a table, and --since bounds the list', async () => {
    const listed = await cli('list', '--decision', 'blocked', '--since', '2026-11-23T10:08:00Z');

    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/run status\s+│ decision\s+│ risk/);
    expect(listed.stdout).toContain('list-blocked-8');
    expect(listed.stdout).toContain('list-blocked-7');
    expect(listed.stdout).not.toContain('list-blocked-6');
    expect(listed.stdout).toContain(
      '2 of blocked decisions (--decision blocked) since 2026-11-23T10:08:00Z, newest first.',
    );
  });

  it('keeps decisions apart: approved lists the approved key only', async () => {
    const listed = (await cli('list', '--decision', 'approved', '--json')).json<{
      items: { idempotency_key: string }[];
    }>();

    expect(listed.items.map((item) => item.idempotency_key)).toEqual(['list-approved-0']);
  });

  it('refuses a token of another list', async () => {
    const first = (await cli('list', '--decision', 'blocked', '--limit', '1', '--json')).json<{
      next_token: string;
    }>();

    const refused = await cli('list', '--decision', 'approved', '--next-token', first.next_token);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'error: --next-token belongs to a list of blocked decisions (--decision blocked), not of approved decisions (--decision approved)',
    );
  });
});

describe('list --status, --run-status, --unmatched', () => {
  beforeAll(async () => {
    const request = runRequestFactory({ idempotencyKey: 'list-dead-0' });
    await store.recordFailure(request.idempotencyKey, {
      reason: 'invalid_message:subject.doc:invalid_check_digits',
      nowMs: T0_MS,
      attempted: false,
    });
    await acceptedKey('list-failed-run-0', 'run_failed_0', T0_MS);
    await store.recordRunResult(
      'list-failed-run-0',
      result('run_failed_0', {
        status: 'failed',
        decision: null,
        riskBand: null,
        completedAt: null,
        failedAt: '2026-11-23T10:00:06.000Z',
      }),
      { nowMs: T0_MS + 6_000, source: 'status_check' },
    );
    await acceptedKey('list-overdue-0', 'run_overdue_0', T0_MS);
    await store.recordDecisionOverdue('list-overdue-0', {
      runId: 'run_overdue_0',
      nowMs: T0_MS + 86_400_000,
    });
    await store.parkRunResult(result('run_nobody_0'), { eventId: 'evt_nobody_0', nowMs: T0_MS + 30_000 });
  });

  it.each([
    [['--status', 'failed'], 'list-dead-0'],
    [['--run-status', 'failed'], 'list-failed-run-0'],
    [['--run-status', 'decision_overdue'], 'list-overdue-0'],
    [['--unmatched'], 'kycert-queue run run_nobody_0'],
  ])('list %j finds %s, and only it', async (flags, key) => {
    const listed = (await cli('list', ...flags, '--json')).json<{ items: { idempotency_key: string }[] }>();

    expect(listed.items.map((item) => item.idempotency_key)).toEqual([key]);
  });

  it('shows the dead-letter reason for --status failed, and the parked run for --unmatched', async () => {
    const dead = await cli('list', '--status', 'failed');
    const unmatched = await cli('list', '--unmatched');

    expect(dead.stdout).toContain('invalid_message:subject.doc:invalid_check_digits');
    expect(unmatched.stdout).toMatch(/run_nobody_0\s+│ blocked\s+│ BLOCKED\s+│ CRITICAL/);
    expect(unmatched.stdout).toContain('1 of unmatched webhooks (--unmatched), newest first.');
  });

  it('drops a parked result from --unmatched once the worker takes it, and says so when the list is empty', async () => {
    await store.parkRunResult(result('run_taken_0'), { eventId: 'evt_taken_0', nowMs: T0_MS + 40_000 });
    const before = (await cli('list', '--unmatched', '--json')).json<{ items: unknown[] }>().items.length;

    const taken = await store.takeParkedRunResult('run_taken_0', { nowMs: T0_MS + 50_000 });
    const after = await cli('list', '--unmatched', '--since', '2026-11-23T10:00:35Z');

    expect(before).toBe(2);
    expect(taken).toEqual(result('run_taken_0'));
    expect(after.stdout).toBe('No unmatched webhooks (--unmatched) since 2026-11-23T10:00:35Z.\n');
  });
});

describe('status <key>', () => {
  it('shows the run status, decision, risk band, completion, checks and the decision event', async () => {
    await acceptedKey('status-run-0', 'run_status_0', T0_MS);
    await store.recordStatusCheck('status-run-0', { nowMs: T0_MS + 5_000, nextCheckAtMs: T0_MS + 15_000 });
    await store.recordRunResult(
      'status-run-0',
      result('run_status_0', { status: 'pending_review', decision: 'PENDING_REVIEW', riskBand: 'HIGH' }),
      {
        nowMs: T0_MS + 16_000,
        source: 'status_check',
      },
    );
    await store.recordDecisionPublished('status-run-0', { nowMs: T0_MS + 16_000 });

    const shown = await cli('status', 'status-run-0');

    expect(shown.code).toBe(0);
    for (const line of [
      /run status\s+pending_review/,
      /decision\s+PENDING_REVIEW/,
      /risk band\s+HIGH/,
      /completed at\s+2026-11-23T10:00:05\.000Z \(60 min ago\)/,
      /decided\s+2026-11-23T10:00:16\.000Z \(60 min ago\), by status check/,
      /decision event\s+2026-11-23T10:00:16\.000Z/,
      /estimate\s+5 s/,
      /status checks\s+2/, // the one that found it queued, and the one that found its result
    ]) {
      expect(shown.stdout).toMatch(line);
    }
    expect(shown.stdout).not.toMatch(/next check/);
  });

  it('shows a failed run’s failed_at and its null decision, and the next check of a queued one', async () => {
    const failed = await cli('status', 'list-failed-run-0');
    await acceptedKey('status-queued-0', 'run_queued_0', T0_MS);
    const queued = await cli('status', 'status-queued-0');

    expect(failed.stdout).toMatch(/run status\s+failed/);
    expect(failed.stdout).toMatch(/decision\s+none \(null\)/);
    expect(failed.stdout).toMatch(/failed at\s+2026-11-23T10:00:06\.000Z/);
    expect(failed.stdout).not.toMatch(/completed at/);
    expect(queued.stdout).toMatch(/run status\s+queued/);
    expect(queued.stdout).toMatch(/next check\s+2026-11-23T10:00:05\.000Z/);
  });
});

describe('flow', () => {
  it('says the flow runs when the breaker never opened, and what the rate schedule holds', async () => {
    const flow = new SharedFlowControl({ client: dynamodb, tableName: TABLE, intervalMs: () => 1_000 });
    await flow.reserve(NOW_MS - 10_000);

    const shown = await cli('flow');

    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^flow\s+running: calls go out at the shared rate schedule$/m);
    expect(shown.stdout).toMatch(/rate schedule\s+free: no call waits for a slot/);
  });

  it('says why the flow is paused, since when and when the next probe goes, in words and in JSON', async () => {
    const flow = new SharedFlowControl({ client: dynamodb, tableName: TABLE, intervalMs: () => 1_000 });
    await flow.open('http_402', NOW_MS - 120_000, 30_000, false);

    const shown = await cli('flow');
    const json = (await cli('flow', '--json')).json<Record<string, unknown>>();

    expect(shown.stdout).toMatch(/^flow\s+paused: out of credits \(402\); messages wait, no attempt spent$/m);
    expect(shown.stdout).toMatch(/paused since\s+2026-11-23T10:58:00\.000Z \(2 min ago\)/);
    expect(json).toMatchObject({
      state: 'paused',
      code: 'http_402',
      paused_since: '2026-11-23T10:58:00.000Z',
      next_probe_at: '2026-11-23T10:58:30.000Z',
    });
    await flow.close(NOW_MS);
    expect((await cli('flow', '--json')).json()).toMatchObject({ state: 'running', code: null });
  });
});
