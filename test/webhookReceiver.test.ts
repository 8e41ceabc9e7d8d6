import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  QueryCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createWebhookDeps } from '../functions/kycert-webhook/createWebhookDeps.js';
import { createHandler } from '../functions/kycert-webhook/handler.js';
import type { WebhookReceiverDeps } from '../functions/kycert-webhook/receiveWebhook.js';
import { loadWebhookConfig } from '../functions/kycert-webhook/webhookConfig.js';
import { parseWebhookSecrets } from '../functions/kycert-webhook/webhookSecrets.js';
import { signWebhook } from '../functions/kycert-webhook/webhookSignature.js';
import { type CapturedOutput, captureOutput } from './support/capturedOutput.js';
import { containsDocument } from './support/runRequestFactory.js';

// The receiver's handler with mocked AWS clients: what it writes, publishes, answers and logs, per case.

const TABLE = 'kycert-outcomes';
const SECRET = 'whsec_test_receiver';
const NOW_MS = Date.parse('2026-01-05T12:00:10.000Z');
const NOW_SECONDS = NOW_MS / 1000;
const RUN_ID = 'run_0123456789abcdef01234567';
const EVENT_ID = 'evt_0123456789abcdef01234567';
const KEY = `kq1_${'a'.repeat(64)}`;
const DOC = '52998224725';

const dynamodb = mockClient(DynamoDBClient);
const eventBridge = mockClient(EventBridgeClient);
const secretsManager = mockClient(SecretsManagerClient);
let output: CapturedOutput;

const run = (overrides: Record<string, unknown> = {}) => ({
  run_id: RUN_ID,
  status: 'blocked',
  template_id: 'tpl_onboarding_pf',
  external_id: 'order-1',
  subject: { type: 'pf', doc: DOC },
  metadata: null,
  estimated_seconds: 5,
  created_at: '2026-01-05T12:00:00.000Z',
  completed_at: '2026-01-05T12:00:05.000Z',
  decision: 'BLOCKED',
  risk_level: 'CRITICAL',
  ...overrides,
});
const envelope = (overrides: Record<string, unknown> = {}, runOverrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: EVENT_ID,
    object: 'event',
    event: 'run.completed',
    created: 1_767_614_405,
    livemode: false,
    data: { object: run(runOverrides) },
    ...overrides,
  });

function deps(
  overrides: Partial<WebhookReceiverDeps> = {},
  env: Record<string, string | undefined> = {},
): WebhookReceiverDeps {
  return createWebhookDeps(
    loadWebhookConfig({
      OUTCOME_TABLE_NAME: TABLE,
      KYCERT_WEBHOOK_SECRET: SECRET,
      DECISION_EVENT_BUS_NAME: 'default',
      KYCERT_QUEUE_STAGE: 'test',
      ...env,
    }),
    {
      logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
      metrics: new Metrics({ namespace: 'KycertQueueTest', serviceName: 'test' }),
      nowMs: () => NOW_MS,
      ...overrides,
    },
  );
}

const context = {
  getRemainingTimeInMillis: () => 10_000,
  functionName: 'receiver',
  awsRequestId: 'req-1',
} as unknown as Context;

function event(
  body: string,
  options: { headers?: Record<string, string>; method?: string; base64?: boolean } = {},
) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'kycert-signature': signWebhook(SECRET, body, NOW_SECONDS),
      ...options.headers,
    },
    requestContext: { http: { method: options.method ?? 'POST', path: '/' } },
    body: options.base64 === true ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 === true,
  } as unknown as APIGatewayProxyEventV2;
}

/** One handler per set of deps, as one execution environment keeps one. */
const handlers = new WeakMap<WebhookReceiverDeps, ReturnType<typeof createHandler>>();

async function post(body: string, options: Parameters<typeof event>[1] = {}, receiverDeps = deps()) {
  const handler = handlers.get(receiverDeps) ?? createHandler(() => receiverDeps);
  handlers.set(receiverDeps, handler);
  const response = await handler(event(body, options), context);
  return {
    statusCode: response.statusCode,
    body: JSON.parse(response.body ?? '{}') as Record<string, unknown>,
  };
}

const updates = (): UpdateItemCommandInput[] =>
  dynamodb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);
