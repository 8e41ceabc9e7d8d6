import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { OutcomeStore } from '../functions/kycert-worker/outcomeStore.js';
import { containsDocument, runRequestFactory, VALID_CNPJ, VALID_CPF } from './support/runRequestFactory.js';
import { decodeUpdate, placeholderProblems } from './support/updateItemInput.js';

const TABLE = 'kycert-outcomes';
const KEY = 'idem-0001-aaaaaaaa';
const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const NOW_ISO = '2026-11-23T12:00:00.000Z';
const LEASE_UNTIL_MS = NOW_MS + 60_000;
const TTL_SECONDS = 30 * 86_400;
const EXPIRES_AT = NOW_MS / 1000 + TTL_SECONDS;

const dynamodb = mockClient(DynamoDBClient);
const store = () =>
  new OutcomeStore({ client: new DynamoDBClient({}), tableName: TABLE, ttlSeconds: TTL_SECONDS });
const conditionFailed = (Item?: ConditionalCheckFailedException['Item']) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item });
const sentUpdates = (): UpdateItemCommandInput[] =>
  dynamodb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);

const BEGIN_CONDITION =
  '(attribute_not_exists(idempotency_key) OR attribute_not_exists(#status) OR ' +
  '(#status = :failed AND begins_with(dead_letter_reason, :invalid_message)) OR ' +
  '((#status = :in_progress OR #status = :retry_scheduled) AND ' +
  '(attribute_not_exists(lease_until_ms) OR lease_until_ms < :now_ms)))';
const BODY_CONDITION = ' AND (attribute_not_exists(body_sha256) OR body_sha256 = :body_sha256)';
const NOT_SUCCEEDED = 'attribute_exists(idempotency_key) AND #status <> :succeeded';
const TOKEN = '8d3b2c1a-0000-4000-8000-000000000001';
const BODY_SHA256 = 'a'.repeat(64);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeEach(() => {
  dynamodb.reset();
  dynamodb.on(UpdateItemCommand).resolves({});
});

