import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../functions/kycert-worker/config.js';
import { SQS_MAX_VISIBILITY_SECONDS } from '../functions/kycert-worker/constants.js';
import { createWorkerDeps } from '../functions/kycert-worker/createWorkerDeps.js';
import { createHandler } from '../functions/kycert-worker/handler.js';
import type { KycertClient } from '../functions/kycert-worker/kycertClient.js';
import { type KycertSandbox, type RetryAfterFormat, startKycertSandbox } from '../local/sandbox/index.js';
import { captureOutput } from './support/capturedOutput.js';
import { requestBody } from './support/faultMessages.js';
import { lambdaContextFactory, sqsEventFactory, sqsRecordFactory } from './support/sqsRecordFactory.js';
import { decodeUpdate } from './support/updateItemInput.js';

/**
 * SQS's 12 h visibility ceiling, on a controllable clock: a 429 asks for longer than SQS allows, and the
 * clock moves on while kycert answers. The handler runs against the kycert sandbox (sharing the clock) with
 * SQS and DynamoDB mocked, so the visibility timeout it asks for can be read exactly.
 */

const T0_MS = Date.parse('2026-11-23T12:00:00.000Z');
const HOUR_MS = 3_600_000;
/** As deployed: 6 × the 60 s function timeout. */
const QUEUE_VISIBILITY_TIMEOUT_SECONDS = 360;
/** A second under SQS's bound, for the ChangeMessageVisibility call's own travel. */
const CEILING_SECONDS = SQS_MAX_VISIBILITY_SECONDS - 1;

let nowMs: number;
let elapsedDuringPostMs: number;
let sandbox: KycertSandbox;
let deps: ReturnType<typeof createWorkerDeps>;
const sqs = mockClient(SQSClient);
const dynamodb = mockClient(DynamoDBClient);

async function start(retryAfterSeconds: number, retryAfterFormat: RetryAfterFormat) {
  sandbox = await startKycertSandbox({
    clock: () => nowMs,
    faults: { retryAfterSeconds, retryAfterFormat },
    // kycert takes its time: the clock moves on while the POST is answered.
    faultScript: () => {
      nowMs += elapsedDuringPostMs;
      return 'rateLimit';
    },
  });
  deps = createWorkerDeps(
    loadConfig({
      KYCERT_BASE_URL: sandbox.baseUrl,
      KYCERT_API_KEY: sandbox.apiKey,
      OUTCOME_TABLE_NAME: 'outcomes',
      QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests',
      DEAD_LETTER_QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests-dlq',
      KYCERT_THROTTLE_THRESHOLD: '0',
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(QUEUE_VISIBILITY_TIMEOUT_SECONDS),
    }),
    {
      logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'test' }),
      nowMs: () => nowMs,
      random: () => 0.999,
      // The ceiling alone: the shared schedule (which would also push the schedule past the reset) is left out.
      flowControl: undefined,
    },
  );
}

beforeEach(() => {
  nowMs = T0_MS;
  captureOutput();
  sqs.reset();
  dynamodb.reset();
  sqs.on(ChangeMessageVisibilityCommand).resolves({});
  sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
  dynamodb.on(UpdateItemCommand).resolves({});
  dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).resolves({
    Attributes: { attempts: { N: '1' }, first_attempt_at: { S: new Date(T0_MS).toISOString() } },
  });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await (deps.kycert as KycertClient).close();
  await sandbox.close();
});

