import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiKeySource } from '../functions/kycert-worker/apiKeySource.js';
import { loadConfig } from '../functions/kycert-worker/config.js';
import { createWorkerDeps } from '../functions/kycert-worker/createWorkerDeps.js';
import { createHandler } from '../functions/kycert-worker/handler.js';
import { KycertClient } from '../functions/kycert-worker/kycertClient.js';
import type { WorkerDeps } from '../functions/kycert-worker/processRecord.js';
import { deriveIdempotencyKey } from '../functions/kycert-worker/runRequestMessage.js';
import { type CapturedOutput, captureOutput } from './support/capturedOutput.js';
import { accepted, type FakeKycert, kycertError, replayed, startFakeKycert } from './support/fakeKycert.js';
import {
  CPF_WITH_BAD_CHECK_DIGITS,
  containsDocument,
  runRequestBody,
  runRequestMessage,
  VALID_CPF,
  VALID_CPF_FORMATTED,
} from './support/runRequestFactory.js';
import { lambdaContextFactory, sqsEventFactory, sqsRecordFactory } from './support/sqsRecordFactory.js';
import { decodeUpdate } from './support/updateItemInput.js';

// Frozen clock and randomness: every delay below is computed by hand from these.
const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const NOW_ISO = '2026-11-23T12:00:00.000Z';
const RANDOM = 0.5;
const REMAINING_MS = 60_000;
const LEASE_UNTIL_MS = NOW_MS + REMAINING_MS;
const EXPIRES_AT = NOW_MS / 1000 + 30 * 86_400;
const MAX_ATTEMPTS = 5;
/** Small, so that the last-receive rules are reached in a few deliveries (500 as deployed). */
const MAX_RECEIVE_COUNT = 8;

const TABLE = 'kycert-outcomes';
const QUEUE_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests';
const DLQ_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests-dlq';
const KEY = 'idem-0001-aaaaaaaa';
/** What kycert receives for `runRequestBody()`: the document normalised, keys in a fixed order. */
const KYCERT_BODY = `{"template_id":"tpl_onboarding_pf","subject":{"type":"pf","doc":"${VALID_CPF}"},"external_id":"customer-0001"}`;

const sqs = mockClient(SQSClient);
const dynamodb = mockClient(DynamoDBClient);
let kycert: FakeKycert;
let output: CapturedOutput;
let deps: WorkerDeps;
const clients: KycertClient[] = [];

function workerDeps(overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  const config = loadConfig({
    KYCERT_BASE_URL: kycert.baseUrl,
    KYCERT_API_KEY: 'sk_test_current',
    OUTCOME_TABLE_NAME: TABLE,
    QUEUE_URL,
    DEAD_LETTER_QUEUE_URL: DLQ_URL,
    MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
    HTTP_CONNECT_TIMEOUT_MS: '1000',
    HTTP_TIMEOUT_MS: '5000',
  });
  const built = createWorkerDeps(config, {
    logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
    metrics: new Metrics({ namespace: 'KycertQueueTest', serviceName: 'test' }),
    nowMs: () => NOW_MS,
    random: () => RANDOM,
    // One record's path at a time; the shared schedule and breaker have tests of their own, against dynalite
    // (sharedFlowControl.test.ts) and end to end (the fault suite).
    flowControl: undefined,
    ...overrides,
  });
  clients.push(built.kycert as KycertClient);
  return built;
}

/** A kycert client whose key source serves `current` until refresh() is called, then `rotated`. */
function kycertClientWithRotatingKey(current: string, rotated: string): KycertClient {
  let key = current;
  const apiKey: ApiKeySource = { get: async () => key, refresh: async () => (key = rotated) };
  const client = new KycertClient({
    baseUrl: kycert.baseUrl,
    apiKey,
    connectTimeoutMs: 1000,
    timeoutMs: 5000,
  });
  clients.push(client);
  return client;
}

const handle = (...records: SQSRecord[]) =>
  createHandler(() => deps)(sqsEventFactory(...records), lambdaContextFactory(REMAINING_MS));

const failures = (...records: SQSRecord[]) => ({
  batchItemFailures: records.map((record) => ({ itemIdentifier: record.messageId })),
});

// --- DynamoDB: what beginAttempt gets back, and every write read back in plain terms ---------------------

function begun(attempt: number, firstAttemptAtMs = NOW_MS): Partial<UpdateItemCommandOutput> {
  return {
    Attributes: {
      idempotency_key: { S: KEY },
      status: { S: 'in_progress' },
      attempts: { N: String(attempt) },
      first_attempt_at: { S: new Date(firstAttemptAtMs).toISOString() },
    },
  };
}

const givenBegun = (attempt: number, firstAttemptAtMs = NOW_MS) =>
  dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).resolves(begun(attempt, firstAttemptAtMs));

const conditionFailed = (Item: ConditionalCheckFailedException['Item']) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item });

const writes = (key?: string) =>
  dynamodb
    .commandCalls(UpdateItemCommand)
    .map((call) => decodeUpdate(call.args[0].input))
    .filter((write) => key === undefined || write.key === key);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const KYCERT_BODY_SHA256 = sha256(KYCERT_BODY);
/** Every claim takes a fresh token (a UUID); every later write of that claim is conditioned on it. */
const LEASE_TOKEN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FENCE = "lease_token = '[0-9a-f-]{36}'";
const fenced = (pattern: string) => expect.stringMatching(new RegExp(`^${pattern}$`));
const NOT_SUCCEEDED = fenced(`attribute_exists\\(idempotency_key\\) AND status <> 'succeeded' AND ${FENCE}`);

