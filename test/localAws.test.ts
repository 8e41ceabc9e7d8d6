import { createServer, type Server } from 'node:net';
import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OutcomeTable } from '../functions/kycert-worker/constants.js';
import { PortUnavailableError } from '../local/aws/errors.js';
import { peekQueue } from '../local/aws/peekQueue.js';
import { type LocalAws, startLocalAws } from '../local/aws/startLocalAws.js';

describe('startLocalAws', () => {
  let aws: LocalAws;

  beforeAll(async () => {
    // A redrive after 4 receives, so that the test of SQS's own redrive is short (500 as deployed).
    aws = await startLocalAws({
      maxAttempts: 1,
      maxReceiveCount: 4,
      visibilityTimeoutSeconds: 1,
      tableName: 'outcomes-test',
    });
  });

  afterAll(async () => {
    await aws?.stop();
  });

  it('creates the queue pair with the redrive policy it is given', async () => {
    // Act
    const { Attributes } = await aws.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: aws.queueUrl, AttributeNames: ['All'] }),
    );

    // Assess
    expect(aws.queueArn).toBe('arn:aws:sqs:us-east-1:000000000000:kycert-requests');
    expect(aws.deadLetterQueueArn).toBe('arn:aws:sqs:us-east-1:000000000000:kycert-requests-dlq');
    expect(Attributes?.VisibilityTimeout).toBe('1');
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: aws.deadLetterQueueArn,
      maxReceiveCount: 4,
    });
    expect(aws.maxReceiveCount).toBe(4);
    expect(Attributes?.MaximumMessageSize).toBe('65536');
  });

  it('moves a message to the DLQ once it was received more than maxReceiveCount times', async () => {
    // Prepare
    const { sqs } = aws.clients;
    const { MessageId } = await sqs.send(
      new SendMessageCommand({
        QueueUrl: aws.queueUrl,
        MessageBody: '{"crash":true}',
        MessageAttributes: { tenant: { DataType: 'String', StringValue: 'acme' } },
      }),
    );

    // Act: fail it maxReceiveCount times, making it visible again at once instead of waiting each time out.
    for (let receive = 1; receive <= aws.maxReceiveCount; receive++) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: aws.queueUrl,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      expect(
        Messages.map((message) => [message.MessageId, message.Attributes?.ApproximateReceiveCount]),
      ).toEqual([[MessageId, String(receive)]]);
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: aws.queueUrl,
          ReceiptHandle: Messages[0]?.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
    const { Messages: afterLimit = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: aws.queueUrl, WaitTimeSeconds: 0 }),
    );

    // Assess
    expect(afterLimit).toEqual([]);
    const deadLetters = await peekQueue(sqs, aws.deadLetterQueueUrl);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({
      messageId: MessageId,
      body: '{"crash":true}',
      messageAttributes: { tenant: { DataType: 'String', StringValue: 'acme' } },
    });
  });

  it('creates the outcome table with the deployed key schema and its two sparse indexes', async () => {
    // Act
    const { Table } = await aws.clients.dynamodb.send(new DescribeTableCommand({ TableName: aws.tableName }));

    // Assess
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: OutcomeTable.partitionKey, KeyType: 'HASH' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    // Literal values: the deployed table (test/stack.test.ts) pins the same ones.
    expect(Table?.GlobalSecondaryIndexes).toEqual([
      expect.objectContaining({
        IndexName: 'by-run-id',
        KeySchema: [{ AttributeName: 'run_id', KeyType: 'HASH' }],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      }),
      expect.objectContaining({
        IndexName: 'by-list-status',
        KeySchema: [
          { AttributeName: 'list_status', KeyType: 'HASH' },
          { AttributeName: 'updated_at', KeyType: 'RANGE' },
        ],
        Projection: {
          ProjectionType: 'INCLUDE',
          NonKeyAttributes: expect.arrayContaining([
            'status',
            'run_status',
            'decision',
            'risk_band',
            'dead_letter_reason',
          ]),
        },
      }),
    ]);
  });

  it('supports the conditional writes, ADD counters and index queries the outcome store relies on', async () => {
    // Prepare
    const { dynamodb } = aws.clients;
    const put = (key: string, listStatus: string, updatedAt: string) =>
      dynamodb.send(
        new PutItemCommand({
          TableName: aws.tableName,
          Item: {
            idempotency_key: { S: key },
            list_status: { S: listStatus },
            updated_at: { S: updatedAt },
            internal_note: { S: 'not projected' },
          },
          ConditionExpression: 'attribute_not_exists(idempotency_key)',
        }),
      );
    await put('key-b', 'decision:approved#0', '2026-01-02T00:00:00.000Z');
    await put('key-a', 'decision:approved#0', '2026-01-01T00:00:00.000Z');
    await put('key-c', 'delivery:failed#0', '2026-01-03T00:00:00.000Z');

    // Act
    const duplicate = put('key-a', 'failed', '2026-01-04T00:00:00.000Z').then(
      () => 'written',
      (error: unknown) => error,
    );
    const { Attributes } = await dynamodb.send(
      new UpdateItemCommand({
        TableName: aws.tableName,
        Key: { idempotency_key: { S: 'key-a' } },
        UpdateExpression: 'ADD attempts :one',
        ExpressionAttributeValues: { ':one': { N: '1' } },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const { Items = [] } = await dynamodb.send(
      new QueryCommand({
        TableName: aws.tableName,
        IndexName: OutcomeTable.listIndexName,
        KeyConditionExpression: '#list_status = :value',
        ExpressionAttributeNames: { '#list_status': 'list_status' },
        ExpressionAttributeValues: { ':value': { S: 'decision:approved#0' } },
      }),
    );

    // Assess
    expect(await duplicate).toBeInstanceOf(ConditionalCheckFailedException);
    expect(Attributes?.attempts).toEqual({ N: '1' });
    expect(Items.map((item) => item.idempotency_key?.S)).toEqual(['key-a', 'key-b']);
    // The index holds the projected attributes only: what is not listed stays in the table.
    expect(Items[0]).not.toHaveProperty('internal_note');
  });

  it('gives an environment with which default-configured SDK clients reach the emulators', async () => {
    // Prepare
    for (const [name, value] of Object.entries(aws.env)) {
      vi.stubEnv(name, value);
    }
    // As the worker builds it: queue URLs name a host of their own, which must not be used as the endpoint.
    const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
    const dynamodb = new DynamoDBClient({});
    try {
      // Act
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: process.env.QUEUE_URL, AttributeNames: ['QueueArn'] }),
      );
      const { Table } = await dynamodb.send(
        new DescribeTableCommand({ TableName: process.env.OUTCOME_TABLE_NAME }),
      );

      // Assess
      expect(Attributes?.QueueArn).toBe(aws.queueArn);
      expect(Table?.TableName).toBe(aws.tableName);
      expect(aws.env).toMatchObject({
        DEAD_LETTER_QUEUE_URL: aws.deadLetterQueueUrl,
        MAX_ATTEMPTS: '1',
        MAX_RECEIVE_COUNT: '4',
      });
    } finally {
      sqs.destroy();
      dynamodb.destroy();
      vi.unstubAllEnvs();
    }
  });
});