describe('beginAttempt', () => {
  it('claims the key in one conditional UpdateItem that returns ALL_OLD when the condition fails', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand).resolves({
      Attributes: { attempts: { N: '1' }, first_attempt_at: { S: NOW_ISO } },
    });

    // Act
    const begun = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
      messageId: 'msg-0001',
      bodySha256: BODY_SHA256,
    });

    // Assess
    expect(begun).toEqual({
      kind: 'started',
      attempt: 1,
      firstAttemptAtMs: NOW_MS,
      leaseToken: expect.stringMatching(UUID),
    });
    expect(dynamodb).toReceiveCommandTimes(UpdateItemCommand, 1);
    expect(dynamodb).toReceiveCommandWith(UpdateItemCommand, {
      TableName: TABLE,
      Key: { idempotency_key: { S: KEY } },
      UpdateExpression:
        'SET #status = :in_progress, lease_until_ms = :lease, lease_token = :lease_token, ' +
        'last_attempt_at = :now, updated_at = :now, ' +
        'first_attempt_at = if_not_exists(first_attempt_at, :now), template_id = :template, ' +
        'subject_type = :subject_type, key_source = :key_source, expires_at = :expires, ' +
        'external_id = :external_id, lease_message_id = :lease_message_id, body_sha256 = :body_sha256 ' +
        'REMOVE next_attempt_at, dead_letter_reason, reserved_slot_ms ADD attempts :one',
      ConditionExpression: BEGIN_CONDITION + BODY_CONDITION,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':in_progress': { S: 'in_progress' },
        ':retry_scheduled': { S: 'retry_scheduled' },
        ':failed': { S: 'failed' },
        ':invalid_message': { S: 'invalid_message' },
        ':lease': { N: String(LEASE_UNTIL_MS) },
        ':lease_token': { S: (begun as { leaseToken: string }).leaseToken },
        ':now': { S: NOW_ISO },
        ':now_ms': { N: String(NOW_MS) },
        ':template': { S: 'tpl_onboarding_pf' },
        ':subject_type': { S: 'pf' },
        ':key_source': { S: 'message' },
        ':expires': { N: String(EXPIRES_AT) },
        ':one': { N: '1' },
        ':external_id': { S: 'customer-0001' },
        ':lease_message_id': { S: 'msg-0001' },
        ':body_sha256': { S: BODY_SHA256 },
      },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('takes a fresh lease token on every claim', async () => {
    // Act
    const tokens = await Promise.all(
      [1, 2, 3].map(async () => {
        const begun = await store().beginAttempt(runRequestFactory(), {
          nowMs: NOW_MS,
          leaseUntilMs: LEASE_UNTIL_MS,
        });
        return (begun as { leaseToken: string }).leaseToken;
      }),
    );

    // Assess
    expect(new Set(tokens).size).toBe(3);
  });

  it('stores an external id that looks like a document masked, as the logs show it', async () => {
    // Act
    await store().beginAttempt(runRequestFactory({ externalId: `cpf-${VALID_CPF}` }), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });

    // Assess
    expect(sentUpdates()[0]?.ExpressionAttributeValues?.[':external_id']).toEqual({ S: 'cpf-[document]' });
  });

  it.each([
    [
      'a different body hash: the key was first used with another body',
      'b'.repeat(64),
      'in_progress',
      { kind: 'bodyMismatch' },
    ],
    [
      'the same body hash on a finished key: a duplicate',
      BODY_SHA256,
      'succeeded',
      { kind: 'finished', status: 'succeeded' },
    ],
  ])('maps a failed condition with %s', async (_, storedSha256, status, expected) => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(
      conditionFailed({
        idempotency_key: { S: KEY },
        status: { S: status },
        body_sha256: { S: storedSha256 },
      }),
    );

    // Act
    const begun = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
      bodySha256: BODY_SHA256,
    });

    // Assess
    expect(begun).toMatchObject(expected);
  });

  it('names the holder of a lease and the reason a finished key failed', async () => {
    // Prepare
    dynamodb
      .on(UpdateItemCommand)
      .rejectsOnce(
        conditionFailed({
          status: { S: 'in_progress' },
          lease_until_ms: { N: String(NOW_MS + 5_000) },
          lease_message_id: { S: 'msg-holder' },
        }),
      )
      .rejectsOnce(
        conditionFailed({
          status: { S: 'failed' },
          dead_letter_reason: { S: 'kycert_rejected:template_not_found' },
        }),
      );

    // Act
    const leased = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });
    const failed = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });

    // Assess
    expect(leased).toEqual({ kind: 'leased', leaseUntilMs: NOW_MS + 5_000, holderMessageId: 'msg-holder' });
    expect(failed).toEqual({
      kind: 'finished',
      status: 'failed',
      runId: undefined,
      deadLetterReason: 'kycert_rejected:template_not_found',
    });
  });

  it('sets no external_id (and defines no :external_id) when the request has none', async () => {
    // Act
    await store().beginAttempt(
      runRequestFactory({ externalId: undefined, idempotencyKeySource: 'message' }),
      {
        nowMs: NOW_MS,
        leaseUntilMs: LEASE_UNTIL_MS,
      },
    );

    // Assess
    const [input] = sentUpdates();
    expect(input?.UpdateExpression).not.toContain('external_id');
    expect(input?.ExpressionAttributeValues).not.toHaveProperty(':external_id');
    expect(placeholderProblems(input as UpdateItemCommandInput)).toEqual([]);
  });

  it('returns the attempt number and first attempt time that DynamoDB holds for a key tried before', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand).resolves({
      Attributes: { attempts: { N: '4' }, first_attempt_at: { S: '2026-11-23T09:30:00.000Z' } },
    });

    // Act
    const begun = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });

    // Assess
    expect(begun).toEqual({
      kind: 'started',
      attempt: 4,
      firstAttemptAtMs: Date.parse('2026-11-23T09:30:00.000Z'),
      leaseToken: expect.stringMatching(UUID),
    });
  });

  it.each([
    ['succeeded', 'run_0001', 'run_0001'],
    ['failed', undefined, undefined],
  ])('maps a failed condition on a %s item to finished', async (status, storedRunId, runId) => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(
      conditionFailed({
        idempotency_key: { S: KEY },
        status: { S: status },
        ...(storedRunId === undefined ? {} : { run_id: { S: storedRunId } }),
      }),
    );

    // Act
    const begun = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });

    // Assess
    expect(begun).toEqual({ kind: 'finished', status, runId });
  });

  it.each(['in_progress', 'retry_scheduled'])(
    'maps a failed condition on a %s item with a live lease to leased, until that lease ends',
    async (status) => {
      // Prepare
      const otherLeaseUntilMs = NOW_MS + 45_000;
      dynamodb.on(UpdateItemCommand).rejects(
        conditionFailed({
          idempotency_key: { S: KEY },
          status: { S: status },
          lease_until_ms: { N: String(otherLeaseUntilMs) },
        }),
      );

      // Act
      const begun = await store().beginAttempt(runRequestFactory(), {
        nowMs: NOW_MS,
        leaseUntilMs: LEASE_UNTIL_MS,
      });

      // Assess
      expect(begun).toEqual({ kind: 'leased', leaseUntilMs: otherLeaseUntilMs });
    },
  );

  it('reads the item when the failed condition returns none (as an emulator may), and sees it finished', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());
    dynamodb.on(GetItemCommand).resolves({
      Item: { idempotency_key: { S: KEY }, status: { S: 'succeeded' }, run_id: { S: 'run_0009' } },
    });

    // Act
    const begun = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });

    // Assess
    expect(begun).toEqual({ kind: 'finished', status: 'succeeded', runId: 'run_0009' });
    expect(dynamodb).toReceiveCommandWith(GetItemCommand, {
      Key: { idempotency_key: { S: KEY } },
      ConsistentRead: true,
    });
  });

  it('assumes a lease as long as its own when neither the condition nor a read returns the item', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());
    dynamodb.on(GetItemCommand).resolves({});

    // Act
    const begun = await store().beginAttempt(runRequestFactory(), {
      nowMs: NOW_MS,
      leaseUntilMs: LEASE_UNTIL_MS,
    });

    // Assess
    expect(begun).toEqual({ kind: 'leased', leaseUntilMs: LEASE_UNTIL_MS });
  });

  it('lets any other DynamoDB error through', async () => {
    // Prepare
    dynamodb
      .on(UpdateItemCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} }));

    // Act
    const begun = store().beginAttempt(runRequestFactory(), { nowMs: NOW_MS, leaseUntilMs: LEASE_UNTIL_MS });

    // Assess
    await expect(begun).rejects.toThrow(ProvisionedThroughputExceededException);
  });
});

