/**
 * The correctness review's defects, end to end through the emulators (fauxqs, dynalite) and the kycert
 * sandbox: each case is a way a message used to be lost, dead-lettered without a reason, or POSTed in a hot
 * loop. Every pipeline ends with the fault suite's invariants.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { queueDepth, startLocalPipeline } from '../local/pipeline/startLocalPipeline.js';
import { accepted, kycertError, startFakeKycert } from './support/fakeKycert.js';
import { cpfFromNumber, requestBody, UNKNOWN_TEMPLATE_ID } from './support/faultMessages.js';
import { type FaultPipeline, startFaultPipeline } from './support/faultPipeline.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function faultPipeline(options: Parameters<typeof startFaultPipeline>[0] = {}): Promise<FaultPipeline> {
  const pipeline = await startFaultPipeline({ maxAttempts: 4, concurrency: 1, batchSize: 1, ...options });
  stops.push(() => pipeline.stop());
  return pipeline;
}

/** What SQS's own DLQ redrive (the console's "Start DLQ redrive") does: body and attributes back, DLQ copy deleted. */
async function moveTaskRedrive(fault: FaultPipeline): Promise<number> {
  const { aws } = fault.pipeline;
  const { Messages = [] } = await aws.clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: aws.deadLetterQueueUrl,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 1,
    }),
  );
  for (const m of Messages) {
    await aws.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: aws.queueUrl,
        MessageBody: m.Body,
        MessageAttributes: m.MessageAttributes,
      }),
    );
    await aws.clients.sqs.send(
      new DeleteMessageCommand({ QueueUrl: aws.deadLetterQueueUrl, ReceiptHandle: m.ReceiptHandle }),
    );
  }
  return Messages.length;
}

describe('nothing acknowledged that exists nowhere else', () => {
  it('a DLQ message moved back by SQS’s own redrive comes back to the DLQ, naming the key’s reason', {
    timeout: 90_000,
  }, async () => {
    // Prepare: kycert answers 404 template_not_found, so the first pass dead-letters the message
    const fault = await faultPipeline();
    const body = requestBody(1, { prefix: 'move-task', templateId: UNKNOWN_TEMPLATE_ID, keyGiven: true });
    await fault.enqueue([body]);
    await fault.settle(30_000);

    // Act
    expect(await moveTaskRedrive(fault)).toBe(1);
    await fault.settle(30_000);

    // Assess
    const { dlq, outcomes } = await fault.pipeline.report();
    expect(dlq.map((d) => [d.body, d.reason])).toEqual([
      [body, 'key_already_failed:kycert_rejected:template_not_found'],
    ]);
    expect(outcomes.map((o) => o.dead_letter_reason)).toEqual(['kycert_rejected:template_not_found']);
    expect(fault.sandbox.stats().postRuns).toBe(1);
    expect(await queueDepth(fault.pipeline.aws.clients.sqs, fault.pipeline.aws.queueUrl)).toBe(0);
  });

  it('a corrected re-send under the same derived key is refused to the DLQ, not dropped unseen', {
    timeout: 90_000,
  }, async () => {
    // Prepare: the first message succeeds; the "corrected" one changes the CPF but keeps the order id
    const fault = await faultPipeline();
    const first = JSON.stringify({
      template_id: 'tpl_onboarding_pf',
      subject: { type: 'pf', doc: cpfFromNumber(7) },
      external_id: 'order-77',
    });
    const corrected = JSON.stringify({
      template_id: 'tpl_onboarding_pf',
      subject: { type: 'pf', doc: cpfFromNumber(8) },
      external_id: 'order-77',
    });
    await fault.enqueue([first]);
    await fault.settle(30_000);

    // Act
    await fault.enqueue([corrected]);
    await fault.settle(30_000);

    // Assess
    const { dlq, outcomes } = await fault.pipeline.report();
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded']);
    expect(dlq.map((d) => [d.body, d.reason])).toEqual([
      [corrected, 'invalid_message:idempotency_key:reused_with_different_body'],
    ]);
    expect(fault.sandbox.stats().postRuns).toBe(1);
    expect(await fault.violations()).toEqual([]);
  });
});

