import {
  EventBridgeClient,
  EventBridgeServiceException,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DecisionPublishError, DecisionPublisher } from '../functions/kycert-worker/decisionPublisher.js';
import type { RunResult } from '../functions/kycert-worker/runResult.js';
import { LOCAL_CREDENTIALS } from '../local/aws/createLocalClients.js';
import { type EventBridgeEmulator, startEventBridgeEmulator } from '../local/aws/startEventBridgeEmulator.js';

// The EventBridge stand-in, driven by the real SDK client over HTTP, and by the worker's own publisher.

let emulator: EventBridgeEmulator;
let client: EventBridgeClient;

beforeAll(async () => {
  emulator = await startEventBridgeEmulator();
  client = new EventBridgeClient({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
});
afterEach(() => emulator.setEntryFailure(undefined));
afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

const BLOCKED: RunResult = {
  runId: 'run_0123456789abcdef01234567',
  status: 'blocked',
  decision: 'BLOCKED',
  riskBand: 'CRITICAL',
  completedAt: '2026-01-05T12:00:05.000Z',
  failedAt: null,
  estimatedSeconds: 5,
};

describe('PutEvents', () => {
  it('accepts the entries, answers an event id each, and keeps them in order', async () => {
    // Prepare
    const before = emulator.events().length;
    const time = new Date('2026-01-05T12:00:05.000Z');

    // Act
    const answer = await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'test', DetailType: 'one', Detail: '{"n":1}', Time: time, Resources: ['arn:aws:x'] },
          { Source: 'test', DetailType: 'two', Detail: '{"n":2}', EventBusName: 'orders' },
          {
            Source: 'test',
            DetailType: 'three',
            Detail: '{"n":3}',
            EventBusName: 'arn:aws:events:us-east-1:000000000000:event-bus/decisions',
          },
        ],
      }),
    );

    // Assess
    expect(answer.FailedEntryCount).toBe(0);
    expect(answer.Entries?.map((entry) => entry.EventId)).toEqual([
      expect.stringMatching(/^[0-9a-f-]{36}$/),
      expect.stringMatching(/^[0-9a-f-]{36}$/),
      expect.stringMatching(/^[0-9a-f-]{36}$/),
    ]);
    const events = emulator.events().slice(before);
    expect(events.map((event) => [event.busName, event.detailType, event.detail])).toEqual([
      ['default', 'one', { n: 1 }],
      ['orders', 'two', { n: 2 }],
      ['decisions', 'three', { n: 3 }],
    ]);
    expect(events[0]).toMatchObject({
      time: time.toISOString(),
      resources: ['arn:aws:x'],
      eventId: answer.Entries?.[0]?.EventId,
    });
  });

  it('refuses an entry with a Detail that is not a JSON object, or without a Source, and keeps the others', async () => {
    const before = emulator.events().length;

    const answer = await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'test', DetailType: 'bad', Detail: '[1, 2]' },
          { DetailType: 'no source', Detail: '{}' },
          { Source: 'test', DetailType: 'good', Detail: '{}' },
        ],
      }),
    );

    expect(answer.FailedEntryCount).toBe(2);
    expect(answer.Entries?.map((entry) => entry.ErrorCode)).toEqual([
      'MalformedDetail',
      'InvalidArgument',
      undefined,
    ]);
    expect(
      emulator
        .events()
        .slice(before)
        .map((event) => event.detailType),
    ).toEqual(['good']);
  });

  it('refuses a call of 11 entries with a ValidationException, as PutEvents does', async () => {
    const entries = Array.from({ length: 11 }, () => ({ Source: 'test', DetailType: 'x', Detail: '{}' }));

    const refused = await client
      .send(new PutEventsCommand({ Entries: entries }))
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(EventBridgeServiceException);
    expect(refused).toMatchObject({ name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
  });

  it('is found through AWS_ENDPOINT_URL_EVENTBRIDGE, as a worker process finds it', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = emulator.endpoint;
    const fromEnv = new EventBridgeClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    try {
      const answer = await fromEnv.send(
        new PutEventsCommand({ Entries: [{ Source: 'env', DetailType: 'found', Detail: '{}' }] }),
      );
      expect(answer.FailedEntryCount).toBe(0);
      expect(emulator.events().at(-1)).toMatchObject({ source: 'env', detailType: 'found' });
    } finally {
      fromEnv.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
      else process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = saved;
    }
  });
});

describe('the decision publisher against it', () => {
  const publisher = () => new DecisionPublisher({ client, busName: 'default', stage: 'local' });

  it('publishes one kycert run decided event, with no document in it', async () => {
    await publisher().publish(BLOCKED, {
      idempotencyKey: 'order-1',
      externalId: 'order-1',
      decidedAtMs: Date.parse('2026-01-05T12:00:06.000Z'),
    });

    expect(emulator.events().at(-1)).toEqual({
      eventId: expect.any(String),
      busName: 'default',
      source: 'kycert-queue',
      detailType: 'kycert run decided',
      time: '2026-01-05T12:00:06.000Z',
      resources: [],
      detail: {
        idempotency_key: 'order-1',
        external_id: 'order-1',
        run_id: BLOCKED.runId,
        run_status: 'blocked',
        decision: 'BLOCKED',
        risk_band: 'CRITICAL',
        decided_at: '2026-01-05T12:00:06.000Z',
        stage: 'local',
      },
    });
  });

  it('throws DecisionPublishError when the entry is refused, with the code EventBridge gave', async () => {
    emulator.setEntryFailure(() => ({ errorCode: 'ThrottlingException', errorMessage: 'slow down' }));

    await expect(
      publisher().publish(BLOCKED, { idempotencyKey: 'k', externalId: null, decidedAtMs: 0 }),
    ).rejects.toThrow(
      new DecisionPublishError(
        `EventBridge refused the decision event for run ${BLOCKED.runId}: ThrottlingException slow down`,
      ),
    );
  });
});
