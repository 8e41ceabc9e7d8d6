/**
 * kycert's webhooks end to end on loopback: the sandbox creates runs and POSTs its signed webhooks to the
 * receiver's real handler behind the Function URL stand-in, which records into dynalite (the deployed table
 * and indexes) and publishes to the EventBridge emulator, all through real SDK clients over HTTP.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWebhookDeps } from '../functions/kycert-webhook/createWebhookDeps.js';
import { createHandler } from '../functions/kycert-webhook/handler.js';
import { loadWebhookConfig } from '../functions/kycert-webhook/webhookConfig.js';
import { DecisionPublisher } from '../functions/kycert-worker/decisionPublisher.js';
import { OutcomeStore } from '../functions/kycert-worker/outcomeStore.js';
import { recordRunDecision } from '../functions/kycert-worker/recordRunDecision.js';
import { LOCAL_CREDENTIALS } from '../local/aws/createLocalClients.js';
import { createOutcomeTable } from '../local/aws/createOutcomeTable.js';
import type { RunningEmulator } from '../local/aws/RunningEmulator.js';
import { startDynamoDbEmulator } from '../local/aws/startDynamoDbEmulator.js';
import { type EventBridgeEmulator, startEventBridgeEmulator } from '../local/aws/startEventBridgeEmulator.js';
import { type RunningFunctionUrl, startFunctionUrl } from '../local/aws/startFunctionUrl.js';
import { type KycertSandbox, startKycertSandbox } from '../local/sandbox/index.js';
import { captureOutput } from './support/capturedOutput.js';
import { containsDocument, runRequestFactory } from './support/runRequestFactory.js';

const TABLE = 'kycert-outcomes';
const T0_MS = Date.UTC(2026, 0, 5, 12, 0, 0);
const NEW_SECRET = 'whsec_e2e_new';
const OLD_SECRET = 'whsec_e2e_old';
const DOCS = ['00000000281', '00000000191', '52998224725'];
let nowMs = T0_MS;

let dynamo: RunningEmulator;
let events: EventBridgeEmulator;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let store: OutcomeStore;
let receiver: RunningFunctionUrl;
let sandbox: KycertSandbox;
let keyNumber = 0;

beforeAll(async () => {
  [dynamo, events] = await Promise.all([startDynamoDbEmulator(), startEventBridgeEmulator()]);
  dynamodb = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  eventBridge = new EventBridgeClient({
    endpoint: events.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  await createOutcomeTable(dynamodb, TABLE);
  store = new OutcomeStore({ client: dynamodb, tableName: TABLE, ttlSeconds: 30 * 86_400 });
  const deps = createWebhookDeps(
    loadWebhookConfig({
      OUTCOME_TABLE_NAME: TABLE,
      // During a rotation the secret holds both (webhookSecrets.ts).
      KYCERT_WEBHOOK_SECRET: JSON.stringify({ secrets: [NEW_SECRET, OLD_SECRET] }),
      DECISION_EVENT_BUS_NAME: 'default',
      KYCERT_QUEUE_STAGE: 'local',
    }),
    {
      logger: new Logger({ serviceName: 'kycert-queue', logLevel: 'INFO' }),
      metrics: new Metrics({ namespace: 'KycertQueueTest', serviceName: 'kycert-queue' }),
      nowMs: () => nowMs,
    },
    { dynamodb, eventBridge },
  );
  receiver = await startFunctionUrl({ handler: createHandler(() => deps) });
  sandbox = await startKycertSandbox({
    clock: () => nowMs,
    webhooks: { url: receiver.url, secrets: [NEW_SECRET], retryBaseMs: 10, maxAttempts: 3 },
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  sandbox.setFaults({ webhookStaleRate: 0, webhookBadSignatureRate: 0, webhookDuplicateRate: 0 });
});
afterAll(async () => {
  await sandbox?.close();
  await receiver?.stop();
  dynamodb?.destroy();
  eventBridge?.destroy();
  await Promise.all([dynamo?.stop(), events?.stop()]);
});

/** A run created at the sandbox under a fresh key, as the worker's POST creates it. */
async function createRun(
  doc: string,
  templateId = 'tpl_onboarding_pf',
): Promise<{ key: string; runId: string }> {
  const key = `e2e-webhook-${++keyNumber}`;
  const response = await fetch(`${sandbox.baseUrl}/bureau/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': sandbox.apiKey, 'idempotency-key': key },
    body: JSON.stringify({
      template_id: templateId,
      subject: { type: 'pf', doc },
      external_id: `order-${key}`,
    }),
  });
  expect(response.status).toBe(202);
  const { run_id: runId } = (await response.json()) as { run_id: string };
  return { key, runId };
}

/** What the worker writes once kycert accepted the run. */
async function recordAccepted(key: string, runId: string): Promise<void> {
  const request = runRequestFactory({ idempotencyKey: key, externalId: `order-${key}` });
  const begun = await store.beginAttempt(request, { nowMs, leaseUntilMs: nowMs + 30_000 });
  await store.recordSuccess(key, {
    runId,
    httpStatus: 202,
    replayed: false,
    nowMs,
    leaseToken: begun.kind === 'started' ? begun.leaseToken : undefined,
    estimatedSeconds: 5,
  });
}

/** The run completes by the sandbox's clock; its webhook goes out and is answered. */
async function complete(): Promise<void> {
  nowMs += 5_000;
  await sandbox.deliverDueWebhooks();
}

const outcome = async (key: string) => {
  const item = await store.get(key);
  return {
    run_status: item?.run_status?.S,
    decision: item?.decision?.S ?? (item?.decision?.NULL === true ? null : undefined),
    risk_band: item?.risk_band?.S,
    decision_source: item?.decision_source?.S,
    published: item?.decision_published_at !== undefined,
    failed_at: item?.failed_at?.S,
    completed_at: item?.completed_at?.S,
  };
};
const eventsFor = (runId: string) =>
  events.events().filter((event) => (event.detail as { run_id?: string }).run_id === runId);
const answersFor = (runId: string) =>
  sandbox
    .webhookDeliveries()
    .filter((delivery) => delivery.runId === runId)
    .map((delivery) => delivery.answer);

describe('webhooks from the sandbox to the receiver', () => {
  it('records a blocked run’s decision from its webhook and publishes one event, with no CPF anywhere', async () => {
    // Prepare
    const output = captureOutput();
    const { key, runId } = await createRun('000.000.002-81');
    await recordAccepted(key, runId);

    // Act
    await complete();

    // Assess
    expect(answersFor(runId)).toEqual([200]);
    expect(await outcome(key)).toEqual({
      run_status: 'blocked',
      decision: 'BLOCKED',
      risk_band: 'CRITICAL',
      decision_source: 'webhook',
      published: true,
      failed_at: undefined,
      completed_at: new Date(nowMs).toISOString(),
    });
    expect(eventsFor(runId)).toEqual([
      expect.objectContaining({
        source: 'kycert-queue',
        detailType: 'kycert run decided',
        detail: expect.objectContaining({ idempotency_key: key, run_status: 'blocked', decision: 'BLOCKED' }),
      }),
    ]);
    const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName: TABLE }));
    for (const doc of DOCS) {
      expect(containsDocument(JSON.stringify(Items), doc)).toBe(false);
      expect(containsDocument(JSON.stringify(events.events()), doc)).toBe(false);
      expect(containsDocument(output.text(), doc)).toBe(false);
    }
  });

  it('records a failed run from run.failed: decision null, failed_at', async () => {
    const { key, runId } = await createRun('529.982.247-25', 'tpl_fails');
    await recordAccepted(key, runId);

    await complete();

    expect(await outcome(key)).toMatchObject({
      run_status: 'failed',
      decision: null,
      failed_at: new Date(nowMs).toISOString(),
      completed_at: undefined,
    });
    expect(eventsFor(runId)).toHaveLength(1);
  });

  it('answers a duplicate delivery 200 and changes nothing: one decision, one event', async () => {
    captureOutput();
    sandbox.setFaults({ webhookDuplicateRate: 1 });
    const { key, runId } = await createRun('000.000.001-91');
    await recordAccepted(key, runId);

    await complete();

    expect(answersFor(runId)).toEqual([200, 200]);
    expect(await outcome(key)).toMatchObject({ run_status: 'completed', decision: 'APPROVED' });
    expect(eventsFor(runId)).toHaveLength(1);
  });

  it.each([
    ['webhookStaleRate', 'a stale timestamp'],
    ['webhookBadSignatureRate', 'a signature nobody holds'],
  ] as const)('with %s (%s) answers 401 to every delivery and records nothing', async (fault, _why) => {
    captureOutput();
    sandbox.setFaults({ [fault]: 1 });
    const { key, runId } = await createRun('000.000.001-91');
    await recordAccepted(key, runId);

    await complete();

    expect(answersFor(runId)).toEqual([401, 401, 401]);
    expect(await outcome(key)).toMatchObject({ run_status: 'queued', decision: undefined, published: false });
    expect(eventsFor(runId)).toEqual([]);
  });

  it('takes the old secret as well during a rotation', async () => {
    sandbox.setWebhookSecrets([OLD_SECRET]);
    try {
      const { key, runId } = await createRun('000.000.004-53');
      await recordAccepted(key, runId);

      await complete();

      expect(answersFor(runId)).toEqual([200]);
      expect(await outcome(key)).toMatchObject({ run_status: 'pending_review', decision: 'PENDING_REVIEW' });
    } finally {
      sandbox.setWebhookSecrets([NEW_SECRET]);
    }
  });
});

describe('a webhook that arrives before the POST’s own answer was recorded', () => {
  it('is parked, never in the by-run-id index, and the worker’s take records it: the decision is not lost', async () => {
    // Prepare: kycert created the run, but the worker has not recorded its 202 yet (slow answer, a retry…).
    captureOutput();
    const { key, runId } = await createRun('000.000.008-06');

    // Act
    await complete();
    const parked = await store.get(OutcomeStore.parkedRunKey(runId));
    const keyBeforeAccepted = await store.keyOfRun(runId);
    await recordAccepted(key, runId);
    // The worker, recording the run (or at its next status check), asks for a parked result.
    const taken = await store.takeParkedRunResult(runId, { nowMs });
    const written =
      taken === undefined
        ? undefined
        : await recordRunDecision(
            {
              outcomeStore: store,
              publisher: new DecisionPublisher({ client: eventBridge, busName: 'default', stage: 'local' }),
            },
            { idempotencyKey: key, externalId: `order-${key}`, result: taken, source: 'webhook', nowMs },
          );

    // Assess
    expect(answersFor(runId)).toEqual([200]);
    expect(parked).toMatchObject({
      parked_run_id: { S: runId },
      run_status: { S: 'partial' },
      decision: { S: 'PARTIAL' },
    });
    expect(parked).not.toHaveProperty('run_id');
    expect(keyBeforeAccepted).toBeUndefined();
    expect(await store.keyOfRun(runId)).toBe(key);
    expect(written).toEqual({ kind: 'recorded' });
    expect(await outcome(key)).toMatchObject({
      run_status: 'partial',
      decision: 'PARTIAL',
      risk_band: 'MEDIUM',
      published: true,
    });
    expect(eventsFor(runId)).toHaveLength(1);
  });

  it('a webhook for a run that is nobody’s stays parked for the operator, and a replay of it changes nothing', async () => {
    captureOutput();
    sandbox.setFaults({ webhookDuplicateRate: 1 });
    const { runId } = await createRun('529.982.247-25');

    await complete();

    expect(answersFor(runId)).toEqual([200, 200]);
    const parked = await store.get(OutcomeStore.parkedRunKey(runId));
    expect(parked).toMatchObject({
      events: { N: '1' },
      list_status: { S: expect.stringMatching(/^webhook:unmatched#/) },
    });
    expect(eventsFor(runId)).toEqual([]);
  });
});