const keysUpdated = () => updates().map((input) => input.Key?.idempotency_key?.S);
const metricNames = () =>
  output.metrics().flatMap((emf) => {
    const [directive] = (
      emf._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }>; Dimensions: string[][] }> }
    ).CloudWatchMetrics;
    const reason =
      typeof emf.reason === 'string'
        ? `:${emf.reason}`
        : typeof emf.run_status === 'string'
          ? `:${emf.run_status}`
          : '';
    return directive?.Metrics.map((metric) => `${metric.Name}${reason}`) ?? [];
  });

beforeEach(() => {
  dynamodb.reset();
  eventBridge.reset();
  secretsManager.reset();
  dynamodb.on(UpdateItemCommand).resolves({});
  dynamodb.on(QueryCommand).resolves({ Items: [{ idempotency_key: { S: KEY }, run_id: { S: RUN_ID } }] });
  dynamodb.on(GetItemCommand).resolves({
    Item: {
      idempotency_key: { S: KEY },
      run_id: { S: RUN_ID },
      status: { S: 'succeeded' },
      run_status: { S: 'queued' },
      external_id: { S: 'order-1' },
      last_attempt_at: { S: '2026-01-05T12:00:00.000Z' },
    },
  });
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  output = captureOutput();
});
afterEach(() => {
  // Nothing the receiver printed may carry the subject's document.
  expect(containsDocument(output.text(), DOC)).toBe(false);
  vi.restoreAllMocks();
});

