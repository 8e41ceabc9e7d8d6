import { createHash } from 'node:crypto';
import {
  InvalidMessageContents,
  SendMessageCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type DeadLetterEntry,
  DeadLetterQueue,
  MAX_DEAD_LETTER_BODY_BYTES,
} from '../functions/kycert-worker/deadLetterQueue.js';

const DLQ_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests-dlq';
const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
/** What SQS accepts in a body and in a String attribute value (its API reference). */
const SQS_CHARACTERS = /^[\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

const sqs = mockClient(SQSClient);
const dlq = () => new DeadLetterQueue({ client: new SQSClient({ region: 'sa-east-1' }), queueUrl: DLQ_URL });
const entry = (overrides: Partial<DeadLetterEntry> = {}): DeadLetterEntry => ({
  body: '{"template_id":"tpl_a"}',
  reason: 'kycert_rejected:template_not_found',
  detail: 'HTTP 404 template_not_found: No such template',
  idempotencyKey: 'idem-0001-aaaaaaaa',
  sourceMessageId: 'c0ffee00-0000-4000-8000-000000000001',
  receiveCount: 2,
  nowMs: NOW_MS,
  ...overrides,
});
const sentAttributes = (n = 0) =>
  sqs.commandCalls(SendMessageCommand)[n]?.args[0].input.MessageAttributes ?? {};
const text = (value: string) => ({ DataType: 'String', StringValue: value });

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
});

describe('DeadLetterQueue.send', () => {
  it('sends the body verbatim with the reason, detail, key, source message, receive count and time', async () => {
    // Act
    const messageId = await dlq().send(entry());

    // Assess
    expect(messageId).toBe('dlq-1');
    expect(sqs).toReceiveCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: DLQ_URL,
      MessageBody: '{"template_id":"tpl_a"}',
      MessageAttributes: {
        reason: text('kycert_rejected:template_not_found'),
        detail: text('HTTP 404 template_not_found: No such template'),
        idempotency_key: text('idem-0001-aaaaaaaa'),
        source_message_id: text('c0ffee00-0000-4000-8000-000000000001'),
        receive_count: { DataType: 'Number', StringValue: '2' },
        dead_lettered_at: text('2026-11-23T12:00:00.000Z'),
      },
    });
  });

  it.each([
    ['a control character', 'unknown field "note\u0001"', 'unknown field "note\uFFFD"'],
    ['a lone surrogate', 'key "\ud800" refused', 'key "\uFFFD" refused'],
    ['a NUL', 'a\u0000b', 'a\uFFFDb'],
  ])('replaces %s, which SQS refuses in an attribute, by U+FFFD', async (_, detail, expected) => {
    // Act
    await dlq().send(entry({ detail }));

    // Assess
    expect(sentAttributes().detail).toEqual(text(expected));
    for (const value of Object.values(sentAttributes())) expect(value.StringValue).toMatch(SQS_CHARACTERS);
  });

  it('cuts a long detail at 1 000 characters by code point, never inside a surrogate pair', async () => {
    // Prepare: 999 letters then emoji, each two UTF-16 code units
    const detail = `${'a'.repeat(999)}${'\u{1F600}'.repeat(5)}`;

    // Act
    await dlq().send(entry({ detail }));

    // Assess
    const sent = sentAttributes().detail?.StringValue ?? '';
    expect(Array.from(sent)).toHaveLength(1000);
    expect(sent.isWellFormed()).toBe(true);
    expect(sent.endsWith('\u{1F600}')).toBe(true);
  });

  it('masks documents in the reason, the detail and the key', async () => {
    // Act
    await dlq().send(
      entry({
        reason: 'kycert_rejected:529.982.247-25',
        detail: 'Subject 529.982.247-25 is blocked',
        idempotencyKey: 'cpf-52998224725',
      }),
    );

    // Assess
    expect(sentAttributes()).toMatchObject({
      reason: text('kycert_rejected:[document]'),
      detail: text('Subject [document] is blocked'),
      idempotency_key: text('cpf-[document]'),
    });
  });

  it.each([
    [
      'InvalidMessageContents',
      new InvalidMessageContents({ message: 'Invalid characters found.', $metadata: {} }),
    ],
    [
      'InvalidParameterValue (not a modelled class)',
      new SQSServiceException({
        name: 'InvalidParameterValue',
        $fault: 'client',
        message: 'invalid',
        $metadata: {},
      }),
    ],
  ])(
    'when SQS still refuses the attributes (%s), sends once more with a minimal fixed set',
    async (_, refusal) => {
      // Prepare
      sqs.on(SendMessageCommand).rejectsOnce(refusal).resolves({ MessageId: 'dlq-2' });

      // Act
      const messageId = await dlq().send(entry({ reason: 'invalid_message:body:unknown_field' }));

      // Assess
      expect(messageId).toBe('dlq-2');
      expect(sqs).toReceiveCommandTimes(SendMessageCommand, 2);
      expect(sentAttributes(1)).toEqual({
        reason: text('invalid_message'),
        detail: text('the full reason could not be attached; see the worker log for this message id'),
        receive_count: { DataType: 'Number', StringValue: '2' },
        dead_lettered_at: text('2026-11-23T12:00:00.000Z'),
        source_message_id: text('c0ffee00-0000-4000-8000-000000000001'),
      });
    },
  );

  it('lets any other SQS error through: the record comes back and tries again', async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(new Error('Access to the resource is denied'));

    // Act
    const sent = dlq().send(entry());

    // Assess
    await expect(sent).rejects.toThrow('Access to the resource is denied');
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 1);
  });

  it('cuts a body larger than the DLQ can hold with its attributes, and says how large it was and its hash', async () => {
    // Prepare
    const body = `${'é'.repeat(MAX_DEAD_LETTER_BODY_BYTES)}`; // two bytes each: twice the bound

    // Act
    await dlq().send(entry({ body }));

    // Assess
    const input = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(Buffer.byteLength(input?.MessageBody ?? '')).toBe(MAX_DEAD_LETTER_BODY_BYTES);
    expect(input?.MessageBody).toMatch(SQS_CHARACTERS);
    expect(sentAttributes()).toMatchObject({
      original_body_bytes: { DataType: 'Number', StringValue: String(2 * MAX_DEAD_LETTER_BODY_BYTES) },
      original_body_sha256: text(createHash('sha256').update(body).digest('hex')),
    });
  });
});