function beginWrite(
  key = KEY,
  externalId = 'customer-0001',
  { messageId = 'msg-00000001', bodySha256 = KYCERT_BODY_SHA256 } = {},
) {
  return {
    table: TABLE,
    key,
    set: {
      status: 'in_progress',
      lease_until_ms: LEASE_UNTIL_MS,
      lease_token: expect.stringMatching(LEASE_TOKEN),
      last_attempt_at: NOW_ISO,
      updated_at: NOW_ISO,
      first_attempt_at: `if_not_exists(first_attempt_at, '${NOW_ISO}')`,
      template_id: 'tpl_onboarding_pf',
      subject_type: 'pf',
      key_source: 'message',
      expires_at: EXPIRES_AT,
      external_id: externalId,
      lease_message_id: messageId,
      body_sha256: bodySha256,
    },
    remove: ['next_attempt_at', 'dead_letter_reason', 'reserved_slot_ms'],
    add: { attempts: 1 },
    condition:
      "(attribute_not_exists(idempotency_key) OR attribute_not_exists(status) OR (status = 'failed' AND begins_with(dead_letter_reason, 'invalid_message')) OR " +
      `((status = 'in_progress' OR status = 'retry_scheduled') AND (attribute_not_exists(lease_until_ms) OR lease_until_ms < ${NOW_MS}))) ` +
      `AND (attribute_not_exists(body_sha256) OR body_sha256 = '${bodySha256}')`,
  };
}

function successWrite(runId: string, httpStatus: number, replayedRun: boolean, key = KEY) {
  return {
    table: TABLE,
    key,
    set: {
      status: 'succeeded',
      run_id: runId,
      replayed: replayedRun,
      last_http_status: httpStatus,
      run_status: 'queued',
      updated_at: NOW_ISO,
      expires_at: EXPIRES_AT,
    },
    remove: [
      'lease_until_ms',
      'lease_token',
      'next_attempt_at',
      'last_error_code',
      'last_error_message',
      'retry_cause',
    ],
    add: {},
    condition: fenced(`attribute_exists\\(idempotency_key\\) AND ${FENCE}`),
  };
}

function retryWrite(
  retry: {
    cause: string;
    delaySeconds: number;
    httpStatus?: number;
    errorCode?: unknown;
    errorMessage?: unknown;
  },
  key = KEY,
) {
  return {
    table: TABLE,
    key,
    set: {
      status: 'retry_scheduled',
      retry_cause: retry.cause,
      next_attempt_at: new Date(NOW_MS + retry.delaySeconds * 1000).toISOString(),
      last_http_status: retry.httpStatus,
      last_error_code: retry.errorCode,
      last_error_message: retry.errorMessage,
      updated_at: NOW_ISO,
      expires_at: EXPIRES_AT,
    },
    remove: ['lease_until_ms', 'lease_token'],
    // A 429 gives its attempt back: the POST did nothing, and waiting is not an attempt.
    add: retry.cause === 'rate_limited' ? { attempts: -1 } : {},
    condition: fenced(`attribute_exists\\(idempotency_key\\) AND ${FENCE} AND status <> 'succeeded'`),
  };
}

function failureWrite(
  failure: { reason: string; httpStatus?: number; errorCode?: string; errorMessage: string },
  key = KEY,
) {
  return {
    table: TABLE,
    key,
    set: {
      status: 'failed',
      dead_letter_reason: failure.reason,
      list_status: expect.stringMatching(/^delivery:failed#[0-3]$/),
      last_http_status: failure.httpStatus,
      last_error_code: failure.errorCode,
      last_error_message: failure.errorMessage,
      // The dead-lettered message, so that a late redelivery of it is known as one.
      dead_letter_message_id: 'msg-00000001',
      updated_at: NOW_ISO,
      expires_at: EXPIRES_AT,
    },
    remove: ['lease_until_ms', 'lease_token', 'next_attempt_at', 'retry_cause'],
    add: {},
    condition: NOT_SUCCEEDED,
  };
}

// --- SQS: the exact DLQ message and visibility change ------------------------------------------------------

/** `detail` may be an asymmetric matcher (`expect.stringContaining(…)`) where the text is the parser's. */
function deadLetterMessage(
  record: SQSRecord,
  reason: string,
  detail: string,
  idempotencyKey: string | undefined,
) {
  const text = (value: string) => ({ DataType: 'String', StringValue: value });
  return {
    QueueUrl: DLQ_URL,
    MessageBody: record.body,
    MessageAttributes: {
      reason: text(reason),
      detail: text(detail),
      source_message_id: text(record.messageId),
      receive_count: { DataType: 'Number', StringValue: record.attributes.ApproximateReceiveCount },
      dead_lettered_at: text(NOW_ISO),
      ...(idempotencyKey === undefined ? {} : { idempotency_key: text(idempotencyKey) }),
    },
  };
}

const visibilityChange = (record: SQSRecord, seconds: number) => ({
  QueueUrl: QUEUE_URL,
  ReceiptHandle: record.receiptHandle,
  VisibilityTimeout: seconds,
});

const sentDeadLetters = () => sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
const publishedMetricNames = () =>
  output.metrics().flatMap((emf) => {
    const [directive] = (emf._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> })
      .CloudWatchMetrics;
    return directive?.Metrics.map((metric) => metric.Name) ?? [];
  });

beforeAll(async () => {
  kycert = await startFakeKycert();
});

afterAll(async () => {
  await kycert.close();
});

beforeEach(() => {
  sqs.reset();
  dynamodb.reset();
  kycert.reset();
  output = captureOutput();
  deps = workerDeps();
  dynamodb.on(UpdateItemCommand).resolves({});
  dynamodb.on(GetItemCommand).resolves({});
  givenBegun(1);
  sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-message-0001' });
  sqs.on(ChangeMessageVisibilityCommand).resolves({});
});

afterEach(async () => {
  // Whatever the path, the document the tests use never reaches a log line or a metric.
  const printed = output.text();
  vi.restoreAllMocks();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  expect(containsDocument(printed, VALID_CPF)).toBe(false);
});

