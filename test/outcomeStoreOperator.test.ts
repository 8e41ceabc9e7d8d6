/**
 * The operator writes appended to the outcome store (`reopenForRedrive`, `markSuperseded`), against dynalite
 * with the table as deployed, and read back through the worker's own `beginAttempt`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutcomeStore } from '../functions/kycert-worker/outcomeStore.js';
import { LOCAL_CREDENTIALS } from '../local/aws/createLocalClients.js';
import { createOutcomeTable } from '../local/aws/createOutcomeTable.js';
import type { RunningEmulator } from '../local/aws/RunningEmulator.js';
import { startDynamoDbEmulator } from '../local/aws/startDynamoDbEmulator.js';
import { toOutcome } from '../tools/outcome.js';
import { runRequestFactory } from './support/runRequestFactory.js';

const TABLE = 'kycert-outcomes';
const TTL_SECONDS = 30 * 86_400;
const FIRST_MS = Date.parse('2026-11-23T03:00:00.000Z');
const FAILED_MS = FIRST_MS + 60_000;
const REDRIVE_MS = FIRST_MS + 3_600_000;

let emulator: RunningEmulator;
let client: DynamoDBClient;
let store: OutcomeStore;
let keyNumber = 0;

beforeAll(async () => {
  emulator = await startDynamoDbEmulator();
  client = new DynamoDBClient({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  await createOutcomeTable(client, TABLE);
  store = new OutcomeStore({ client, tableName: TABLE, ttlSeconds: TTL_SECONDS });
});

afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

const read = async (key: string) => {
  const item = await store.get(key);
  return item === undefined ? undefined : toOutcome(item);
};

/** A key that made two attempts and was dead-lettered as `retries_exhausted`, as the worker leaves it. */
async function deadLetteredKey(): Promise<string> {
  const request = runRequestFactory({ idempotencyKey: `idem-operator-${++keyNumber}` });
  await store.beginAttempt(request, { nowMs: FIRST_MS, leaseUntilMs: FIRST_MS + 30_000 });
  await store.recordRetry(request.idempotencyKey, {
    cause: 'server_error',
    nextAttemptAtMs: FIRST_MS + 1_000,
    nowMs: FIRST_MS,
    httpStatus: 503,
  });
  await store.beginAttempt(request, { nowMs: FAILED_MS, leaseUntilMs: FAILED_MS + 30_000 });
  await store.recordFailure(request.idempotencyKey, {
    reason: 'retries_exhausted',
    attempted: true,
    httpStatus: 503,
    errorCode: 'service_unavailable',
    nowMs: FAILED_MS,
  });
  return request.idempotencyKey;
}

describe('reopenForRedrive', () => {
  it('turns a failed key into retry_scheduled with attempts from 0, keeping first_attempt_at', async () => {
    // Prepare
    const key = await deadLetteredKey();

    // Act
    const reopened = await store.reopenForRedrive(key, { nowMs: REDRIVE_MS });

    // Assess
    expect(reopened).toBe(true);
    const outcome = await read(key);
    expect(outcome).toMatchObject({
      status: 'retry_scheduled',
      attempts: 0,
      first_attempt_at: new Date(FIRST_MS).toISOString(),
      redriven_at: new Date(REDRIVE_MS).toISOString(),
      updated_at: new Date(REDRIVE_MS).toISOString(),
      expires_at: REDRIVE_MS / 1000 + TTL_SECONDS,
      last_http_status: 503,
    });
    expect(outcome?.dead_letter_reason).toBeUndefined();
    expect(outcome?.lease_until_ms).toBeUndefined();
  });

  it('lets the worker claim the reopened key again: attempt 1, the key window still counted from the first attempt', async () => {
    // Prepare
    const key = await deadLetteredKey();
    await store.reopenForRedrive(key, { nowMs: REDRIVE_MS });

    // Act
    const begun = await store.beginAttempt(runRequestFactory({ idempotencyKey: key }), {
      nowMs: REDRIVE_MS + 1_000,
      leaseUntilMs: REDRIVE_MS + 31_000,
    });

    // Assess
    expect(begun).toEqual({
      kind: 'started',
      attempt: 1,
      firstAttemptAtMs: FIRST_MS,
      leaseToken: expect.any(String),
    });
  });

  it('a failed key the worker would acknowledge as a duplicate without reopening', async () => {
    // Prepare
    const key = await deadLetteredKey();

    // Act
    const begun = await store.beginAttempt(runRequestFactory({ idempotencyKey: key }), {
      nowMs: REDRIVE_MS,
      leaseUntilMs: REDRIVE_MS + 30_000,
    });

    // Assess: why the CLI reopens before it sends an unchanged copy.
    expect(begun).toEqual({
      kind: 'finished',
      status: 'failed',
      runId: undefined,
      deadLetterReason: 'retries_exhausted',
    });
  });

  it.each([
    [
      'succeeded',
      async (key: string) =>
        store.recordSuccess(key, { runId: 'run_1', httpStatus: 202, replayed: false, nowMs: FAILED_MS }),
    ],
    [
      'retry_scheduled (already reopened)',
      async (key: string) => void (await store.reopenForRedrive(key, { nowMs: FAILED_MS })),
    ],
    [
      'superseded',
      async (key: string) => void (await store.markSuperseded(key, 'new-key-0001', { nowMs: FAILED_MS })),
    ],
  ])('refuses a key that is %s, and changes nothing', async (_state, arrange) => {
    // Prepare
    const key = await deadLetteredKey();
    await arrange(key);
    const before = await read(key);

    // Act
    const reopened = await store.reopenForRedrive(key, { nowMs: REDRIVE_MS });

    // Assess
    expect(reopened).toBe(false);
    expect(await read(key)).toEqual(before);
  });

  it('refuses a key the table does not hold, without creating it', async () => {
    // Act
    const reopened = await store.reopenForRedrive('idem-never-seen', { nowMs: REDRIVE_MS });

    // Assess
    expect(reopened).toBe(false);
    expect(await read('idem-never-seen')).toBeUndefined();
  });
});

describe('markSuperseded', () => {
  it('records the fresh key on the old outcome and leaves its status and reason', async () => {
    // Prepare
    const key = await deadLetteredKey();

    // Act
    const marked = await store.markSuperseded(key, 'c0ffee00-0000-5000-8000-000000000001', {
      nowMs: REDRIVE_MS,
    });

    // Assess
    expect(marked).toBe(true);
    expect(await read(key)).toMatchObject({
      status: 'failed',
      dead_letter_reason: 'retries_exhausted',
      superseded_by: 'c0ffee00-0000-5000-8000-000000000001',
      updated_at: new Date(REDRIVE_MS).toISOString(),
    });
  });

  it('returns false for a key the table does not hold, without creating it', async () => {
    // Act
    const marked = await store.markSuperseded('idem-never-seen-2', 'new-key-0002', { nowMs: REDRIVE_MS });

    // Assess
    expect(marked).toBe(false);
    expect(await read('idem-never-seen-2')).toBeUndefined();
  });
});
