import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../functions/kycert-worker/config.js';
import { createWorkerDeps } from '../functions/kycert-worker/createWorkerDeps.js';
import { createHandler } from '../functions/kycert-worker/handler.js';
import type { KycertClient } from '../functions/kycert-worker/kycertClient.js';
import { DECISION_PUBLICATION_CLAIM_MS } from '../functions/kycert-worker/outcomeStore.js';
import type { WorkerDeps } from '../functions/kycert-worker/processRecord.js';
import { recordRunDecision } from '../functions/kycert-worker/recordRunDecision.js';
import type { StatusCheckMessage } from '../functions/kycert-worker/statusCheckQueue.js';
import { LOCAL_CREDENTIALS } from '../local/aws/createLocalClients.js';
import { createOutcomeTable } from '../local/aws/createOutcomeTable.js';
import type { RunningEmulator } from '../local/aws/RunningEmulator.js';
import { startDynamoDbEmulator } from '../local/aws/startDynamoDbEmulator.js';
import { type CapturedOutput, captureOutput } from './support/capturedOutput.js';
import { type FakeKycert, kycertError, type Reply, startFakeKycert } from './support/fakeKycert.js';
import { runRequestBody } from './support/runRequestFactory.js';
import { lambdaContextFactory, sqsEventFactory, sqsRecordFactory } from './support/sqsRecordFactory.js';

/**
 * A run followed to its decision, one record at a time: the worker's handler against dynalite (the outcome
 * item's conditional writes for real), a loopback kycert, and SQS and EventBridge mocked so that each
 * scheduled check, visibility change and decision event can be read exactly.
 */

const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const KEY = 'idem-0001-aaaaaaaa';
const QUEUE_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests';
const CHECKS_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-status-checks';
const CHECKS_ARN = 'arn:aws:sqs:sa-east-1:123456789012:kycert-status-checks';

const sqs = mockClient(SQSClient);
const eventBridge = mockClient(EventBridgeClient);
let emulator: RunningEmulator;
let dynamodb: DynamoDBClient;
let kycert: FakeKycert;
let output: CapturedOutput;
let nowMs: number;
let table = 0;
let deps: WorkerDeps;
let baseEnv: Record<string, string>;

function depsFor(env: Record<string, string>): WorkerDeps {
  return createWorkerDeps(
    loadConfig(env),
    {
      logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
      metrics: new Metrics({ namespace: 'KycertQueueTest', serviceName: 'test' }),
      nowMs: () => nowMs,
      random: () => 0.5,
      flowControl: undefined,
    },
    {
      dynamodb,
      sqs: new SQSClient({ region: 'sa-east-1' }),
      eventBridge: new EventBridgeClient({ region: 'sa-east-1' }),
    },
  );
}

beforeAll(async () => {
  emulator = await startDynamoDbEmulator();
  dynamodb = new DynamoDBClient({
    endpoint: emulator.endpoint,
    region: 'sa-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  kycert = await startFakeKycert();
});
afterAll(async () => {
  dynamodb.destroy();
  await emulator.stop();
  await kycert.close();
});
beforeEach(async () => {
  sqs.reset();
  eventBridge.reset();
  kycert.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'check-1' });
  sqs.on(ChangeMessageVisibilityCommand).resolves({});
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] });
  output = captureOutput();
  nowMs = NOW_MS;
  const tableName = `outcomes-${table++}`;
  await createOutcomeTable(dynamodb, tableName);
  baseEnv = {
    KYCERT_BASE_URL: kycert.baseUrl,
    KYCERT_API_KEY: 'sk_test_current',
    OUTCOME_TABLE_NAME: tableName,
    QUEUE_URL,
    DEAD_LETTER_QUEUE_URL: `${QUEUE_URL}-dlq`,
    STATUS_CHECK_QUEUE_URL: CHECKS_URL,
    STATUS_CHECK_MAX_INTERVAL_SECONDS: '60',
    DECISION_OVERDUE_HOURS: '1',
    DECISION_EVENT_BUS_NAME: 'kycert-decisions',
    KYCERT_QUEUE_STAGE: 'test',
  };
  deps = depsFor(baseEnv);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await (deps.kycert as KycertClient).close();
});