describe('a verified webhook for a run we hold', () => {
  it('claims the event, records the decision once, publishes it without the document, and marks the event', async () => {
    // Act
    const response = await post(envelope());

    // Assess
    expect(response).toEqual({ statusCode: 200, body: { received: true, outcome: 'recorded' } });
    expect(dynamodb).toReceiveCommandWith(QueryCommand, {
      TableName: TABLE,
      IndexName: 'by-run-id',
      ExpressionAttributeValues: { ':run_id': { S: RUN_ID } },
    });
    expect(keysUpdated()).toEqual([
      `kycert-queue webhook-event ${EVENT_ID}`, // the claim
      KEY, // the run's result
      KEY, // decision_published_at
      `kycert-queue webhook-event ${EVENT_ID}`, // processed
    ]);
    const [claim, result] = updates() as [UpdateItemCommandInput, UpdateItemCommandInput];
    expect(claim.ConditionExpression).toBe(
      'attribute_not_exists(idempotency_key) OR (attribute_not_exists(processed_at) AND lease_until_ms < :now_ms)',
    );
    expect(claim.ExpressionAttributeValues).toMatchObject({
      ':lease': { N: String(NOW_MS + 10_000) },
      ':expires': { N: String(NOW_SECONDS + 7 * 86_400) },
      ':run_id': { S: RUN_ID },
    });
    expect(claim.UpdateExpression).toContain('event_run_id = :run_id');
    expect(claim.UpdateExpression).not.toMatch(/[ ,]run_id =/);
    expect(Object.values(result.ExpressionAttributeValues ?? {})).toEqual(
      expect.arrayContaining([{ S: 'blocked' }, { S: 'BLOCKED' }, { S: 'CRITICAL' }, { S: 'webhook' }]),
    );
    expect(JSON.stringify(updates())).not.toContain(DOC);
    const [put] = eventBridge.commandCalls(PutEventsCommand);
    expect(JSON.parse(put?.args[0].input.Entries?.[0]?.Detail ?? '{}')).toMatchObject({
      idempotency_key: KEY,
      external_id: 'order-1',
      run_id: RUN_ID,
      run_status: 'blocked',
      decision: 'BLOCKED',
      risk_band: 'CRITICAL',
      stage: 'test',
    });
    expect(metricNames()).toEqual(expect.arrayContaining(['Decided', 'Decided:blocked', 'TimeToDecision']));
    const timeToDecision = output.metrics().find((emf) => 'TimeToDecision' in emf)?.TimeToDecision;
    expect(timeToDecision).toBe(10_000); // kycert's created_at 12:00:00 → recorded at 12:00:10
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        message: 'decision recorded from a webhook',
        run_id: RUN_ID,
        outcome: 'recorded',
      }),
    );
  });

  it('takes a base64-encoded body byte for byte', async () => {
    const response = await post(envelope(), { base64: true });

    expect(response.body).toEqual({ received: true, outcome: 'recorded' });
  });

  it('answers a replay 200 and changes nothing: the claim meets the processed event', async () => {
    dynamodb
      .on(UpdateItemCommand, { Key: { idempotency_key: { S: `kycert-queue webhook-event ${EVENT_ID}` } } })
      .rejects(
        new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: {},
          Item: { processed_at: { S: '2026-01-05T12:00:06.000Z' }, outcome: { S: 'recorded' } },
        }),
      );

    const response = await post(envelope());

    expect(response).toEqual({ statusCode: 200, body: { received: true, outcome: 'duplicate' } });
    expect(keysUpdated()).toEqual([`kycert-queue webhook-event ${EVENT_ID}`]);
    expect(dynamodb).toReceiveCommandTimes(QueryCommand, 0);
    expect(eventBridge).toReceiveCommandTimes(PutEventsCommand, 0);
  });

  it('answers 409 while another delivery of the event holds its claim', async () => {
    dynamodb
      .on(UpdateItemCommand, { Key: { idempotency_key: { S: `kycert-queue webhook-event ${EVENT_ID}` } } })
      .rejects(
        new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: {},
          Item: { lease_until_ms: { N: String(NOW_MS + 5_000) } },
        }),
      );

    const response = await post(envelope());

    expect(response).toEqual({ statusCode: 409, body: { error: 'in_progress' } });
    expect(dynamodb).toReceiveCommandTimes(QueryCommand, 0);
  });

  it('changes nothing for a run a status check already decided, and publishes nothing more', async () => {
    dynamodb.on(UpdateItemCommand, { Key: { idempotency_key: { S: KEY } } }).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: {
          run_id: { S: RUN_ID },
          run_status: { S: 'blocked' },
          decision_published_at: { S: '2026-01-05T12:00:06Z' },
        },
      }),
    );

    const response = await post(envelope());

    expect(response.body).toEqual({ received: true, outcome: 'already_terminal' });
    expect(eventBridge).toReceiveCommandTimes(PutEventsCommand, 0);
    expect(metricNames()).not.toContain('Decided');
  });

  it('records a failed run from run.failed: decision null, failed_at, no completed_at', async () => {
    const body = envelope(
      { event: 'run.failed' },
      {
        status: 'failed',
        decision: null,
        risk_level: null,
        completed_at: undefined,
        failed_at: '2026-01-05T12:00:05.000Z',
      },
    );

    const response = await post(body);

    expect(response.body).toEqual({ received: true, outcome: 'recorded' });
    const result = updates()[1] as UpdateItemCommandInput;
    expect(Object.values(result.ExpressionAttributeValues ?? {})).toEqual(
      expect.arrayContaining([{ S: 'failed' }, { NULL: true }, { S: '2026-01-05T12:00:05.000Z' }]),
    );
    expect(metricNames()).toContain('Decided:failed');
  });

  it('gives the claim back and answers 500 when DynamoDB fails, so kycert’s retry can go through at once', async () => {
    dynamodb
      .on(UpdateItemCommand, { Key: { idempotency_key: { S: KEY } } })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    const response = await post(envelope());

    expect(response).toEqual({ statusCode: 500, body: { error: 'not_handled' } });
    const release = updates().at(-1) as UpdateItemCommandInput;
    expect(release.Key?.idempotency_key?.S).toBe(`kycert-queue webhook-event ${EVENT_ID}`);
    expect(release.UpdateExpression).toBe('SET lease_until_ms = :zero');
    expect(metricNames()).toContain('UnexpectedErrors');
  });
});

