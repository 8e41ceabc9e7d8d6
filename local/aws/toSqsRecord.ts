import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';

export interface EventSource {
  /** The queue's ARN, as the event source mapping holds it. */
  readonly eventSourceArn: string;
  readonly awsRegion: string;
}

/** System attributes Lambda always delivers; a receive without them was not made with `All`. */
const REQUIRED_ATTRIBUTES = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SenderId',
  'ApproximateFirstReceiveTimestamp',
] as const;

/**
 * One received SQS message as Lambda's event source mapping hands it to the function: camelCase keys, system
 * attributes as strings, message attributes with empty list values and binary values in base64.
 */
export function toSqsRecord(message: Message, source: EventSource): SQSRecord {
  const { MessageId, ReceiptHandle, Body, MD5OfBody } = message;
  if (
    MessageId === undefined ||
    ReceiptHandle === undefined ||
    Body === undefined ||
    MD5OfBody === undefined
  ) {
    throw new Error(
      `received message ${MessageId ?? '(no id)'} lacks MessageId, ReceiptHandle, Body or MD5OfBody`,
    );
  }
  const attributes = message.Attributes ?? {};
  const missing = REQUIRED_ATTRIBUTES.filter((name) => attributes[name] === undefined);
  if (missing.length > 0) {
    throw new Error(`received message ${MessageId} lacks system attributes ${missing.join(', ')}`);
  }
  const record: SQSRecord = {
    messageId: MessageId,
    receiptHandle: ReceiptHandle,
    body: Body,
    attributes: { ...attributes } as unknown as SQSRecordAttributes,
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        toLambdaAttribute(value),
      ]),
    ),
    md5OfBody: MD5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: source.eventSourceArn,
    awsRegion: source.awsRegion,
  };
  if (message.MD5OfMessageAttributes !== undefined) {
    record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  }
  return record;
}

function toLambdaAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const attribute: SQSMessageAttribute = {
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(toBase64),
    dataType: value.DataType ?? 'String',
  };
  if (value.StringValue !== undefined) {
    attribute.stringValue = value.StringValue;
  }
  if (value.BinaryValue !== undefined) {
    attribute.binaryValue = toBase64(value.BinaryValue);
  }
  return attribute;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