const handle = (record: SQSRecord) =>
  createHandler(() => deps)(sqsEventFactory(record), lambdaContextFactory());
const scheduledChecks = () =>
  sqs.commandCalls(SendMessageCommand).map((call) => ({
    queueUrl: call.args[0].input.QueueUrl,
    delaySeconds: call.args[0].input.DelaySeconds,
    check: JSON.parse(call.args[0].input.MessageBody ?? '{}') as StatusCheckMessage,
  }));
const visibility = () => sqs.commandCalls(ChangeMessageVisibilityCommand).map((call) => call.args[0].input);
const outcome = async () =>
  (
    await dynamodb.send(
      new GetItemCommand({ TableName: `outcomes-${table - 1}`, Key: { idempotency_key: { S: KEY } } }),
    )
  ).Item;
const checkRecord = (check: StatusCheckMessage, receiveCount = 1) => {
  const record = sqsRecordFactory({ body: JSON.stringify(check), receiveCount, messageId: 'check-msg' });
  return { ...record, eventSourceARN: CHECKS_ARN };
};
const run = (status: string, extra: Record<string, unknown> = {}): Reply => ({
  status: 200,
  body: { run_id: 'run_0001', status, ...extra },
});

/** Accepts the run: the POST's 202 with an estimate of 5 s; returns the check it scheduled. */
async function acceptRun(): Promise<StatusCheckMessage> {
  kycert.reply({ status: 202, body: { run_id: 'run_0001', status: 'queued', estimated_seconds: 5 } });
  const response = await handle(sqsRecordFactory({ body: runRequestBody() }));
  expect(response).toEqual({ batchItemFailures: [] });
  const [scheduled] = scheduledChecks();
  if (scheduled === undefined) throw new Error('no status check scheduled');
  sqs.resetHistory();
  kycert.reset();
  return scheduled.check;
}

describe('a run accepted', () => {
  it('schedules its first check at kycert’s estimate, on the checks queue, and records the run as queued', async () => {
    // Prepare
    kycert.reply({ status: 202, body: { run_id: 'run_0001', status: 'queued', estimated_seconds: 5 } });

    // Act
    await handle(sqsRecordFactory({ body: runRequestBody() }));

    // Assess
    expect(scheduledChecks()).toEqual([
      {
        queueUrl: CHECKS_URL,
        delaySeconds: 5,
        check: {
          v: 1,
          idempotency_key: KEY,
          run_id: 'run_0001',
          accepted_at_ms: NOW_MS,
          estimated_seconds: 5,
          external_id: 'customer-0001',
        },
      },
    ]);
    expect(await outcome()).toMatchObject({
      status: { S: 'succeeded' },
      run_status: { S: 'queued' },
      estimated_seconds: { N: '5' },
      next_check_at: { S: '2026-11-23T12:00:05.000Z' },
    });
  });

  it('a failed scheduling of the check fails the record before the success is recorded', async () => {
    // Prepare
    kycert.reply({ status: 202, body: { run_id: 'run_0001', status: 'queued', estimated_seconds: 5 } });
    sqs.on(SendMessageCommand).rejects(new Error('SQS is down'));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess: it comes back, replays the POST, schedules again
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect((await outcome())?.status).toEqual({ S: 'in_progress' });
  });
});