describe('a run created', () => {
  it('202: claims the key, records the run id and acknowledges the record', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));
    const record = sqsRecordFactory({ body: runRequestBody(), messageId: 'msg-0001' });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(dynamodb).toReceiveCommandTimes(UpdateItemCommand, 2);
    expect(dynamodb.calls()).toHaveLength(2);
    expect(dynamodb).toReceiveNthCommandWith(UpdateItemCommand, 1, {
      TableName: TABLE,
      Key: { idempotency_key: { S: KEY } },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(writes()).toEqual([
      beginWrite(KEY, 'customer-0001', { messageId: 'msg-0001' }),
      successWrite('run_0001', 202, false),
    ]);
    expect(sqs).not.toReceiveAnyCommand();
    expect(kycert.requests).toHaveLength(1);
    expect(kycert.requests[0]?.headers['idempotency-key']).toBe(KEY);
    expect(kycert.requests[0]?.body).toBe(KYCERT_BODY);
    expect(publishedMetricNames()).toEqual(expect.arrayContaining(['Succeeded', 'KycertLatency']));
  });

  it('200: a replayed run is recorded as succeeded with replayed true', async () => {
    // Prepare
    kycert.reply(replayed('run_0001'));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(writes()).toEqual([beginWrite(), successWrite('run_0001', 200, true)]);
    expect(sqs).not.toReceiveAnyCommand();
  });
});

describe('rate limited (429)', () => {
  it.each([
    // Retry-After + floor(random × (ceil(Retry-After / 10) + 1)) of jitter
    ['Retry-After in seconds', { 'retry-after': '120' }, 120 + 6],
    ['Retry-After as an HTTP-date', { 'retry-after': new Date(NOW_MS + 90_000).toUTCString() }, 90 + 5],
    ['no Retry-After (kycert documents 60 s)', {}, 60 + 3],
  ])(
    'with %s: defers the record through its visibility and records the retry',
    async (_what, headers, delaySeconds) => {
      // Prepare
      kycert.reply(kycertError(429, 'rate_limited', 'Too many requests', headers));
      const record = sqsRecordFactory({ body: runRequestBody() });

      // Act
      const response = await handle(record);

      // Assess
      expect(response).toEqual(failures(record));
      expect(sqs).toReceiveCommandExactlyOnceWith(
        ChangeMessageVisibilityCommand,
        visibilityChange(record, delaySeconds),
      );
      expect(sqs).not.toReceiveCommand(SendMessageCommand);
      expect(writes()).toEqual([
        beginWrite(),
        retryWrite({
          cause: 'rate_limited',
          delaySeconds,
          httpStatus: 429,
          errorCode: 'rate_limited',
          errorMessage: 'Too many requests',
        }),
      ]);
    },
  );
});

describe('outcome unknown', () => {
  it.each([
    [
      'a 503',
      kycertError(503, 'unavailable', 'Service unavailable'),
      {
        cause: 'server_error',
        httpStatus: 503,
        errorCode: 'unavailable',
        errorMessage: 'Service unavailable',
      },
    ],
    [
      'a reset connection',
      { reset: true } as const,
      {
        cause: 'network_error',
        errorCode: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET)$/),
        errorMessage: expect.any(String),
      },
    ],
  ])(
    'after %s: backs off, and the next delivery sends the same key and the same bytes',
    async (_what, reply, retry) => {
      // Prepare
      kycert.reply(reply, reply);
      dynamodb
        .on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' })
        .resolvesOnce(begun(1))
        .resolvesOnce(begun(2));
      const firstDelivery = sqsRecordFactory({ body: runRequestBody(), receiveCount: 1 });
      const secondDelivery = sqsRecordFactory({ body: runRequestBody(), receiveCount: 2 });

      // Act
      const firstResponse = await handle(firstDelivery);
      const secondResponse = await handle(secondDelivery);

      // Assess: equal jitter backoff, ceil(base × 2^(attempt−1) × (1 + random) / 2): 1 s, then 2 s
      expect(firstResponse).toEqual(failures(firstDelivery));
      expect(secondResponse).toEqual(failures(secondDelivery));
      expect(sqs).toReceiveCommandTimes(ChangeMessageVisibilityCommand, 2);
      expect(sqs).toReceiveNthCommandWith(
        ChangeMessageVisibilityCommand,
        1,
        visibilityChange(firstDelivery, 1),
      );
      expect(sqs).toReceiveNthCommandWith(
        ChangeMessageVisibilityCommand,
        2,
        visibilityChange(secondDelivery, 2),
      );
      expect(sqs).not.toReceiveCommand(SendMessageCommand);
      expect(writes()).toEqual([
        beginWrite(),
        retryWrite({ ...retry, delaySeconds: 1 }),
        beginWrite(),
        retryWrite({ ...retry, delaySeconds: 2 }),
      ]);
      const [first, second] = kycert.requests;
      expect(kycert.requests).toHaveLength(2);
      expect(second?.headers['idempotency-key']).toBe(first?.headers['idempotency-key']);
      expect(first?.headers['idempotency-key']).toBe(KEY);
      expect(second?.body).toBe(first?.body);
      expect(first?.body).toBe(KYCERT_BODY);
    },
  );

  it('after a 409 (the key is still in progress at kycert): backs off and tries later', async () => {
    // Prepare: attempt 3, so the backoff is ceil(4 × 1.5 / 2) = 3 s
    givenBegun(3);
    kycert.reply(kycertError(409, 'idempotency_in_progress', 'A request with this key is in progress'));
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 3 });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    expect(sqs).toReceiveCommandExactlyOnceWith(ChangeMessageVisibilityCommand, visibilityChange(record, 3));
    expect(writes()).toEqual([
      beginWrite(),
      retryWrite({
        cause: 'in_progress',
        delaySeconds: 3,
        httpStatus: 409,
        errorCode: 'idempotency_in_progress',
        errorMessage: 'A request with this key is in progress',
      }),
    ]);
  });

  it('after a 202 without a readable run_id: retries instead of recording a success', async () => {
    // Prepare
    kycert.reply({ status: 202, body: { status: 'queued' } });
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    expect(writes()).toEqual([
      beginWrite(),
      retryWrite({ cause: 'server_error', delaySeconds: 1, httpStatus: 202 }),
    ]);
  });
});

