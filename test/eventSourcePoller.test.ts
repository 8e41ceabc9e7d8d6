import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, it, type TestContext, vi } from 'vitest';
import type { EventSourcePollerEvent } from '../local/aws/EventSourcePollerEvent.js';
import { EventSourceMappingError } from '../local/aws/errors.js';
import { inProcessInvoker } from '../local/aws/FunctionInvoker.js';
import {
  type EventSourcePoller,
  type EventSourcePollerOptions,
  type SqsLambdaHandler,
  startEventSourcePoller,
} from '../local/aws/startEventSourcePoller.js';
import { type LocalAws, startLocalAws } from '../local/aws/startLocalAws.js';

/** Waits for a condition the poller brings about; generous, since visibility timeouts are whole seconds. */
const until = (assertion: () => void | Promise<void>) =>
  vi.waitFor(assertion, { timeout: 10_000, interval: 20 });

interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}
function createGate(): Gate {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

interface Invocation {
  readonly messageIds: string[];
  readonly receiveCounts: string[];
}

let aws: LocalAws;
let sqs: SQSClient;
let queueNumber = 0;

beforeAll(async () => {
  aws = await startLocalAws();
  sqs = aws.clients.sqs;
});

afterAll(async () => {
  await aws?.stop();
});

/** A fresh queue per test, with a 1 s visibility timeout so failed records come back quickly. */
async function createTestQueue(visibilityTimeoutSeconds = 1): Promise<string> {
  queueNumber++;
  const queueName = `poller-test-${queueNumber}`;
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: queueName,
      Attributes: { VisibilityTimeout: String(visibilityTimeoutSeconds) },
    }),
  );
  if (QueueUrl === undefined) {
    throw new Error(`CreateQueue ${queueName} returned no QueueUrl`);
  }
  return QueueUrl;
}

async function send(queueUrl: string, body: string): Promise<string> {
  const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  if (MessageId === undefined) {
    throw new Error(`SendMessage to ${queueUrl} returned no MessageId`);
  }
  return MessageId;
}

/** Messages still in the queue, visible or not. */
async function messagesLeft(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}

/** Starts a poller that the test stops when it ends, pass or fail. */
async function startPoller(
  test: TestContext,
  options: Omit<EventSourcePollerOptions, 'sqs' | 'functionTimeoutSeconds'> & {
    functionTimeoutSeconds?: number;
  },
): Promise<{ poller: EventSourcePoller; events: EventSourcePollerEvent[] }> {
  const events: EventSourcePollerEvent[] = [];
  const poller = await startEventSourcePoller({
    sqs,
    functionTimeoutSeconds: 1,
    waitTimeSeconds: 1,
    onEvent: (event) => events.push(event),
    ...options,
  });
  test.onTestFinished(() => poller.stop());
  return { poller, events };
}

/** A handler that logs each invocation, then answers with `respond`. */
function recordingHandler(respond: (event: SQSEvent, invocationNumber: number) => unknown = () => undefined) {
  const invocations: Invocation[] = [];
  const handler: SqsLambdaHandler = async (event) => {
    invocations.push({
      messageIds: event.Records.map((record) => record.messageId),
      receiveCounts: event.Records.map((record) => record.attributes.ApproximateReceiveCount),
    });
    return respond(event, invocations.length);
  };
  return { handler, invocations };
}