describe('a status check', () => {
  it('of a run still queued counts the check and comes back after the next interval, doubled', async () => {
    // Prepare
    const check = await acceptRun();
    nowMs = NOW_MS + 5_000;
    kycert.reply(run('queued'));

    // Act
    const response = await handle(checkRecord(check));

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    expect(kycert.requests.map((r) => [r.method, r.path])).toEqual([['GET', '/api/v1/bureau/runs/run_0001']]);
    expect(visibility()).toEqual([
      { QueueUrl: CHECKS_URL, ReceiptHandle: expect.any(String), VisibilityTimeout: 10 },
    ]);
    expect(await outcome()).toMatchObject({
      status_checks: { N: '1' },
      next_check_at: { S: '2026-11-23T12:00:15.000Z' },
    });
  });

  it.each([
    [
      'completed',
      { decision: 'APPROVED', risk_level: 'LOW', completed_at: '2026-11-23T12:00:04Z' },
      'APPROVED',
      'decision:approved',
    ],
    [
      'blocked',
      { decision: 'BLOCKED', risk_band: 'CRITICAL', completed_at: '2026-11-23T12:00:04Z' },
      'BLOCKED',
      'decision:blocked',
    ],
    ['failed', { decision: null, failed_at: '2026-11-23T12:00:04Z' }, null, 'run:failed'],
  ])(
    'of a run %s records the result once and tells the producers once',
    async (status, body, decision, listStatus) => {
      // Prepare
      const check = await acceptRun();
      nowMs = NOW_MS + 5_000;
      kycert.reply(run(status, body), run(status, body));

      // Act
      const first = await handle(checkRecord(check));
      const again = await handle(checkRecord(check, 2)); // a duplicate delivery of the same check

      // Assess
      expect(first).toEqual({ batchItemFailures: [] });
      expect(again).toEqual({ batchItemFailures: [] });
      expect(kycert.requests).toHaveLength(1); // the second copy saw the recorded result and asked nothing
      const item = await outcome();
      expect(item).toMatchObject({
        run_status: { S: status },
        decision: decision === null ? { NULL: true } : { S: decision },
        decision_source: { S: 'status_check' },
        decided_at: { S: '2026-11-23T12:00:05.000Z' },
        decision_published_at: { S: '2026-11-23T12:00:05.000Z' },
        status_checks: { N: '1' }, // the one GET that found the result
      });
      expect(item?.list_status?.S).toMatch(new RegExp(`^${listStatus}#[0-3]$`));
      const events = eventBridge
        .commandCalls(PutEventsCommand)
        .flatMap((call) => call.args[0].input.Entries ?? []);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        EventBusName: 'kycert-decisions',
        Source: 'kycert-queue',
        DetailType: 'kycert run decided',
      });
      expect(JSON.parse(events[0]?.Detail ?? '{}')).toEqual({
        idempotency_key: KEY,
        external_id: 'customer-0001',
        run_id: 'run_0001',
        run_status: status,
        decision,
        risk_band:
          (body as { risk_level?: string; risk_band?: string }).risk_level ??
          (body as { risk_band?: string }).risk_band ??
          null,
        decided_at: '2026-11-23T12:00:05.000Z',
        stage: 'test',
      });
      expect(output.text()).not.toMatch(/529\.?982\.?247/);
    },
  );

  it('that comes back before it is due waits the rest, without asking kycert', async () => {
    // Prepare: a first check longer than SQS's 900 s DelaySeconds arrives early
    const check = await acceptRun();
    nowMs = NOW_MS + 2_000;

    // Act
    await handle(checkRecord(check));

    // Assess
    expect(kycert.requests).toHaveLength(0);
    expect(visibility()).toEqual([expect.objectContaining({ VisibilityTimeout: 3 })]);
  });

  it.each([
    ['404 (a run kycert accepted)', kycertError(404, 'run_not_found', 'No such run.'), 'RunNotFound'],
    ['503', kycertError(503, 'unavailable', 'Try later'), 'RetriedServerError'],
  ])('answered %s: counted, backed off, and the run still followed', async (_, reply, metric) => {
    // Prepare
    const check = await acceptRun();
    nowMs = NOW_MS + 5_000;
    kycert.reply(reply);

    // Act
    const response = await handle(checkRecord(check));

    // Assess: backoff for the first failure, random 0.5: ceil(1 × 0.75) = 1 s
    expect(response.batchItemFailures).toHaveLength(1);
    expect(visibility()).toEqual([expect.objectContaining({ QueueUrl: CHECKS_URL, VisibilityTimeout: 1 })]);
    expect(await outcome()).toMatchObject({ run_status: { S: 'queued' }, status_check_failures: { N: '1' } });
    const metrics = output.metrics().flatMap((m) => Object.keys(m).filter((k) => k !== '_aws'));
    expect(metrics).toContain(metric);
  });

  it('answered 429: waits for Retry-After', async () => {
    // Prepare
    const check = await acceptRun();
    nowMs = NOW_MS + 5_000;
    kycert.reply(kycertError(429, 'rate_limited', 'Slow down', { 'retry-after': '20' }));

    // Act
    await handle(checkRecord(check));

    // Assess: 20 s + floor(0.5 × 3) of jitter
    expect(visibility()).toEqual([expect.objectContaining({ VisibilityTimeout: 21 })]);
  });

  it('answered 429 on the slot it had booked: the slot is forgotten, so the next delivery takes a new one', async () => {
    // Prepare: an earlier delivery booked a slot for this check (booked slots stay usable a window past their time).
    const check = await acceptRun();
    nowMs = NOW_MS + 5_000;
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: `outcomes-${table - 1}`,
        Key: { idempotency_key: { S: KEY } },
        UpdateExpression: 'SET check_slot_ms = :slot',
        ExpressionAttributeValues: { ':slot': { N: String(nowMs - 200) } },
      }),
    );
    kycert.reply(kycertError(429, 'rate_limited', 'Slow down', { 'retry-after': '20' }));

    // Act
    await handle(checkRecord(check));

    // Assess
    expect(kycert.requests).toHaveLength(1);
    expect((await outcome())?.check_slot_ms).toBeUndefined();
  });

  it('at the overdue time asks kycert once more: still queued, it records decision_overdue and stops', async () => {
    // Prepare
    const check = await acceptRun();
    nowMs = NOW_MS + 3_600_000;
    kycert.reply(run('queued'));

    // Act
    const response = await handle(checkRecord(check));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(kycert.requests).toHaveLength(1);
    expect(await outcome()).toMatchObject({ run_status: { S: 'decision_overdue' } });
    expect((await outcome())?.list_status?.S).toMatch(/^run:decision_overdue#[0-3]$/);
  });

  it('at the overdue time, a run kycert has just finished is decided, not overdue', async () => {
    const check = await acceptRun();
    nowMs = NOW_MS + 3_600_000;
    kycert.reply(run('completed', { decision: 'APPROVED' }));

    expect(await handle(checkRecord(check))).toEqual({ batchItemFailures: [] });
    expect(await outcome()).toMatchObject({ run_status: { S: 'completed' }, decision: { S: 'APPROVED' } });
  });

  it('at the overdue time, a last check kycert fails records decision_overdue rather than waiting on', async () => {
    const check = await acceptRun();
    nowMs = NOW_MS + 3_600_000;
    kycert.reply(kycertError(503, 'service_unavailable', 'Try later'));

    expect(await handle(checkRecord(check))).toEqual({ batchItemFailures: [] });
    expect(await outcome()).toMatchObject({ run_status: { S: 'decision_overdue' } });
  });

  it('long past the overdue time (more than an interval) records decision_overdue without a GET', async () => {
    const check = await acceptRun();
    nowMs = NOW_MS + 3_600_000 + 61_000;

    expect(await handle(checkRecord(check))).toEqual({ batchItemFailures: [] });
    expect(kycert.requests).toHaveLength(0);
    expect(await outcome()).toMatchObject({ run_status: { S: 'decision_overdue' } });
  });

  it('for a run a webhook already decided asks kycert nothing', async () => {
    // Prepare
    const check = await acceptRun();
    await deps.outcomeStore.recordRunResult(
      KEY,
      {
        runId: 'run_0001',
        status: 'partial',
        decision: 'PARTIAL',
        riskBand: 'MEDIUM',
        completedAt: null,
        failedAt: null,
        estimatedSeconds: null,
      },
      { nowMs: NOW_MS + 3_000, source: 'webhook' },
    );
    await deps.outcomeStore.recordDecisionPublished(KEY, { nowMs: NOW_MS + 3_000 });
    nowMs = NOW_MS + 5_000;

    // Act
    const response = await handle(checkRecord(check));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(kycert.requests).toHaveLength(0);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('two paths deciding the run at once (a webhook’s copy beside a check) publish one event', async () => {
    // Prepare
    await acceptRun();
    const result = {
      runId: 'run_0001',
      status: 'completed',
      decision: 'APPROVED',
      riskBand: 'LOW',
      completedAt: null,
      failedAt: null,
      estimatedSeconds: null,
    } as const;
    const decide = (source: 'webhook' | 'status_check') =>
      recordRunDecision(
        { outcomeStore: deps.outcomeStore, publisher: deps.publisher },
        { idempotencyKey: KEY, externalId: 'customer-0001', result, source, nowMs: NOW_MS + 5_000 },
      );

    // Act
    const written = await Promise.all([decide('webhook'), decide('status_check'), decide('webhook')]);

    // Assess
    expect(written.map((w) => w.kind).sort()).toEqual(['alreadyTerminal', 'alreadyTerminal', 'recorded']);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('a decision whose publisher crashed before sending is published by the next check once its claim lapsed', async () => {
    // Prepare: decided at +5 s, its event never sent (the delivery died between the two writes).
    const check = await acceptRun();
    await deps.outcomeStore.recordRunResult(
      KEY,
      {
        runId: 'run_0001',
        status: 'blocked',
        decision: 'BLOCKED',
        riskBand: 'CRITICAL',
        completedAt: null,
        failedAt: null,
        estimatedSeconds: null,
      },
      { nowMs: NOW_MS + 5_000, source: 'status_check' },
    );

    // Act: a copy of the check within the claim, then one after it
    nowMs = NOW_MS + 30_000;
    await handle(checkRecord(check));
    const withinClaim = eventBridge.commandCalls(PutEventsCommand).length;
    nowMs = NOW_MS + 5_000 + DECISION_PUBLICATION_CLAIM_MS + 1;
    await handle(checkRecord(check, 2));

    // Assess
    expect(withinClaim).toBe(0);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    expect(await outcome()).toHaveProperty('decision_published_at');
    expect(kycert.requests).toHaveLength(0);
  });

  it('an unreadable check message is dropped with an error log, never retried forever', async () => {
    // Act
    const response = await handle({ ...sqsRecordFactory({ body: '{"v":2}' }), eventSourceARN: CHECKS_ARN });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(output.logs()).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: 'unreadable status check message: dropped' }),
    );
  });
});