describe('a verified webhook for a run no outcome holds', () => {
  it.each([
    ['the index knows no key for it', () => dynamodb.on(QueryCommand).resolves({ Items: [] })],
    [
      'the key found holds another run',
      () =>
        dynamodb
          .on(GetItemCommand)
          .resolves({ Item: { idempotency_key: { S: KEY }, run_id: { S: 'run_other' } } }),
    ],
  ])(
    'is parked when %s: result fields only, no run_id, in the unmatched list, and counted',
    async (_name, arrange) => {
      arrange();

      const response = await post(envelope());

      expect(response.body).toEqual({ received: true, outcome: 'parked' });
      const park = updates().find((input) => input.Key?.idempotency_key?.S === `kycert-queue run ${RUN_ID}`);
      expect(park?.UpdateExpression).toContain('parked_run_id = :run_id');
      expect(park?.UpdateExpression).not.toMatch(/[ ,]run_id =/);
      expect(park?.ExpressionAttributeValues).toMatchObject({
        ':run_status': { S: 'blocked' },
        ':decision': { S: 'BLOCKED' },
        ':risk_band': { S: 'CRITICAL' },
        ':list_status': { S: expect.stringMatching(/^webhook:unmatched#[0-3]$/) },
        ':expires': { N: String(NOW_SECONDS + 7 * 86_400) },
      });
      expect(JSON.stringify(park)).not.toContain(DOC);
      expect(JSON.stringify(park)).not.toContain('order-1');
      expect(eventBridge).toReceiveCommandTimes(PutEventsCommand, 0);
      expect(metricNames()).toContain('WebhooksUnmatched');
      expect(output.logs()).toContainEqual(
        expect.objectContaining({
          level: 'WARN',
          message: 'webhook for a run no outcome holds: parked for the worker and the operator',
        }),
      );
    },
  );
});

describe('refused before anything is written', () => {
  const expectNothingWritten = () => {
    expect(dynamodb.calls()).toHaveLength(0);
    expect(eventBridge.calls()).toHaveLength(0);
  };

  it.each<[string, () => Parameters<typeof post>, string]>([
    [
      'a wrong secret',
      () => [
        envelope(),
        { headers: { 'kycert-signature': signWebhook('whsec_other', envelope(), NOW_SECONDS) } },
      ],
      'bad_signature',
    ],
    [
      'a stale timestamp',
      () => [
        envelope(),
        { headers: { 'kycert-signature': signWebhook(SECRET, envelope(), NOW_SECONDS - 301) } },
      ],
      'stale_timestamp',
    ],
    [
      'a future timestamp',
      () => [
        envelope(),
        { headers: { 'kycert-signature': signWebhook(SECRET, envelope(), NOW_SECONDS + 301) } },
      ],
      'future_timestamp',
    ],
    [
      'a tampered body',
      () => [
        envelope(),
        {
          headers: {
            'kycert-signature': signWebhook(SECRET, envelope({ event: 'run.failed' }), NOW_SECONDS),
          },
        },
      ],
      'bad_signature',
    ],
    ['no signature header', () => [envelope(), { headers: { 'kycert-signature': '' } }], 'missing_header'],
    [
      'a malformed header',
      () => [envelope(), { headers: { 'kycert-signature': 'sha256=abc' } }],
      'malformed_header',
    ],
  ])('%s: 401', async (_name, request, reason) => {
    const response = await post(...request());

    expect(response).toEqual({ statusCode: 401, body: { error: 'invalid_signature' } });
    expectNothingWritten();
    expect(metricNames()).toEqual(expect.arrayContaining(['WebhooksRejected', `WebhooksRejected:${reason}`]));
    expect(output.logs()).toContainEqual(expect.objectContaining({ message: 'webhook refused', reason }));
  });

  it('a body over 64 KiB: 413, unread', async () => {
    const body = envelope({ padding: 'x'.repeat(64 * 1024) });

    const response = await post(body);

    expect(response).toEqual({ statusCode: 413, body: { error: 'body_too_large' } });
    expectNothingWritten();
    expect(metricNames()).toContain('WebhooksRejected:body_too_large');
  });

  it('another method than POST: 405', async () => {
    const response = await createHandler(() => deps())(event(envelope(), { method: 'GET' }), context);

    expect(response.statusCode).toBe(405);
    expect(response.headers).toMatchObject({ allow: 'POST' });
    expectNothingWritten();
  });

  it.each([
    ['not JSON', 'not json'],
    ['no event id', envelope({ id: undefined })],
    ['a run without an id', envelope({}, { run_id: undefined })],
    ['a run still queued', envelope({}, { status: 'queued', decision: null })],
  ])('a signed body that is %s: 400, naming no value', async (_name, body) => {
    const response = await post(body);

    expect(response).toEqual({ statusCode: 400, body: { error: 'invalid_event' } });
    expectNothingWritten();
    expect(metricNames()).toContain('WebhooksRejected:invalid_event');
  });

  it('an event of another kind: 200, acknowledged, nothing recorded', async () => {
    const response = await post(envelope({ event: 'template.updated' }));

    expect(response).toEqual({ statusCode: 200, body: { received: true, outcome: 'ignored' } });
    expectNothingWritten();
  });
});

describe('the secret', () => {
  it('still a placeholder: 503 so that kycert retries, an error log, and nothing written', async () => {
    const response = await post(
      envelope(),
      {},
      deps({}, { KYCERT_WEBHOOK_SECRET: 'Xy7PlaceholderGeneratedBySecretsM' }),
    );

    expect(response).toEqual({ statusCode: 503, body: { error: 'secret_unset' } });
    expect(dynamodb.calls()).toHaveLength(0);
    expect(output.logs()).toContainEqual(
      expect.objectContaining({ level: 'ERROR', problem: expect.stringContaining('not a whsec_') }),
    );
    expect(output.text()).not.toContain('Xy7PlaceholderGeneratedBySecretsM');
  });

  it('read from Secrets Manager, cached, and read again once when a signature fails (the operator replaced it)', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'whsec_before_rotation' })
      .resolves({ SecretString: JSON.stringify({ secrets: [SECRET, 'whsec_before_rotation'] }) });
    const receiver = deps(
      {},
      { KYCERT_WEBHOOK_SECRET: undefined, KYCERT_WEBHOOK_SECRET_ID: 'kycert-queue/webhook-secret' },
    );
    const other = envelope({ id: 'evt_second' });

    // Act
    const first = await post(envelope(), {}, receiver);
    const second = await post(
      other,
      { headers: { 'kycert-signature': signWebhook(SECRET, other, NOW_SECONDS) } },
      receiver,
    );

    // Assess
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect(secretsManager).toReceiveCommandTimes(GetSecretValueCommand, 2);
    expect(secretsManager).toReceiveCommandWith(GetSecretValueCommand, {
      SecretId: 'kycert-queue/webhook-secret',
    });
  });

  it('re-read at most once a minute: a run of forged webhooks costs one read', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
    const receiver = deps(
      {},
      { KYCERT_WEBHOOK_SECRET: undefined, KYCERT_WEBHOOK_SECRET_ID: 'kycert-queue/webhook-secret' },
    );
    const forged = { headers: { 'kycert-signature': signWebhook('whsec_forged', envelope(), NOW_SECONDS) } };

    for (let i = 0; i < 5; i++) expect((await post(envelope(), forged, receiver)).statusCode).toBe(401);

    expect(secretsManager).toReceiveCommandTimes(GetSecretValueCommand, 2);
  });

  it.each([
    ['whsec_one', { kind: 'secrets', secrets: ['whsec_one'] }],
    ['  whsec_one\n', { kind: 'secrets', secrets: ['whsec_one'] }],
    ['{"secrets": ["whsec_new", "whsec_old"]}', { kind: 'secrets', secrets: ['whsec_new', 'whsec_old'] }],
    [
      'sk_live_oops',
      { kind: 'unset', problem: 'the secret is not a whsec_… value (the placeholder the stack generated?)' },
    ],
    ['{"secrets": []}', { kind: 'unset', problem: 'the secret is JSON without a non-empty "secrets" array' }],
    [
      '{"secrets": ["whsec_a", "b"]}',
      { kind: 'unset', problem: 'every entry of "secrets" must be a whsec_… string' },
    ],
    ['{"secrets": ', { kind: 'unset', problem: 'the secret starts with "{" but is not valid JSON' }],
    ['', { kind: 'unset', problem: 'the secret has no value' }],
  ])('reads %j as %j', (value, expected) => {
    expect(parseWebhookSecrets(value)).toEqual(expected);
  });
});