describe('rejected by kycert', () => {
  it.each([
    [
      400,
      kycertError(400, 'invalid_template', 'Unknown template'),
      'kycert_rejected:invalid_template',
      'HTTP 400 invalid_template: Unknown template',
    ],
    [404, { status: 404 }, 'kycert_rejected:http_404', 'HTTP 404'],
  ])(
    '%i: dead-letters the original body with its reason, records the failure, calls kycert once',
    async (httpStatus, reply, reason, detail) => {
      // Prepare: a body formatted by its producer, to show it reaches the DLQ byte for byte
      kycert.reply(reply);
      const record = sqsRecordFactory({ body: JSON.stringify(runRequestMessage(), null, 2) });

      // Act
      const response = await handle(record);

      // Assess
      expect(response).toEqual(failures());
      expect(sqs).toReceiveCommandExactlyOnceWith(
        SendMessageCommand,
        deadLetterMessage(record, reason, detail, KEY),
      );
      expect(sqs).not.toReceiveCommand(ChangeMessageVisibilityCommand);
      const errorCode = 'body' in reply ? (reply.body as { error: { code: string } }).error.code : undefined;
      const errorMessage =
        'body' in reply ? (reply.body as { error: { message: string } }).error.message : detail;
      expect(writes()).toEqual([beginWrite(), failureWrite({ reason, httpStatus, errorCode, errorMessage })]);
      expect(kycert.requests).toHaveLength(1);
    },
  );

  it("masks a CPF that kycert's error message echoes, in the DLQ, the outcome and the logs", async () => {
    // Prepare
    kycert.reply(kycertError(422, 'subject_blocked', `Subject ${VALID_CPF_FORMATTED} is blocked`));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    await handle(record);

    // Assess
    const [deadLetter] = sentDeadLetters();
    expect(deadLetter?.MessageAttributes?.detail?.StringValue).toBe(
      'HTTP 422 subject_blocked: Subject [document] is blocked',
    );
    expect(containsDocument(JSON.stringify(deadLetter?.MessageAttributes), VALID_CPF)).toBe(false);
    expect(writes()[1]?.set.last_error_message).toBe('Subject [document] is blocked');
    expect(
      containsDocument(JSON.stringify(dynamodb.calls().map((call) => call.args[0].input)), VALID_CPF),
    ).toBe(false);
    expect(containsDocument(output.text(), VALID_CPF)).toBe(false);
  });
});

describe('authentication', () => {
  it('401, then accepted with the refreshed key: succeeds', async () => {
    // Prepare
    deps = workerDeps({ kycert: kycertClientWithRotatingKey('sk_test_revoked', 'sk_test_rotated') });
    kycert.script((request) =>
      request.headers['x-api-key'] === 'sk_test_rotated'
        ? accepted('run_0001')
        : kycertError(401, 'invalid_api_key', 'API key revoked'),
    );
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(writes()).toEqual([beginWrite(), successWrite('run_0001', 202, false)]);
    expect(kycert.requests.map((request) => request.headers['x-api-key'])).toEqual([
      'sk_test_revoked',
      'sk_test_rotated',
    ]);
    expect(sqs).not.toReceiveAnyCommand();
    expect(publishedMetricNames()).toContain('AuthenticationFailures');
  });

  it.each([
    ['401 again after the refresh (a revoked key)', 401, 'invalid_api_key', 'API key revoked'],
    ['402 (out of credits)', 402, 'insufficient_credits', 'Not enough credits'],
    ['403 (a missing scope)', 403, 'missing_scope', 'Key lacks runs:write'],
  ])(
    '%s: not the message’s fault — it waits, its attempt given back, and is never dead-lettered',
    async (_, httpStatus, errorCode, errorMessage) => {
      // Prepare
      deps = workerDeps({ kycert: kycertClientWithRotatingKey('sk_test_revoked', 'sk_test_also_revoked') });
      kycert.script(() => kycertError(httpStatus, errorCode, errorMessage));
      const record = sqsRecordFactory({ body: runRequestBody() });

      // Act
      const response = await handle(record);

      // Assess: without the shared breaker, 30 s × (1 + random / 2) = 37.5 s, rounded up
      expect(response).toEqual(failures(record));
      expect(sqs).not.toReceiveCommand(SendMessageCommand);
      expect(sqs).toReceiveCommandExactlyOnceWith(
        ChangeMessageVisibilityCommand,
        visibilityChange(record, 38),
      );
      expect(writes()).toEqual([
        beginWrite(),
        {
          ...retryWrite({ cause: 'account_blocked', delaySeconds: 38, httpStatus, errorCode, errorMessage }),
          add: { attempts: -1 },
        },
      ]);
      expect(publishedMetricNames()).toContain('AccountBlocked');
    },
  );

  it('401 again after the refresh: exactly one re-read of the key, both POSTs under the same key and bytes', async () => {
    // Prepare
    deps = workerDeps({ kycert: kycertClientWithRotatingKey('sk_test_revoked', 'sk_test_also_revoked') });
    kycert.script(() => kycertError(401, 'invalid_api_key', 'API key revoked'));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    await handle(record);

    // Assess
    expect(kycert.requests.map((request) => request.headers['x-api-key'])).toEqual([
      'sk_test_revoked',
      'sk_test_also_revoked',
    ]);
    expect(kycert.requests[1]?.body).toBe(kycert.requests[0]?.body);
  });
});