describe('recordSuccess', () => {
  it('writes the run id, fenced by the claim’s token, and clears the lease and the last error', async () => {
    // Act
    const written = await store().recordSuccess(KEY, {
      runId: 'run_0001',
      httpStatus: 202,
      replayed: false,
      nowMs: NOW_MS,
      leaseToken: TOKEN,
    });

    // Assess
    expect(written).toBe('recorded');
    expect(dynamodb).toReceiveCommandExactlyOnceWith(UpdateItemCommand, {
      TableName: TABLE,
      Key: { idempotency_key: { S: KEY } },
      UpdateExpression:
        'SET #a0 = :v0, #a1 = :v1, #a2 = :v2, #a3 = :v3, #a4 = :v4, #a5 = :v5, #a6 = :v6 REMOVE #r0, #r1, #r2, #r3, #r4, #r5',
      ConditionExpression: 'attribute_exists(idempotency_key) AND lease_token = :lease_token',
      ExpressionAttributeNames: {
        '#a0': 'status',
        '#a1': 'run_id',
        '#a2': 'replayed',
        '#a3': 'last_http_status',
        '#a4': 'run_status',
        '#a5': 'updated_at',
        '#a6': 'expires_at',
        '#r0': 'lease_until_ms',
        '#r1': 'lease_token',
        '#r2': 'next_attempt_at',
        '#r3': 'last_error_code',
        '#r4': 'last_error_message',
        '#r5': 'retry_cause',
      },
      ExpressionAttributeValues: {
        ':lease_token': { S: TOKEN },
        ':v0': { S: 'succeeded' },
        ':v1': { S: 'run_0001' },
        ':v2': { BOOL: false },
        ':v3': { N: '202' },
        ':v4': { S: 'queued' },
        ':v5': { S: NOW_ISO },
        ':v6': { N: String(EXPIRES_AT) },
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it.each([
    [
      'another delivery holds the key now',
      { status: { S: 'in_progress' }, lease_token: { S: 'other' } },
      'fenced',
    ],
    ['the key succeeded meanwhile', { status: { S: 'succeeded' } }, 'alreadySucceeded'],
  ])('is refused when %s, and says so', async (_, item, expected) => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed({ idempotency_key: { S: KEY }, ...item }));

    // Act
    const written = await store().recordSuccess(KEY, {
      runId: 'run_0001',
      httpStatus: 202,
      replayed: false,
      nowMs: NOW_MS,
      leaseToken: TOKEN,
    });

    // Assess
    expect(written).toBe(expected);
  });
});

describe('recordRetry', () => {
  it('schedules the retry on condition that the key exists, holds this claim and has not succeeded', async () => {
    // Act
    const written = await store().recordRetry(KEY, {
      cause: 'rate_limited',
      nextAttemptAtMs: NOW_MS + 126_000,
      nowMs: NOW_MS,
      httpStatus: 429,
      errorCode: 'rate_limited',
      errorMessage: 'Too many requests',
      leaseToken: TOKEN,
    });

    // Assess
    expect(written).toBe('recorded');
    expect(dynamodb).toReceiveCommandExactlyOnceWith(UpdateItemCommand, {
      TableName: TABLE,
      Key: { idempotency_key: { S: KEY } },
      UpdateExpression:
        'SET #a0 = :v0, #a1 = :v1, #a2 = :v2, #a3 = :v3, #a4 = :v4, #a5 = :v5, #a6 = :v6, #a7 = :v7 REMOVE #r0, #r1',
      ConditionExpression:
        'attribute_exists(idempotency_key) AND lease_token = :lease_token AND #status <> :succeeded',
      ExpressionAttributeNames: {
        '#a0': 'status',
        '#a1': 'retry_cause',
        '#a2': 'next_attempt_at',
        '#a3': 'last_http_status',
        '#a4': 'last_error_code',
        '#a5': 'last_error_message',
        '#a6': 'updated_at',
        '#a7': 'expires_at',
        '#r0': 'lease_until_ms',
        '#r1': 'lease_token',
        '#status': 'status',
      },
      ExpressionAttributeValues: {
        ':lease_token': { S: TOKEN },
        ':v0': { S: 'retry_scheduled' },
        ':v1': { S: 'rate_limited' },
        ':v2': { S: '2026-11-23T12:02:06.000Z' },
        ':v3': { N: '429' },
        ':v4': { S: 'rate_limited' },
        ':v5': { S: 'Too many requests' },
        ':v6': { S: NOW_ISO },
        ':v7': { N: String(EXPIRES_AT) },
        ':succeeded': { S: 'succeeded' },
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('writes no last_http_status after a network error', async () => {
    // Act
    await store().recordRetry(KEY, {
      cause: 'network_error',
      nextAttemptAtMs: NOW_MS + 2_000,
      nowMs: NOW_MS,
      errorCode: 'ECONNRESET',
      errorMessage: 'read ECONNRESET',
    });

    // Assess
    const [input] = sentUpdates();
    expect(decodeUpdate(input as UpdateItemCommandInput).set).toEqual({
      status: 'retry_scheduled',
      retry_cause: 'network_error',
      next_attempt_at: '2026-11-23T12:00:02.000Z',
      last_error_code: 'ECONNRESET',
      last_error_message: 'read ECONNRESET',
      updated_at: NOW_ISO,
      expires_at: EXPIRES_AT,
    });
  });

  it.each([
    [
      'the item DynamoDB returns has succeeded',
      { Item: { status: { S: 'succeeded' } } },
      undefined,
      'alreadySucceeded',
    ],
    [
      'the item DynamoDB returns holds another claim',
      { Item: { status: { S: 'in_progress' } } },
      undefined,
      'fenced',
    ],
    // An emulator may return no item: the store reads it, and a key that is gone is not "another copy succeeded".
    ['no item is returned, and none is there', {}, undefined, 'missing'],
    [
      'no item is returned, and the read shows a success',
      {},
      { status: { S: 'succeeded' } },
      'alreadySucceeded',
    ],
  ])('a refusal where %s is %s', async (_, refusal, readBack, expected) => {
    // Prepare
    dynamodb
      .on(UpdateItemCommand)
      .rejects(conditionFailed((refusal as { Item?: Record<string, AttributeValue> }).Item));
    dynamodb.on(GetItemCommand).resolves(readBack === undefined ? {} : { Item: readBack });

    // Act
    const written = await store().recordRetry(KEY, {
      cause: 'server_error',
      nextAttemptAtMs: NOW_MS + 1_000,
      nowMs: NOW_MS,
      httpStatus: 503,
      leaseToken: TOKEN,
    });

    // Assess
    expect(written).toBe(expected);
  });

  it('lets any other DynamoDB error through', async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(new Error('socket hang up'));

    // Act
    const written = store().recordRetry(KEY, {
      cause: 'server_error',
      nextAttemptAtMs: NOW_MS + 1_000,
      nowMs: NOW_MS,
    });

    // Assess
    await expect(written).rejects.toThrow('socket hang up');
  });
});

describe('recordFailure', () => {
  it('after an attempt, writes the failure on condition that the key exists and has not succeeded', async () => {
    // Act
    const written = await store().recordFailure(KEY, {
      reason: 'kycert_rejected:insufficient_credits',
      attempted: true,
      leaseToken: TOKEN,
      httpStatus: 402,
      errorCode: 'insufficient_credits',
      errorMessage: 'Not enough credits',
      nowMs: NOW_MS,
    });

    // Assess
    expect(written).toBe(true);
    const [input] = sentUpdates();
    expect(input?.ConditionExpression).toBe(`${NOT_SUCCEEDED} AND lease_token = :lease_token`);
    expect(decodeUpdate(input as UpdateItemCommandInput)).toEqual({
      table: TABLE,
      key: KEY,
      set: {
        status: 'failed',
        dead_letter_reason: 'kycert_rejected:insufficient_credits',
        list_status: expect.stringMatching(/^delivery:failed#[0-3]$/),
        last_http_status: 402,
        last_error_code: 'insufficient_credits',
        last_error_message: 'Not enough credits',
        updated_at: NOW_ISO,
        expires_at: EXPIRES_AT,
      },
      remove: ['lease_until_ms', 'lease_token', 'next_attempt_at', 'retry_cause'],
      add: {},
      condition: `attribute_exists(idempotency_key) AND status <> 'succeeded' AND lease_token = '${TOKEN}'`,
    });
  });

  it('for an invalid message, writes only when the key is unknown or failed as invalid before, with its ids', async () => {
    // Act
    const written = await store().recordFailure(KEY, {
      reason: 'invalid_message:subject.doc:invalid_check_digits',
      attempted: false,
      errorMessage: 'CPF: invalid check digits',
      externalId: 'customer-0001',
      templateId: 'tpl_onboarding_pf',
      nowMs: NOW_MS,
    });

    // Assess
    expect(written).toBe(true);
    const [input] = sentUpdates();
    expect(input?.ConditionExpression).toBe(
      'attribute_not_exists(idempotency_key) OR (#status = :failed AND begins_with(dead_letter_reason, :invalid_message))',
    );
    expect(input?.ExpressionAttributeValues).not.toHaveProperty(':succeeded');
    expect(decodeUpdate(input as UpdateItemCommandInput)).toEqual({
      table: TABLE,
      key: KEY,
      set: {
        status: 'failed',
        dead_letter_reason: 'invalid_message:subject.doc:invalid_check_digits',
        list_status: expect.stringMatching(/^delivery:failed#[0-3]$/),
        last_error_message: 'CPF: invalid check digits',
        external_id: 'customer-0001',
        template_id: 'tpl_onboarding_pf',
        updated_at: NOW_ISO,
        expires_at: EXPIRES_AT,
      },
      remove: ['lease_until_ms', 'lease_token', 'next_attempt_at', 'retry_cause'],
      add: {},
      condition:
        "attribute_not_exists(idempotency_key) OR (status = 'failed' AND begins_with(dead_letter_reason, 'invalid_message'))",
    });
  });

  it.each([true, false])('returns false when the condition fails (attempted: %s)', async (attempted) => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());

    // Act
    const written = await store().recordFailure(KEY, {
      reason: 'retries_exhausted',
      attempted,
      nowMs: NOW_MS,
    });

    // Assess
    expect(written).toBe(false);
  });
});

describe('every write', () => {
  const writes: Array<[string, (s: OutcomeStore) => Promise<unknown>]> = [
    [
      'beginAttempt',
      (s) => s.beginAttempt(runRequestFactory(), { nowMs: NOW_MS, leaseUntilMs: LEASE_UNTIL_MS }),
    ],
    [
      'beginAttempt without external id',
      (s) =>
        s.beginAttempt(runRequestFactory({ externalId: undefined }), {
          nowMs: NOW_MS,
          leaseUntilMs: LEASE_UNTIL_MS,
        }),
    ],
    [
      'recordSuccess',
      (s) => s.recordSuccess(KEY, { runId: 'run_1', httpStatus: 200, replayed: true, nowMs: NOW_MS }),
    ],
    [
      'recordRetry',
      (s) =>
        s.recordRetry(KEY, {
          cause: 'server_error',
          nextAttemptAtMs: NOW_MS,
          nowMs: NOW_MS,
          httpStatus: 503,
          errorCode: 'unavailable',
          errorMessage: 'try later',
        }),
    ],
    [
      'recordRetry, bare',
      (s) => s.recordRetry(KEY, { cause: 'in_progress', nextAttemptAtMs: NOW_MS, nowMs: NOW_MS }),
    ],
    [
      'recordFailure, attempted',
      (s) =>
        s.recordFailure(KEY, {
          reason: 'retries_exhausted',
          attempted: true,
          httpStatus: 503,
          nowMs: NOW_MS,
        }),
    ],
    [
      'recordFailure, invalid message',
      (s) =>
        s.recordFailure(KEY, {
          reason: 'invalid_message:body:invalid_json',
          attempted: false,
          errorMessage: 'Unexpected end of JSON input',
          externalId: 'customer-0001',
          templateId: 'tpl_onboarding_pf',
          nowMs: NOW_MS,
        }),
    ],
  ];

  it.each(writes)(
    '%s uses every expression attribute name and value it defines, and defines every one it uses',
    async (_name, write) => {
      // Act
      await write(store());

      // Assess
      const [input] = sentUpdates();
      expect(input).toBeDefined();
      expect(placeholderProblems(input as UpdateItemCommandInput)).toEqual([]);
    },
  );

  it.each(writes)('%s stores no CPF/CNPJ', async (_name, write) => {
    // Act
    await write(store());

    // Assess
    const stored = JSON.stringify(sentUpdates());
    expect(containsDocument(stored, VALID_CPF)).toBe(false);
  });
});

describe('redaction of error messages', () => {
  it.each([
    ['a formatted CPF', 'subject 529.982.247-25 is blocked', 'subject [document] is blocked'],
    ['a bare CPF', `doc ${VALID_CPF} not found`, 'doc [document] not found'],
    ['a formatted CNPJ', 'company 11.222.333/0001-81 is inactive', 'company [document] is inactive'],
    ['a bare CNPJ', `company ${VALID_CNPJ} is inactive`, 'company [document] is inactive'],
  ])('masks %s in last_error_message (retry and failure)', async (_what, errorMessage, stored) => {
    // Act
    await store().recordRetry(KEY, {
      cause: 'server_error',
      nextAttemptAtMs: NOW_MS,
      nowMs: NOW_MS,
      httpStatus: 503,
      errorMessage,
    });
    await store().recordFailure(KEY, {
      reason: 'kycert_rejected:subject_blocked',
      attempted: true,
      httpStatus: 422,
      errorMessage,
      nowMs: NOW_MS,
    });

    // Assess
    const [retry, failure] = sentUpdates().map((input) => decodeUpdate(input).set.last_error_message);
    expect(retry).toBe(stored);
    expect(failure).toBe(stored);
  });

  it('keeps at most 1000 characters of an error message', async () => {
    // Act
    await store().recordRetry(KEY, {
      cause: 'server_error',
      nextAttemptAtMs: NOW_MS,
      nowMs: NOW_MS,
      errorMessage: 'x'.repeat(5000),
    });

    // Assess
    const [input] = sentUpdates();
    expect(decodeUpdate(input as UpdateItemCommandInput).set.last_error_message).toBe('x'.repeat(1000));
  });
});

describe('get', () => {
  it('reads the item with a consistent read', async () => {
    // Prepare
    const item = { idempotency_key: { S: KEY }, status: { S: 'succeeded' } };
    dynamodb.on(GetItemCommand).resolves({ Item: item });

    // Act
    const read = await store().get(KEY);

    // Assess
    expect(read).toEqual(item);
    expect(dynamodb).toReceiveCommandExactlyOnceWith(GetItemCommand, {
      TableName: TABLE,
      Key: { idempotency_key: { S: KEY } },
      ConsistentRead: true,
    });
  });
});