describe('with webhooks enabled', () => {
  const decided = {
    runId: 'run_0001',
    status: 'completed',
    decision: 'APPROVED',
    riskBand: 'LOW',
    completedAt: '2026-11-23T12:00:01Z',
    failedAt: null,
    estimatedSeconds: null,
  } as const;
  const useWebhooks = async () => {
    await (deps.kycert as KycertClient).close();
    deps = depsFor({ ...baseEnv, KYCERT_WEBHOOKS_ENABLED: 'true' });
  };

  it('a webhook parked before the POST’s answer was recorded decides the run as the success is recorded', async () => {
    // Prepare: the receiver found no key holding run_0001 yet, and parked its result.
    await useWebhooks();
    await deps.outcomeStore.parkRunResult(decided, { eventId: 'evt_early', nowMs: NOW_MS - 500 });

    // Act
    const check = await acceptRun();

    // Assess
    expect(await outcome()).toMatchObject({
      status: { S: 'succeeded' },
      run_status: { S: 'completed' },
      decision: { S: 'APPROVED' },
      decision_source: { S: 'webhook' },
      decision_published_at: { S: '2026-11-23T12:00:00.000Z' },
    });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    // The first check, when it comes, finds the run decided: no GET, no second event.
    nowMs = NOW_MS + 35_000;
    expect(await handle(checkRecord(check))).toEqual({ batchItemFailures: [] });
    expect(kycert.requests).toHaveLength(0);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('a webhook parked after the success was recorded is taken by the next status check, without a GET', async () => {
    // Prepare
    await useWebhooks();
    const check = await acceptRun();
    await deps.outcomeStore.parkRunResult(decided, { eventId: 'evt_late', nowMs: NOW_MS + 1_000 });
    nowMs = NOW_MS + 35_000;

    // Act
    const response = await handle(checkRecord(check));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(kycert.requests).toHaveLength(0);
    expect(await outcome()).toMatchObject({
      run_status: { S: 'completed' },
      decision_source: { S: 'webhook' },
    });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('without webhooks, a success reads no parked result (no extra read per message)', async () => {
    // Prepare: webhooks off (the default deps); a parked item exists all the same.
    await deps.outcomeStore.parkRunResult(decided, { eventId: 'evt_ignored', nowMs: NOW_MS - 500 });

    // Act
    await acceptRun();

    // Assess
    expect(await outcome()).toMatchObject({ run_status: { S: 'queued' } });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});