describe('nothing reaches the DLQ without a reason', () => {
  it('a body as large as the main queue takes is dead-lettered with its reason', {
    timeout: 90_000,
  }, async () => {
    // Prepare
    const fault = await faultPipeline();
    const prefix = '{"template_id":"tpl_onboarding_pf","note":"';
    const body = `${prefix}${'x'.repeat(64 * 1024 - prefix.length - 2)}"}`;

    // Act
    await fault.enqueue([body]);
    await fault.settle(30_000);

    // Assess
    const { dlq } = await fault.pipeline.report();
    expect(dlq.map((d) => d.reason)).toEqual(['invalid_message:body:too_large']);
    expect(dlq[0]?.body).toBe(body);
    expect(await fault.violations()).toEqual([]);
  });

  it('an unknown field with a control character in its name gets a reason SQS accepts', {
    timeout: 90_000,
  }, async () => {
    // Prepare
    const fault = await faultPipeline();
    const body = JSON.stringify({
      template_id: 'tpl_onboarding_pf',
      subject: { type: 'pf', doc: cpfFromNumber(3) },
      external_id: 'o-3',
      'note\u0001': 1,
    });

    // Act
    await fault.enqueue([body]);
    await fault.settle(30_000);

    // Assess
    const { dlq } = await fault.pipeline.report();
    expect(dlq.map((d) => [d.reason, d.detail])).toEqual([
      ['invalid_message:body:unknown_field', expect.stringContaining('unknown field "note\\u0001"')],
    ]);
  });

  it('a copy that keeps meeting another delivery’s lease waits it out, and is acknowledged once the key succeeds', {
    timeout: 120_000,
  }, async () => {
    // Prepare: kycert takes 6 s to answer; the same message sent twice
    const fault = await faultPipeline({
      maxAttempts: 1,
      concurrency: 2,
      functionTimeoutSeconds: 20,
      visibilityTimeoutSeconds: 20,
      httpTimeoutMs: 15_000,
      sandbox: { faults: { latencyMs: 6_000 } },
    });
    const body = requestBody(8, { prefix: 'slow', keyGiven: true });

    // Act
    await fault.enqueue([body, body]);
    await fault.settle(90_000);

    // Assess
    const { dlq, outcomes } = await fault.pipeline.report();
    expect(dlq).toEqual([]);
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded']);
    expect(await fault.violations()).toEqual([]);
  });
});

describe('no hot loop after a 429', () => {
  it.each(['seconds', 'http-date'] as const)(
    'Retry-After resolving to 0 (kycert’s clock 2 s behind, as %s): the retry waits at least 1 s and the key succeeds',
    { timeout: 90_000 },
    async (format) => {
      // Prepare: kycert limits every POST for 3 s
      const kycert = await startFakeKycert();
      stops.push(() => kycert.close());
      const startedAtMs = Date.now();
      kycert.script(() => {
        const nowMs = Date.now();
        if (nowMs - startedAtMs > 3_000) return accepted('run_1');
        const kycertNowMs = nowMs - 2_000;
        const resetSeconds = Math.ceil((kycertNowMs + 1_000) / 1000);
        return kycertError(429, 'rate_limited', 'Too many requests', {
          'retry-after': format === 'seconds' ? '0' : new Date(resetSeconds * 1000).toUTCString(),
          'x-ratelimit-limit': '60',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(resetSeconds),
        });
      });
      const pipeline = await startLocalPipeline({
        kycert: { baseUrl: kycert.baseUrl, apiKey: 'sk_test_x' },
        sqsPort: 0,
        dynamodbPort: 0,
        maxAttempts: 12,
        concurrency: 1,
        batchSize: 1,
        logLevel: 'SILENT',
      });
      stops.push(() => pipeline.stop());

      // Act
      await pipeline.enqueue([requestBody(1, { prefix: `ra0-${format}`, keyGiven: true })]);
      const settled = await pipeline.waitUntilSettled({ timeoutMs: 60_000 });

      // Assess
      const { outcomes } = await pipeline.report();
      expect(settled).toBe(true);
      expect(outcomes.map((o) => o.status)).toEqual(['succeeded']);
      // At ≥ 1 s apart, 3 s of 429s take at most 4 POSTs before the accepted one.
      expect(kycert.requests.length).toBeLessThanOrEqual(5);
    },
  );
});