describe('configuration', () => {
  it('names what is missing', () => {
    expect(() => loadWebhookConfig({ OUTCOME_TABLE_NAME: TABLE })).toThrow(
      'invalid webhook receiver configuration: KYCERT_WEBHOOK_SECRET_ID: set KYCERT_WEBHOOK_SECRET_ID (or KYCERT_WEBHOOK_SECRET for local runs)',
    );
    expect(() =>
      loadWebhookConfig({
        OUTCOME_TABLE_NAME: TABLE,
        KYCERT_WEBHOOK_SECRET_ID: 's',
        KYCERT_WEBHOOK_SIGNATURE_HEADER: 'bad header',
      }),
    ).toThrow('KYCERT_WEBHOOK_SIGNATURE_HEADER: must be a header name: letters, digits and "-"');
  });

  it('reads the signature from the header the setting names, case-insensitively', async () => {
    const receiver = deps({}, { KYCERT_WEBHOOK_SIGNATURE_HEADER: 'X-Kycert-Signature' });
    const signature = signWebhook(SECRET, envelope(), NOW_SECONDS);

    const inDefault = await post(envelope(), {}, receiver);
    const inNamed = await post(envelope(), { headers: { 'x-kycert-signature': signature } }, receiver);

    expect([inDefault.statusCode, inNamed.statusCode]).toEqual([401, 200]);
  });
});