describe('invalid messages', () => {
  it('not JSON: dead-letters as invalid_message:body:invalid_json and records nothing (no key is readable)', async () => {
    // Prepare: a body cut short
    const record = sqsRecordFactory({ body: runRequestBody().slice(0, -1) });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(
        record,
        'invalid_message:body:invalid_json',
        expect.stringContaining('JSON'),
        undefined,
      ),
    );
    expect(dynamodb.calls()).toHaveLength(0);
    expect(kycert.requests).toHaveLength(0);
  });

  it('bad CPF check digits: dead-letters with the reason and records the failure under the derived key', async () => {
    // Prepare: no idempotency_key, so the key is derived from template_id and external_id
    const record = sqsRecordFactory({
      body: runRequestBody({
        idempotency_key: undefined,
        subject: { type: 'pf', doc: CPF_WITH_BAD_CHECK_DIGITS },
      }),
    });
    const derivedKey = deriveIdempotencyKey('tpl_onboarding_pf', 'customer-0001');

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(
        record,
        'invalid_message:subject.doc:invalid_check_digits',
        'subject.doc: the check digits are wrong (a mistyped number?)',
        derivedKey,
      ),
    );
    expect(writes()).toEqual([
      {
        table: TABLE,
        key: derivedKey,
        set: {
          status: 'failed',
          dead_letter_reason: 'invalid_message:subject.doc:invalid_check_digits',
          list_status: expect.stringMatching(/^delivery:failed#[0-3]$/),
          last_error_message: 'subject.doc: the check digits are wrong (a mistyped number?)',
          external_id: 'customer-0001',
          template_id: 'tpl_onboarding_pf',
          dead_letter_message_id: 'msg-00000001',
          updated_at: NOW_ISO,
          expires_at: EXPIRES_AT,
        },
        remove: ['lease_until_ms', 'lease_token', 'next_attempt_at', 'retry_cause'],
        add: {},
        condition:
          "attribute_not_exists(idempotency_key) OR (status = 'failed' AND begins_with(dead_letter_reason, 'invalid_message'))",
      },
    ]);
    expect(kycert.requests).toHaveLength(0);
    expect(
      containsDocument(JSON.stringify(sentDeadLetters()[0]?.MessageAttributes), CPF_WITH_BAD_CHECK_DIGITS),
    ).toBe(false);
    expect(containsDocument(JSON.stringify(writes()), CPF_WITH_BAD_CHECK_DIGITS)).toBe(false);
    expect(containsDocument(output.text(), CPF_WITH_BAD_CHECK_DIGITS)).toBe(false);
  });

  it('missing template_id, no idempotency_key: dead-letters as invalid_message:template_id:missing, records nothing', async () => {
    // Prepare: without template_id the key cannot be derived
    const record = sqsRecordFactory({
      body: JSON.stringify({
        subject: { type: 'pf', doc: VALID_CPF_FORMATTED },
        external_id: 'customer-0001',
      }),
    });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(record, 'invalid_message:template_id:missing', expect.any(String), undefined),
    );
    expect(dynamodb.calls()).toHaveLength(0);
    expect(kycert.requests).toHaveLength(0);
  });

  it('missing template_id with an idempotency_key: records the failure under that key', async () => {
    // Prepare
    const record = sqsRecordFactory({ body: runRequestBody({ template_id: undefined }) });

    // Act
    await handle(record);

    // Assess
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(record, 'invalid_message:template_id:missing', expect.any(String), KEY),
    );
    expect(writes()).toEqual([
      expect.objectContaining({
        key: KEY,
        set: expect.objectContaining({
          status: 'failed',
          dead_letter_reason: 'invalid_message:template_id:missing',
          external_id: 'customer-0001',
        }),
        condition:
          "attribute_not_exists(idempotency_key) OR (status = 'failed' AND begins_with(dead_letter_reason, 'invalid_message'))",
      }),
    ]);
    expect(kycert.requests).toHaveLength(0);
  });
});

describe('a message the worker already dead-lettered, delivered again (its invocation ended too late)', () => {
  it('an invalid message whose key records it as dead-lettered is acknowledged: no second DLQ copy', async () => {
    // Prepare: the earlier delivery of this very message sent it to the DLQ and recorded the key's failure.
    const record = sqsRecordFactory({ body: runRequestBody({ template_id: undefined }), receiveCount: 2 });
    dynamodb.on(GetItemCommand).resolves({
      Item: {
        idempotency_key: { S: KEY },
        status: { S: 'failed' },
        dead_letter_reason: { S: 'invalid_message:template_id:missing' },
        dead_letter_message_id: { S: record.messageId },
      },
    });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
    expect(writes()).toEqual([]);
    expect(output.logs()).toContainEqual(
      expect.objectContaining({ message: 'already dead-lettered by an earlier delivery of this message' }),
    );
  });

  it('an invalid message on its first receive cannot be such a redelivery: dead-lettered without reading the key', async () => {
    const record = sqsRecordFactory({ body: runRequestBody({ template_id: undefined }), receiveCount: 1 });

    const response = await handle(record);

    expect(response).toEqual(failures());
    expect(dynamodb).not.toReceiveCommand(GetItemCommand);
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 1);
  });

  it('an invalid copy from another message under that key still goes to the DLQ with its reason', async () => {
    const record = sqsRecordFactory({
      body: runRequestBody({ template_id: undefined }),
      messageId: 'msg-other',
    });
    dynamodb.on(GetItemCommand).resolves({
      Item: {
        idempotency_key: { S: KEY },
        status: { S: 'failed' },
        dead_letter_reason: { S: 'invalid_message:template_id:missing' },
        dead_letter_message_id: { S: 'msg-00000001' },
      },
    });

    await handle(record);

    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 1);
  });

  it('a valid message whose key failed by its own dead-lettering is acknowledged; a copy from another message is not', async () => {
    // Prepare: the claim finds the key failed, by this message's earlier delivery.
    dynamodb.on(UpdateItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: {
          idempotency_key: { S: KEY },
          status: { S: 'failed' },
          dead_letter_reason: { S: 'kycert_rejected:template_not_found' },
          dead_letter_message_id: { S: 'msg-00000001' },
        },
      }),
    );

    // Act
    const same = await handle(sqsRecordFactory({ body: runRequestBody(), receiveCount: 2 }));
    const sentForSame = sqs.commandCalls(SendMessageCommand).length;
    await handle(sqsRecordFactory({ body: runRequestBody(), messageId: 'msg-copy' }));

    // Assess
    expect(same).toEqual(failures());
    expect(sentForSame).toBe(0);
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      MessageAttributes: expect.objectContaining({
        reason: { DataType: 'String', StringValue: 'key_already_failed:kycert_rejected:template_not_found' },
      }),
    });
    expect(kycert.requests).toHaveLength(0);
  });
});

