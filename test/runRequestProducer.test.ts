import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deriveIdempotencyKey } from '../functions/kycert-worker/runRequestMessage.js';
import { buildRunRequestMessage, InvalidRunRequestError, RunRequestProducer } from '../producer/index.js';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/kycert-requests';
const sqsMock = mockClient(SQSClient);
const message = {
  template_id: 'tpl_a',
  subject: { type: 'pf' as const, doc: '123.456.789-09' },
  external_id: 'order-1',
};

describe('RunRequestProducer', () => {
  beforeEach(() => sqsMock.reset());

  it('sends a valid message with schema_version 1 and returns the key kycert will see', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const producer = new RunRequestProducer({
      sqs: new SQSClient({ region: 'us-east-1' }),
      queueUrl: QUEUE_URL,
    });
    // Act
    const sent = await producer.send(message);
    // Assess
    expect(sent).toEqual({ messageId: 'm-1', idempotencyKey: deriveIdempotencyKey('tpl_a', 'order-1') });
    expect(sqsMock).toReceiveCommandWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageBody: JSON.stringify({ schema_version: 1, ...message }),
    });
  });

  it('refuses an invalid message with the worker’s reason and sends nothing', async () => {
    const producer = new RunRequestProducer({
      sqs: new SQSClient({ region: 'us-east-1' }),
      queueUrl: QUEUE_URL,
    });
    const bad = { ...message, subject: { type: 'pf' as const, doc: '123.456.789-00' } };
    await expect(producer.send(bad)).rejects.toThrow(
      'invalid run request (invalid_message:subject.doc:invalid_check_digits)',
    );
    await expect(producer.send(bad)).rejects.toBeInstanceOf(InvalidRunRequestError);
    expect(sqsMock).not.toReceiveCommand(SendMessageCommand);
  });

  it('sends many in batches of ten and reports invalid and refused entries by index', async () => {
    // Prepare
    sqsMock.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({
      Successful: input.Entries.filter((e) => e.Id !== '3').map((e) => ({
        Id: e.Id,
        MessageId: `m-${e.Id}`,
      })),
      Failed: input.Entries.filter((e) => e.Id === '3').map((e) => ({
        Id: e.Id,
        Code: 'InternalError',
        SenderFault: false,
        Message: 'try again',
      })),
    }));
    const messages = Array.from({ length: 12 }, (_, i) => ({ ...message, external_id: `order-${i}` }));
    messages[5] = { ...message, template_id: '' };
    const producer = new RunRequestProducer({
      sqs: new SQSClient({ region: 'us-east-1' }),
      queueUrl: QUEUE_URL,
    });
    // Act
    const results = await producer.sendMany(messages);
    // Assess
    expect(sqsMock).toReceiveCommandTimes(SendMessageBatchCommand, 2);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(results[5]).toMatchObject({ ok: false, reason: 'invalid_message:template_id:empty' });
    expect(results[3]).toMatchObject({ ok: false, reason: 'sqs:InternalError' });
    expect(results.filter((r) => r.ok)).toHaveLength(10);
  });

  it('buildRunRequestMessage keeps the caller’s own idempotency key', () => {
    expect(buildRunRequestMessage({ ...message, idempotency_key: 'req-000001' }).idempotencyKey).toBe(
      'req-000001',
    );
  });

  it.each([
    ['idempotency_key', { idempotency_key: 'cpf-529.982.247-25' }],
    ['external_id', { external_id: 'cliente 52998224725' }],
  ])('warns when %s looks like a document, and sends all the same', async (field, overrides) => {
    // Prepare
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const warnings: string[] = [];
    const producer = new RunRequestProducer({
      sqs: new SQSClient({ region: 'us-east-1' }),
      queueUrl: QUEUE_URL,
      onWarning: (warning) => warnings.push(warning),
    });
    // Act
    await producer.send({ ...message, ...overrides });
    // Assess
    expect(warnings).toEqual([
      `kycert-queue: ${field} looks like it holds a CPF/CNPJ; use an id of your own (a UUID, an order number) instead`,
    ]);
    expect(sqsMock).toReceiveCommandTimes(SendMessageCommand, 1);
  });

  it('says nothing of an ordinary key', () => {
    const warnings: string[] = [];
    buildRunRequestMessage({ ...message, idempotency_key: '5b0e5a9e-1f0c-4c8e-9d51-0c6f1c7d2a11' }, (w) =>
      warnings.push(w),
    );
    expect(warnings).toEqual([]);
  });
});