// Each test has its own queue and poller, and mostly waits on visibility timeouts and long polls: run them together.
describe.concurrent('startEventSourcePoller', () => {
  it("invokes the handler with Lambda's SQS records and context, then deletes the batch", async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const body = '{"request":"one"}';
    const { MessageId } = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: {
          tenant: { DataType: 'String', StringValue: 'acme' },
          priority: { DataType: 'Number', StringValue: '5' },
          signature: { DataType: 'Binary', BinaryValue: Buffer.from('sig') },
        },
      }),
    );
    let seen: { event: SQSEvent; context: Context; remainingMs: number } | undefined;
    const handler: SqsLambdaHandler = async (event, context) => {
      seen = { event, context, remainingMs: context.getRemainingTimeInMillis() };
      return { batchItemFailures: [] };
    };

    // Act
    const { poller } = await startPoller(test, { queueUrl, handler, functionName: 'worker-under-test' });
    await until(async () => expect(await messagesLeft(queueUrl)).toBe(0));

    // Assess
    const record = seen?.event.Records[0];
    expect(seen?.event.Records).toHaveLength(1);
    expect(record).toEqual({
      messageId: MessageId,
      receiptHandle: expect.any(String),
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {
        tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
        priority: { stringValue: '5', stringListValues: [], binaryListValues: [], dataType: 'Number' },
        signature: {
          binaryValue: Buffer.from('sig').toString('base64'),
          stringListValues: [],
          binaryListValues: [],
          dataType: 'Binary',
        },
      },
      md5OfBody: createHash('md5').update(body).digest('hex'),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queueUrl.split('/').at(-1)}`,
      awsRegion: 'us-east-1',
    });
    expect(poller.eventSourceArn).toBe(record?.eventSourceARN);
    expect(seen?.context).toMatchObject({
      functionName: 'worker-under-test',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:worker-under-test',
      awsRequestId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      logGroupName: '/aws/lambda/worker-under-test',
    });
    expect(seen?.remainingMs).toBeGreaterThan(0);
    expect(seen?.remainingMs).toBeLessThanOrEqual(1_000);
    expect(poller.stats()).toMatchObject({ invocations: 1, recordsReceived: 1, recordsDeleted: 1 });
  });

  it('deletes the records that succeeded and leaves reported failures to come back after their visibility timeout', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const [a, b, c] = [await send(queueUrl, 'a'), await send(queueUrl, 'b'), await send(queueUrl, 'c')];
    const { handler, invocations } = recordingHandler((_event, invocationNumber) =>
      invocationNumber === 1 ? { batchItemFailures: [{ itemIdentifier: b }] } : { batchItemFailures: [] },
    );

    // Act
    const { poller, events } = await startPoller(test, { queueUrl, handler, concurrency: 1 });
    await until(async () => {
      expect(invocations).toHaveLength(2);
      expect(await messagesLeft(queueUrl)).toBe(0);
    });

    // Assess
    expect(invocations).toEqual([
      { messageIds: [a, b, c], receiveCounts: ['1', '1', '1'] },
      { messageIds: [b], receiveCounts: ['2'] },
    ]);
    expect(events.filter((event) => event.type === 'invocationFinished')).toMatchObject([
      { outcome: 'partiallyFailed', failedMessageIds: [b] },
      { outcome: 'succeeded', failedMessageIds: [] },
    ]);
    expect(
      events.filter((event) => event.type === 'recordsDeleted').map((event) => event.messageIds),
    ).toEqual([[a, c], [b]]);
    expect(poller.stats()).toMatchObject({ recordsDeleted: 3, recordsReturned: 1 });
  });

  it('deletes nothing when the handler throws: the whole batch comes back', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const [a, b] = [await send(queueUrl, 'a'), await send(queueUrl, 'b')];
    const { handler, invocations } = recordingHandler((_event, invocationNumber) => {
      if (invocationNumber === 1) {
        throw new Error('kycert client crashed');
      }
      return undefined;
    });

    // Act
    const { poller, events } = await startPoller(test, { queueUrl, handler, concurrency: 1 });
    await until(async () => {
      expect(invocations).toHaveLength(2);
      expect(await messagesLeft(queueUrl)).toBe(0);
    });

    // Assess
    expect(invocations).toEqual([
      { messageIds: [a, b], receiveCounts: ['1', '1'] },
      { messageIds: [a, b], receiveCounts: ['2', '2'] },
    ]);
    expect(events.find((event) => event.type === 'invocationFinished')).toMatchObject({
      outcome: 'failed',
      failureReason: 'handlerError',
      failedMessageIds: [a, b],
      error: new Error('kycert client crashed'),
    });
    expect(poller.stats()).toMatchObject({ handlerErrors: 1, recordsDeleted: 2, recordsReturned: 2 });
  });

  it('fails the whole batch when the response names a message that is not in it, as Lambda does', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const [a, b] = [await send(queueUrl, 'a'), await send(queueUrl, 'b')];
    const { handler, invocations } = recordingHandler((_event, invocationNumber) =>
      invocationNumber === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] } : undefined,
    );

    // Act
    const { poller, events } = await startPoller(test, { queueUrl, handler, concurrency: 1 });
    await until(async () => {
      expect(invocations).toHaveLength(2);
      expect(await messagesLeft(queueUrl)).toBe(0);
    });

    // Assess
    expect(invocations[1]).toEqual({ messageIds: [a, b], receiveCounts: ['2', '2'] });
    const finished = events.find((event) => event.type === 'invocationFinished');
    expect(finished).toMatchObject({ outcome: 'failed', failureReason: 'invalidResponse' });
    expect(finished?.type === 'invocationFinished' && String(finished.error)).toContain('not-in-this-batch');
    expect(poller.stats()).toMatchObject({ invalidResponses: 1 });
  });

  it('ignores the response and deletes the whole batch when reportBatchItemFailures is off', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const a = await send(queueUrl, 'a');
    const { handler, invocations } = recordingHandler(() => ({ batchItemFailures: [{ itemIdentifier: a }] }));

    // Act
    const { poller } = await startPoller(test, { queueUrl, handler, reportBatchItemFailures: false });
    await until(async () => expect(await messagesLeft(queueUrl)).toBe(0));

    // Assess
    expect(invocations).toEqual([{ messageIds: [a], receiveCounts: ['1'] }]);
    expect(poller.stats()).toMatchObject({ recordsDeleted: 1, recordsReturned: 0 });
  });

  it('fails the whole batch when the handler outlives the function timeout', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const a = await send(queueUrl, 'a');
    const neverInTime = createGate();
    const { handler, invocations } = recordingHandler(async (_event, invocationNumber) => {
      if (invocationNumber === 1) {
        await neverInTime.opened;
      }
      return undefined;
    });

    try {
      // Act
      // One slot: otherwise a second slot could receive the record again before the first one's timeout fires.
      const { poller, events } = await startPoller(test, {
        queueUrl,
        handler,
        functionTimeoutSeconds: 1,
        concurrency: 1,
      });
      await until(async () => {
        expect(invocations).toHaveLength(2);
        expect(await messagesLeft(queueUrl)).toBe(0);
      });

      // Assess
      expect(invocations).toEqual([
        { messageIds: [a], receiveCounts: ['1'] },
        { messageIds: [a], receiveCounts: ['2'] },
      ]);
      expect(events.find((event) => event.type === 'invocationFinished')).toMatchObject({
        outcome: 'failed',
        failureReason: 'timeout',
        failedMessageIds: [a],
      });
      expect(poller.stats()).toMatchObject({ handlerTimeouts: 1, recordsDeleted: 1 });
    } finally {
      neverInTime.open();
    }
  });

  it('passes at most batchSize records per invocation', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const sent = [];
    for (let index = 0; index < 5; index++) {
      sent.push(await send(queueUrl, `message ${index}`));
    }
    const { handler, invocations } = recordingHandler();

    // Act
    await startPoller(test, { queueUrl, handler, batchSize: 3, concurrency: 1 });
    await until(async () => expect(await messagesLeft(queueUrl)).toBe(0));

    // Assess
    expect(invocations.map((invocation) => invocation.messageIds)).toEqual([sent.slice(0, 3), sent.slice(3)]);
  });

  it('runs at most `concurrency` invocations at once', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue(30);
    for (let index = 0; index < 4; index++) {
      await send(queueUrl, `message ${index}`);
    }
    const gate = createGate();
    let running = 0;
    let maxRunning = 0;
    let started = 0;
    const handler: SqsLambdaHandler = async () => {
      started++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.opened;
      running--;
    };

    // Act
    const { poller } = await startPoller(test, { queueUrl, handler, batchSize: 1, concurrency: 2 });
    await until(() => expect(started).toBe(2));
    // Both slots are busy, so nothing else may have been received: the other two messages are still visible.
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    gate.open();
    await until(async () => expect(await messagesLeft(queueUrl)).toBe(0));

    // Assess
    expect(Attributes.ApproximateNumberOfMessages).toBe('2');
    expect(started).toBe(4);
    expect(maxRunning).toBe(2);
    expect(poller.stats()).toMatchObject({
      invocations: 4,
      maxInvocationsInFlight: 2,
      invocationsInFlight: 0,
    });
  });

  it('keeps gathering records for a batch during the batching window', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue(30);
    const a = await send(queueUrl, 'a');
    const { handler, invocations } = recordingHandler();

    // Act: send the second message only once the poller holds the first.
    // One slot, so the second message cannot go to another slot's poll.
    await startPoller(test, {
      queueUrl,
      handler,
      batchSize: 2,
      maximumBatchingWindowSeconds: 5,
      concurrency: 1,
    });
    await until(async () => {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      expect(Attributes.ApproximateNumberOfMessagesNotVisible).toBe('1');
    });
    const b = await send(queueUrl, 'b');
    await until(async () => expect(await messagesLeft(queueUrl)).toBe(0));

    // Assess
    expect(invocations.map((invocation) => invocation.messageIds)).toEqual([[a, b]]);
  });

  it('stop() lets the invocation in flight finish and delete its records', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue(30);
    const a = await send(queueUrl, 'a');
    const gate = createGate();
    let started = 0;
    const handler: SqsLambdaHandler = async () => {
      started++;
      await gate.opened;
    };
    const { poller, events } = await startPoller(test, { queueUrl, handler, concurrency: 1 });
    await until(() => expect(started).toBe(1));

    // Act
    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await sleep(200);
    const stoppedBeforeTheHandlerReturned = stopped;
    gate.open();
    await stopping;

    // Assess
    expect(stoppedBeforeTheHandlerReturned).toBe(false);
    expect(events.filter((event) => event.type === 'recordsDeleted')).toMatchObject([{ messageIds: [a] }]);
    expect(await messagesLeft(queueUrl)).toBe(0);
  });

  it('stop() invokes nothing more and leaves what a last poll brought visible at once', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue(30);
    const { handler, invocations } = recordingHandler();
    const { poller } = await startPoller(test, { queueUrl, handler });

    // Act: the polls are waiting on an empty queue; a message sent now may reach one of them.
    const stopping = poller.stop();
    const a = await send(queueUrl, 'a');
    await stopping;

    // Assess
    expect(invocations).toEqual([]);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }),
    );
    expect(Messages.map((message) => message.MessageId)).toEqual([a]);
  });

  it.for<[Partial<EventSourcePollerOptions>, string]>([
    [{ batchSize: 11 }, 'batchSize must be an integer from 1 to 10 records, got 11'],
    [{ concurrency: 0 }, 'concurrency must be an integer from 1 to 1000 invocations, got 0'],
    [{ waitTimeSeconds: 0 }, 'waitTimeSeconds must be an integer from 1 to 20 s, got 0'],
    [{ functionTimeoutSeconds: 1.5 }, 'functionTimeoutSeconds must be an integer from 1 to 900 s, got 1.5'],
    [
      { maximumBatchingWindowSeconds: 301 },
      'maximumBatchingWindowSeconds must be an integer from 0 to 300 s',
    ],
  ])('refuses the mapping for %o', async ([options, message], test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();

    // Act
    const starting = startPoller(test, { queueUrl, handler: async () => undefined, ...options });

    // Assess
    await expect(starting).rejects.toThrow(EventSourceMappingError);
    await expect(starting).rejects.toThrow(message);
  });

  it('refuses a mapping with both an in-process handler and an invoker, or with neither', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue();
    const handler: SqsLambdaHandler = async () => undefined;
    const invoker = inProcessInvoker(handler);

    // Act
    const both = startPoller(test, { queueUrl, handler, invoker });
    const neither = startPoller(test, { queueUrl });

    // Assess
    for (const starting of [both, neither]) {
      await expect(starting).rejects.toThrow(
        `event source mapping for ${queueUrl}: give exactly one of invoker and handler`,
      );
    }
  });

  it('refuses a function timeout longer than the queue visibility timeout', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = await createTestQueue(1);

    // Act
    const starting = startPoller(test, {
      queueUrl,
      handler: async () => undefined,
      functionTimeoutSeconds: 2,
    });

    // Assess
    await expect(starting).rejects.toThrow(
      `event source mapping for ${queueUrl}: queue visibility timeout 1 s is less than the function timeout 2 s`,
    );
  });

  it('refuses a queue that does not exist', async (test) => {
    const { expect } = test;

    // Prepare
    const queueUrl = aws.queueUrl.replace('kycert-requests', 'no-such-queue');

    // Act
    const starting = startPoller(test, { queueUrl, handler: async () => undefined });

    // Assess
    await expect(starting).rejects.toThrow(
      `event source mapping for ${queueUrl}: the queue does not exist or cannot be read`,
    );
  });
});