describe('bounds', () => {
  it('last attempt (attempt = MAX_ATTEMPTS) answered 503: dead-letters as retries_exhausted', async () => {
    // Prepare
    givenBegun(MAX_ATTEMPTS);
    kycert.reply(kycertError(503, 'unavailable', 'Service unavailable'));
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 5 });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(
        record,
        'retries_exhausted',
        'after 5 attempts; last: HTTP 503 unavailable: Service unavailable',
        KEY,
      ),
    );
    expect(sqs).not.toReceiveCommand(ChangeMessageVisibilityCommand);
    expect(writes()).toEqual([
      beginWrite(),
      failureWrite({
        reason: 'retries_exhausted',
        httpStatus: 503,
        errorCode: 'unavailable',
        errorMessage: 'Service unavailable',
      }),
    ]);
  });

  it('receive count at the redrive maxReceiveCount, answered 503: dead-letters as retries_exhausted', async () => {
    // Prepare: attempt 2 only, but the queue would move the message itself after this receive
    givenBegun(2);
    kycert.reply(kycertError(503, 'unavailable', 'Service unavailable'));
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: MAX_RECEIVE_COUNT });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(
        record,
        'retries_exhausted',
        'after 2 attempts; last: HTTP 503 unavailable: Service unavailable',
        KEY,
      ),
    );
    expect(sqs).not.toReceiveCommand(ChangeMessageVisibilityCommand);
  });

  it('an attempt beyond MAX_ATTEMPTS: dead-letters as retries_exhausted without calling kycert', async () => {
    // Prepare
    givenBegun(MAX_ATTEMPTS + 1);
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 7 });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(record, 'retries_exhausted', 'attempt 6 exceeds the 5 allowed', KEY),
    );
    expect(kycert.requests).toHaveLength(0);
  });

  it('first attempt 23 h ago (window 22 h): dead-letters as idempotency_window_expired without calling kycert', async () => {
    // Prepare
    givenBegun(2, NOW_MS - 23 * 3_600_000);
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 2 });

    // Act
    const response = await handle(record);

    // Assess
    const detail = 'the key may be forgotten by kycert; a POST could run twice';
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(record, 'idempotency_window_expired', detail, KEY),
    );
    expect(writes()).toEqual([
      beginWrite(),
      failureWrite({ reason: 'idempotency_window_expired', errorMessage: detail }),
    ]);
    expect(kycert.requests).toHaveLength(0);
  });
});

describe('duplicates', () => {
  it('a copy of a key that already succeeded is acknowledged without calling kycert', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).rejects(
      conditionFailed({
        idempotency_key: { S: KEY },
        status: { S: 'succeeded' },
        run_id: { S: 'run_0001' },
      }),
    );
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 2 });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(dynamodb.calls()).toHaveLength(1);
    expect(sqs).not.toReceiveAnyCommand();
    expect(kycert.requests).toHaveLength(0);
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        message: 'duplicate delivery of a finished key',
        idempotency_key: KEY,
        status: 'succeeded',
        run_id: 'run_0001',
      }),
    );
    expect(publishedMetricNames()).toContain('DuplicateDeliveries');
  });

  it('a copy of a key leased by another delivery comes back soon, after a backoff by receive count', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).rejects(
      conditionFailed({
        idempotency_key: { S: KEY },
        status: { S: 'in_progress' },
        lease_until_ms: { N: String(NOW_MS + 45_000) },
      }),
    );
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 2 });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    // receive 2, random 0.5: backoff 2 s, well before the holder's lease (45 s) ends
    expect(sqs).toReceiveCommandExactlyOnceWith(ChangeMessageVisibilityCommand, visibilityChange(record, 2));
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
    expect(dynamodb.calls()).toHaveLength(1);
    expect(kycert.requests).toHaveLength(0);
  });

  it('a retry whose key succeeded meanwhile (recordRetry condition fails) is acknowledged, not deferred', async () => {
    // Prepare
    kycert.reply(kycertError(503, 'unavailable', 'Service unavailable'));
    dynamodb
      .on(UpdateItemCommand, {
        ConditionExpression:
          'attribute_exists(idempotency_key) AND lease_token = :lease_token AND #status <> :succeeded',
      })
      .rejects(conditionFailed({ idempotency_key: { S: KEY }, status: { S: 'succeeded' } }));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(writes()).toEqual([
      beginWrite(),
      retryWrite({
        cause: 'server_error',
        delaySeconds: 1,
        httpStatus: 503,
        errorCode: 'unavailable',
        errorMessage: 'Service unavailable',
      }),
    ]);
    expect(sqs).not.toReceiveAnyCommand();
  });
});