async function deliverOnce(
  receive: { receiveCount: number; firstReceivedAtMs: number } = {
    receiveCount: 1,
    firstReceivedAtMs: nowMs,
  },
): Promise<{ visibilitySeconds: number | undefined; nextAttemptAt: unknown }> {
  // The earliest this receive can have been, as the worker reckons it (deliveryVisibility.ts).
  const receivedAtMs =
    receive.receiveCount === 1 ? receive.firstReceivedAtMs : nowMs - QUEUE_VISIBILITY_TIMEOUT_SECONDS * 1000;
  const record = sqsRecordFactory({
    body: requestBody(1, { prefix: 'ceiling' }),
    messageId: 'm1',
    receiveCount: receive.receiveCount,
  });
  record.attributes.ApproximateFirstReceiveTimestamp = String(receive.firstReceivedAtMs);
  await createHandler(() => deps)(sqsEventFactory(record), lambdaContextFactory());
  const [visibility] = sqs.commandCalls(ChangeMessageVisibilityCommand);
  const retryWrite = dynamodb
    .commandCalls(UpdateItemCommand)
    .map((call) => decodeUpdate(call.args[0].input))
    .find((update) => update.set.status === 'retry_scheduled');
  const visibilitySeconds = visibility?.args[0].input.VisibilityTimeout;
  // Whatever was asked, it must end within 12 h of this receive.
  expect(nowMs + (visibilitySeconds ?? 0) * 1000).toBeLessThanOrEqual(
    receivedAtMs + SQS_MAX_VISIBILITY_SECONDS * 1000,
  );
  return { visibilitySeconds, nextAttemptAt: retryWrite?.set.next_attempt_at };
}

describe('the 12 h visibility ceiling', () => {
  it.each([
    // Retry-After, its form, time spent before the decision → the visibility timeout asked of SQS
    [50_000, 'seconds', 0, CEILING_SECONDS],
    [50_000, 'http-date', 0, CEILING_SECONDS],
    [50_000, 'seconds', 14 * 60_000, CEILING_SECONDS - 14 * 60],
    [50_000, 'http-date', 3 * HOUR_MS, CEILING_SECONDS - 3 * 3600],
    [43_200, 'seconds', 1_000, CEILING_SECONDS - 1],
    [600, 'seconds', 3 * HOUR_MS, 660], // far from the ceiling: Retry-After plus its 10 % jitter
  ] as const)(
    'Retry-After %i s (%s), %i ms spent before deciding → visibility %i s',
    async (retryAfterSeconds, format, spentMs, expectedSeconds) => {
      // Prepare
      elapsedDuringPostMs = spentMs;
      await start(retryAfterSeconds, format);

      // Act
      const { visibilitySeconds, nextAttemptAt } = await deliverOnce();

      // Assess
      expect(sqs).not.toReceiveCommand(SendMessageCommand);
      expect(visibilitySeconds).toBe(expectedSeconds);
      expect(nextAttemptAt).toBe(new Date(nowMs + expectedSeconds * 1000).toISOString());
    },
  );

  it('the receive is the reference, not the first attempt: a later receive gets a fresh 12 h', async () => {
    // Prepare: the key's first attempt and first receive were 5 h ago; this is the message's second receive,
    // which the event source handed over within the queue's visibility timeout of receiving it.
    elapsedDuringPostMs = 0;
    nowMs = T0_MS + 5 * HOUR_MS;
    await start(50_000, 'seconds');

    // Act
    const { visibilitySeconds } = await deliverOnce({ receiveCount: 2, firstReceivedAtMs: T0_MS });

    // Assess
    expect(visibilitySeconds).toBe(CEILING_SECONDS - QUEUE_VISIBILITY_TIMEOUT_SECONDS);
  });

  it('a wait that would end past the 22 h key window is not capped to 12 h and scheduled: it is dead-lettered', async () => {
    // Prepare: the first attempt was 10 h ago, and this is the second; 10 h + 50 000 s (13.9 h) passes 22 h.
    elapsedDuringPostMs = 0;
    nowMs = T0_MS + 10 * HOUR_MS;
    await start(50_000, 'seconds');
    dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).resolves({
      Attributes: { attempts: { N: '2' }, first_attempt_at: { S: new Date(T0_MS).toISOString() } },
    });

    // Act
    const { visibilitySeconds } = await deliverOnce();

    // Assess
    expect(visibilitySeconds).toBeUndefined();
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      MessageAttributes: expect.objectContaining({
        reason: { DataType: 'String', StringValue: 'idempotency_window_expired' },
      }),
    });
  });
});
