import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';

/** An SQS record as the Lambda event source delivers it; only what the worker reads varies. */
export function sqsRecordFactory(options: {
  body: string;
  receiveCount?: number;
  messageId?: string;
}): SQSRecord {
  const messageId = options.messageId ?? 'msg-00000001';
  return {
    messageId,
    receiptHandle: `receipt-${messageId}-${options.receiveCount ?? 1}`,
    body: options.body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: '1795435200000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1795435200000',
    },
    messageAttributes: {},
    md5OfBody: 'd41d8cd98f00b204e9800998ecf8427e',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:sa-east-1:123456789012:kycert-requests',
    awsRegion: 'sa-east-1',
  };
}

export function sqsEventFactory(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A Lambda context whose remaining time is frozen: the lease the worker takes is `now + remainingTimeMs`. */
export function lambdaContextFactory(remainingTimeMs = 60_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'kycert-worker',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:sa-east-1:123456789012:function:kycert-worker',
    memoryLimitInMB: '256',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: '/aws/lambda/kycert-worker',
    logStreamName: '2026/11/23/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => remainingTimeMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