describe('copies that must not be acknowledged (the correctness review)', () => {
  it.each([
    ['kycert_rejected:template_not_found', 'key_already_failed:kycert_rejected:template_not_found'],
    [undefined, 'key_already_failed'],
  ])(
    'a copy of a key that failed as %s goes back to the DLQ as %s, never acknowledged as a duplicate',
    async (originalReason, reason) => {
      // Prepare: an operator moved the DLQ message back with SQS's own redrive, which does not reopen the key
      dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).rejects(
        conditionFailed({
          idempotency_key: { S: KEY },
          status: { S: 'failed' },
          body_sha256: { S: KYCERT_BODY_SHA256 },
          ...(originalReason === undefined ? {} : { dead_letter_reason: { S: originalReason } }),
        }),
      );
      const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 1 });

      // Act
      const response = await handle(record);

      // Assess
      expect(response).toEqual(failures());
      expect(sqs).toReceiveCommandExactlyOnceWith(SendMessageCommand, {
        QueueUrl: DLQ_URL,
        MessageBody: record.body,
        MessageAttributes: expect.objectContaining({ reason: { DataType: 'String', StringValue: reason } }),
      });
      expect(sentDeadLetters()[0]?.MessageAttributes?.detail?.StringValue).toContain(
        'kycert-queue dlq redrive',
      );
      expect(writes()).toEqual([beginWrite()]); // the key's outcome is left as it is
      expect(kycert.requests).toHaveLength(0);
      expect(publishedMetricNames()).toContain('DeadLettered');
    },
  );

  it('a different body under a key already used (a corrected re-send under the same derived key) is refused to the DLQ', async () => {
    // Prepare: the key succeeded with another body
    dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).rejects(
      conditionFailed({
        idempotency_key: { S: KEY },
        status: { S: 'succeeded' },
        run_id: { S: 'run_0001' },
        body_sha256: { S: 'f'.repeat(64) },
      }),
    );
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(
        record,
        'invalid_message:idempotency_key:reused_with_different_body',
        'this idempotency_key was first used with another request body; a changed request needs a fresh key',
        KEY,
      ),
    );
    expect(writes()).toEqual([beginWrite()]);
    expect(kycert.requests).toHaveLength(0);
  });

  it.each([
    [
      'another message holds the lease: that one carries the request on, this copy is acknowledged',
      'msg-holder',
      [],
    ],
    [
      'this very message holds it (delivered twice): deleting it would delete the holder',
      'msg-00000001',
      ['lease_held_on_last_receive'],
    ],
  ])(
    'on its last receive, a leased copy is settled, never left to the redrive policy: %s',
    async (_, holder, dlqReasons) => {
      // Prepare: maxReceiveCount is 8; receive 7 is the last one with a margin of one
      dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).rejects(
        conditionFailed({
          idempotency_key: { S: KEY },
          status: { S: 'in_progress' },
          lease_until_ms: { N: String(NOW_MS + 20_000) },
          lease_message_id: { S: holder },
        }),
      );
      const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 7 });

      // Act
      const response = await handle(record);

      // Assess
      expect(response).toEqual(failures());
      expect(sqs).not.toReceiveCommand(ChangeMessageVisibilityCommand);
      expect(sentDeadLetters().map((m) => m.MessageAttributes?.reason?.StringValue)).toEqual(dlqReasons);
      expect(kycert.requests).toHaveLength(0);
    },
  );

  it('a leased copy before its last receive still waits for the lease', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand, { ReturnValues: 'ALL_NEW' }).rejects(
      conditionFailed({
        idempotency_key: { S: KEY },
        status: { S: 'in_progress' },
        lease_until_ms: { N: String(NOW_MS + 20_000) },
        lease_message_id: { S: 'msg-holder' },
      }),
    );
    const record = sqsRecordFactory({ body: runRequestBody(), receiveCount: 6 });

    // Act
    const response = await handle(record);

    // Assess: receive 6, random 0.5: backoff ceil(32 × 0.75) = 24 s, capped by the lease's 20 s
    expect(response).toEqual(failures(record));
    expect(sqs).toReceiveCommandExactlyOnceWith(ChangeMessageVisibilityCommand, visibilityChange(record, 20));
  });
});

describe('fencing: a write after another delivery claimed the key', () => {
  const fencedOut = () =>
    conditionFailed({
      idempotency_key: { S: KEY },
      status: { S: 'in_progress' },
      lease_token: { S: 'other' },
    });

  it('a success write refused by the fence is logged and counted, and the record acknowledged: the run exists', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));
    dynamodb
      .on(UpdateItemCommand, {
        ConditionExpression: 'attribute_exists(idempotency_key) AND lease_token = :lease_token',
      })
      .rejects(fencedOut());
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures());
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        message: 'result write refused: another delivery holds the key',
        write: 'recordSuccess',
      }),
    );
    expect(publishedMetricNames()).toContain('FencedWrites');
  });

  it('a retry whose item is gone is deferred, not acknowledged as if another copy had succeeded', async () => {
    // Prepare
    kycert.reply(kycertError(503, 'unavailable', 'Service unavailable'));
    dynamodb
      .on(UpdateItemCommand, {
        ConditionExpression:
          'attribute_exists(idempotency_key) AND lease_token = :lease_token AND #status <> :succeeded',
      })
      .rejects(conditionFailed(undefined));
    dynamodb.on(GetItemCommand).resolves({});
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    expect(sqs).toReceiveCommandExactlyOnceWith(ChangeMessageVisibilityCommand, visibilityChange(record, 1));
  });

  it('every result write of a claim carries the token that claim took', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    await handle(record);

    // Assess
    const [claim, success] = writes();
    expect(success?.condition).toBe(
      `attribute_exists(idempotency_key) AND lease_token = '${claim?.set.lease_token}'`,
    );
  });
});

describe('an outage before the claim spends no attempt', () => {
  it('a Secrets Manager failure fails the record before the key is claimed: no attempt counted, no POST', async () => {
    // Prepare
    const apiKey: ApiKeySource = {
      get: async () => {
        throw new Error('Secrets Manager: service unavailable');
      },
      refresh: async () => 'never',
    };
    deps = workerDeps({ apiKey });
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    expect(dynamodb).not.toReceiveAnyCommand();
    expect(kycert.requests).toHaveLength(0);
  });
});