describe('startLocalAws on a port that is taken', () => {
  let blocker: Server;
  let takenPort: number;

  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    takenPort = typeof address === 'object' && address !== null ? address.port : Number.NaN;
  });

  afterAll(async () => {
    await new Promise((resolve) => blocker.close(resolve));
  });

  it.each([
    ['sqsPort', 'SQS'],
    ['dynamodbPort', 'DynamoDB'],
  ] as const)('fails with an error naming the port when %s is taken', async (option, service) => {
    // Act
    const starting = startLocalAws({ [option]: takenPort });

    // Assess
    await expect(starting).rejects.toThrow(PortUnavailableError);
    await expect(starting).rejects.toThrow(`cannot start the ${service}`);
    await expect(starting).rejects.toThrow(`port ${takenPort} on 127.0.0.1 is already in use`);
  });
});

describe('peekQueue', () => {
  let aws: LocalAws;

  beforeAll(async () => {
    aws = await startLocalAws();
  });

  afterAll(async () => {
    await aws?.stop();
  });

  it('reads every message with its attributes and leaves them all in the queue', async () => {
    // Prepare
    const { sqs } = aws.clients;
    const bodies = Array.from({ length: 13 }, (_, index) => `dead letter ${index}`);
    for (const body of bodies) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: aws.deadLetterQueueUrl,
          MessageBody: body,
          MessageAttributes: { reason: { DataType: 'String', StringValue: `reason of ${body}` } },
        }),
      );
    }

    // Act
    const first = await peekQueue(sqs, aws.deadLetterQueueUrl);
    const second = await peekQueue(sqs, aws.deadLetterQueueUrl);

    // Assess
    expect(first.map((message) => message.body).sort()).toEqual([...bodies].sort());
    expect(first.every((message) => message.receiveCount === 0)).toBe(true);
    expect(first[0]?.messageAttributes.reason?.StringValue).toBe(`reason of ${first[0]?.body}`);
    expect(second.map((message) => message.messageId).sort()).toEqual(
      first.map((message) => message.messageId).sort(),
    );
    expect(second.every((message) => message.receiveCount === 1)).toBe(true);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: aws.deadLetterQueueUrl, MaxNumberOfMessages: 10 }),
    );
    expect(Messages).toHaveLength(10);
  });
});
