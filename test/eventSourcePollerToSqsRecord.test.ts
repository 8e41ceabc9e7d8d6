import type { Message } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { toSqsRecord } from '../local/aws/toSqsRecord.js';

const source = {
  eventSourceArn: 'arn:aws:sqs:sa-east-1:000000000000:kycert-requests',
  awsRegion: 'sa-east-1',
};

function receivedMessage(overrides: Partial<Message> = {}): Message {
  return {
    MessageId: 'message-1',
    ReceiptHandle: 'receipt-1',
    Body: '{}',
    MD5OfBody: '99914b932bd37a50b983c5e7c90ae93b',
    Attributes: {
      ApproximateReceiveCount: '3',
      SentTimestamp: '1767225600000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1767225601000',
    },
    ...overrides,
  };
}

describe('toSqsRecord', () => {
  it("builds Lambda's record, FIFO attributes passed through and no message attributes as an empty map", () => {
    // Prepare
    const message = receivedMessage({
      Attributes: {
        ...receivedMessage().Attributes,
        MessageGroupId: 'tenant-1',
        SequenceNumber: '18849496460467696128',
      },
    });

    // Act
    const record = toSqsRecord(message, source);

    // Assess
    expect(record).toEqual({
      messageId: 'message-1',
      receiptHandle: 'receipt-1',
      body: '{}',
      attributes: {
        ApproximateReceiveCount: '3',
        SentTimestamp: '1767225600000',
        SenderId: 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: '1767225601000',
        MessageGroupId: 'tenant-1',
        SequenceNumber: '18849496460467696128',
      },
      messageAttributes: {},
      md5OfBody: '99914b932bd37a50b983c5e7c90ae93b',
      eventSource: 'aws:sqs',
      eventSourceARN: source.eventSourceArn,
      awsRegion: 'sa-east-1',
    });
  });

  it('writes message attributes in Lambda camelCase shape, binary values in base64', () => {
    // Prepare
    const message = receivedMessage({
      MessageAttributes: {
        trace: { DataType: 'String', StringValue: 'abc' },
        blob: { DataType: 'Binary.gzip', BinaryValue: new Uint8Array([1, 2, 255]) },
      },
      MD5OfMessageAttributes: 'f'.repeat(32),
    });

    // Act
    const record = toSqsRecord(message, source);

    // Assess
    expect(record.messageAttributes).toEqual({
      trace: { stringValue: 'abc', stringListValues: [], binaryListValues: [], dataType: 'String' },
      blob: { binaryValue: 'AQL/', stringListValues: [], binaryListValues: [], dataType: 'Binary.gzip' },
    });
    expect(record.md5OfMessageAttributes).toBe('f'.repeat(32));
  });

  it('names the message and the missing system attributes when the receive did not ask for All', () => {
    // Prepare
    const message = receivedMessage({ Attributes: { ApproximateReceiveCount: '1' } });

    // Act
    const convert = () => toSqsRecord(message, source);

    // Assess
    expect(convert).toThrow(
      'received message message-1 lacks system attributes SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp',
    );
  });
});