describe('personal data in keys', () => {
  it('an idempotency key built from a CPF is masked in every log line and in the DLQ attribute', async () => {
    // Prepare
    const key = `cpf-${VALID_CPF_FORMATTED}`;
    kycert.reply(kycertError(404, 'template_not_found', 'No such template'));
    const record = sqsRecordFactory({ body: runRequestBody({ idempotency_key: key }) });

    // Act
    await handle(record);

    // Assess
    expect(containsDocument(output.text(), VALID_CPF)).toBe(false);
    expect(output.logs()).toContainEqual(expect.objectContaining({ idempotency_key: 'cpf-[document]' }));
    expect(sentDeadLetters()[0]?.MessageAttributes?.idempotency_key).toEqual({
      DataType: 'String',
      StringValue: 'cpf-[document]',
    });
  });

  it('a derived key (a SHA-256) is logged whole, so that it can be searched for', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));
    const record = sqsRecordFactory({ body: runRequestBody({ idempotency_key: undefined }) });

    // Act
    await handle(record);

    // Assess
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        idempotency_key: deriveIdempotencyKey('tpl_onboarding_pf', 'customer-0001'),
      }),
    );
  });
});

describe('a 429 whose headers are partly unusable', () => {
  it('an unreadable Retry-After waits kycert’s 60 s and is logged, not silently replaced', async () => {
    // Prepare
    kycert.reply(kycertError(429, 'rate_limited', 'Too many requests', { 'retry-after': 'soon' }));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess: 60 s + floor(0.5 × 7) of jitter
    expect(response).toEqual(failures(record));
    expect(sqs).toReceiveCommandExactlyOnceWith(ChangeMessageVisibilityCommand, visibilityChange(record, 63));
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: 'kycert answer partly unusable',
        note: `unreadable Retry-After "soon"; kycert's default 60 s applied`,
      }),
    );
  });
});

describe('one record never fails the batch', () => {
  const recordFor = (n: number) =>
    sqsRecordFactory({
      messageId: `msg-000${n}`,
      body: runRequestBody({ idempotency_key: `idem-000${n}-keykeykey`, external_id: `customer-000${n}` }),
    });
  const keyOf = (n: number) => `idem-000${n}-keykeykey`;
  const kycertBodyOf = (n: number) => KYCERT_BODY.replace('customer-0001', `customer-000${n}`);

  it("a DynamoDB error on one record's key fails that record only", async () => {
    // Prepare
    const records = [recordFor(1), recordFor(2), recordFor(3)] as const;
    kycert.script((request) => accepted(`run_for_${request.headers['idempotency-key']}`));
    dynamodb
      .on(UpdateItemCommand, { ReturnValues: 'ALL_NEW', Key: { idempotency_key: { S: keyOf(2) } } })
      .rejects(
        new ProvisionedThroughputExceededException({ message: 'Rate of requests exceeds', $metadata: {} }),
      );

    // Act
    const response = await handle(...records);

    // Assess
    expect(response).toEqual(failures(records[1]));
    for (const n of [1, 3]) {
      expect(writes(keyOf(n))).toEqual([
        beginWrite(keyOf(n), `customer-000${n}`, {
          messageId: `msg-000${n}`,
          bodySha256: sha256(kycertBodyOf(n)),
        }),
        successWrite(`run_for_${keyOf(n)}`, 202, false, keyOf(n)),
      ]);
    }
    expect(writes(keyOf(2))).toEqual([
      beginWrite(keyOf(2), 'customer-0002', { messageId: 'msg-0002', bodySha256: sha256(kycertBodyOf(2)) }),
    ]);
    expect(kycert.requests.map((request) => request.headers['idempotency-key']).sort()).toEqual([
      keyOf(1),
      keyOf(3),
    ]);
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'unexpected error; the record will be retried',
        message_id: 'msg-0002',
      }),
    );
    expect(publishedMetricNames()).toContain('UnexpectedErrors');
  });

  it('a mixed batch (202, 503, 400) reports exactly the record to retry', async () => {
    // Prepare
    const records = [recordFor(1), recordFor(2), recordFor(3)] as const;
    const replies = {
      [keyOf(1)]: accepted('run_0001'),
      [keyOf(2)]: kycertError(503, 'unavailable', 'Service unavailable'),
      [keyOf(3)]: kycertError(400, 'invalid_template', 'Unknown template'),
    };
    kycert.script((request) => replies[String(request.headers['idempotency-key'])] ?? { status: 500 });

    // Act
    const response = await handle(...records);

    // Assess
    expect(response).toEqual(failures(records[1]));
    expect(sqs).toReceiveCommandExactlyOnceWith(
      ChangeMessageVisibilityCommand,
      visibilityChange(records[1], 1),
    );
    expect(sqs).toReceiveCommandExactlyOnceWith(
      SendMessageCommand,
      deadLetterMessage(
        records[2],
        'kycert_rejected:invalid_template',
        'HTTP 400 invalid_template: Unknown template',
        keyOf(3),
      ),
    );
    expect(writes(keyOf(1))[1]?.set.status).toBe('succeeded');
    expect(writes(keyOf(2))[1]?.set.status).toBe('retry_scheduled');
    expect(writes(keyOf(3))[1]?.set.status).toBe('failed');
  });

  it('a failed ChangeMessageVisibility still reports the record as a failure', async () => {
    // Prepare
    kycert.reply(kycertError(503, 'unavailable', 'Service unavailable'));
    sqs.on(ChangeMessageVisibilityCommand).rejects(new Error('ReceiptHandle is invalid'));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    expect(sqs).toReceiveCommandExactlyOnceWith(ChangeMessageVisibilityCommand, visibilityChange(record, 1));
    expect(writes()).toHaveLength(2);
  });

  it('a failed DLQ SendMessage reports the record as a failure and records no outcome before the DLQ has it', async () => {
    // Prepare
    kycert.reply(kycertError(400, 'invalid_template', 'Unknown template'));
    sqs.on(SendMessageCommand).rejects(new Error('Access to the resource is denied'));
    const record = sqsRecordFactory({ body: runRequestBody() });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 1);
    expect(writes()).toEqual([beginWrite()]);
  });

  it('a failed DLQ SendMessage for an invalid message reports the record as a failure', async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(new Error('Access to the resource is denied'));
    const record = sqsRecordFactory({ body: 'not json' });

    // Act
    const response = await handle(record);

    // Assess
    expect(response).toEqual(failures(record));
  });
});
