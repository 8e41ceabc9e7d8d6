import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../functions/kycert-webhook/webhookSignature.js';
import {
  type KycertSandbox,
  type KycertSandboxOptions,
  type KycertWebhookEvent,
  startKycertSandbox,
} from '../local/sandbox/index.js';

// The sandbox's webhooks, received by a real HTTP server on loopback: envelope, signature, retries, faults.

const T0_MS = Date.UTC(2026, 0, 5, 12, 0, 0);
let nowMs = T0_MS;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  atMs: number;
}

let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];
/** What the receiver answers, one status per request in turn; 200 once the list is used up. */
let answers: number[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        atMs: performance.now(),
      });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

const sandboxes: KycertSandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((sandbox) => sandbox.close()));
  received.length = 0;
  answers = [];
  nowMs = T0_MS;
});

async function start(options: KycertSandboxOptions = {}): Promise<KycertSandbox> {
  const sandbox = await startKycertSandbox({
    clock: () => nowMs,
    webhooks: { url: `${receiverUrl}/hooks/kycert`, retryBaseMs: 20, ...options.webhooks },
    ...Object.fromEntries(Object.entries(options).filter(([name]) => name !== 'webhooks')),
  });
  sandboxes.push(sandbox);
  return sandbox;
}

async function createRun(
  sandbox: KycertSandbox,
  fields: Record<string, unknown> = {},
  apiKey = sandbox.apiKey,
) {
  const response = await fetch(`${sandbox.baseUrl}/bureau/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify({
      template_id: 'tpl_onboarding_pf',
      subject: { type: 'pf', doc: '000.000.002-81' },
      ...fields,
    }),
  });
  expect(response.status).toBe(202);
  return (await response.json()) as { run_id: string };
}

async function getRun(sandbox: KycertSandbox, runId: string): Promise<unknown> {
  const response = await fetch(`${sandbox.baseUrl}/bureau/runs/${runId}`, {
    headers: { 'x-api-key': sandbox.apiKey },
  });
  return response.json();
}

const verify = (delivery: Received, secrets = ['whsec_sandbox_local'], header = 'kycert-signature') =>
  verifyWebhookSignature({
    header: delivery.headers[header] as string | undefined,
    rawBody: delivery.body,
    secrets,
    nowMs,
  });

describe('a run that becomes terminal', () => {
  it('is POSTed once, in kycert’s envelope, with the run as GET shows it, signed as the receiver verifies', async () => {
    // Prepare
    const sandbox = await start();
    const { run_id: runId } = await createRun(sandbox, { external_id: 'order-1' });

    // Act
    nowMs = T0_MS + 4_999;
    await sandbox.deliverDueWebhooks();
    const beforeCompletion = received.length;
    nowMs = T0_MS + 5_000;
    await sandbox.deliverDueWebhooks();
    await sandbox.deliverDueWebhooks();

    // Assess
    expect(beforeCompletion).toBe(0);
    expect(received).toHaveLength(1);
    const [delivery] = received as [Received];
    expect(delivery.path).toBe('/hooks/kycert');
    expect(delivery.headers['content-type']).toBe('application/json; charset=utf-8');
    const event = JSON.parse(delivery.body) as KycertWebhookEvent;
    expect(event).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{24}$/),
      object: 'event',
      event: 'run.completed',
      created: (T0_MS + 5_000) / 1000,
      livemode: false,
      data: { object: await getRun(sandbox, runId) },
    });
    expect(event.data.object).toMatchObject({
      status: 'blocked',
      decision: 'BLOCKED',
      risk_level: 'CRITICAL',
    });
    expect(delivery.headers['kycert-signature']).toMatch(/^t=1767614405,v1=[0-9a-f]{64}$/);
    expect(verify(delivery)).toEqual({ ok: true, timestampSeconds: 1_767_614_405 });
    expect(sandbox.webhookDeliveries()).toEqual([
      expect.objectContaining({ eventId: event.id, runId, event: 'run.completed', attempt: 1, answer: 200 }),
    ]);
  });

  it('as failed is POSTed as run.failed, decision null, failed_at', async () => {
    const sandbox = await start();
    await createRun(sandbox, { template_id: 'tpl_fails' });
    nowMs = T0_MS + 5_000;

    await sandbox.deliverDueWebhooks();

    const event = JSON.parse(received[0]?.body ?? '{}') as KycertWebhookEvent;
    expect(event.event).toBe('run.failed');
    expect(event.data.object).toMatchObject({
      status: 'failed',
      decision: null,
      failed_at: new Date(nowMs).toISOString(),
    });
    expect(event.data.object).not.toHaveProperty('completed_at');
  });

  it('goes to the POST’s own webhook_url before the sandbox’s, and nowhere without either', async () => {
    const sandbox = await start();
    const bare = await startKycertSandbox({ clock: () => nowMs });
    sandboxes.push(bare);
    await createRun(sandbox, { webhook_url: `${receiverUrl}/per-request` });
    await createRun(bare);
    nowMs = T0_MS + 5_000;

    await Promise.all([sandbox.deliverDueWebhooks(), bare.deliverDueWebhooks()]);

    expect(received.map((delivery) => delivery.path)).toEqual(['/per-request']);
    expect(bare.webhookDeliveries()).toEqual([]);
  });

  it('that never finishes sends nothing, and livemode follows the key', async () => {
    const sandbox = await start({ apiKeys: ['sk_test_local', 'sk_live_production1'] });
    await createRun(sandbox, { template_id: 'tpl_never_finishes' });
    await createRun(sandbox, { subject: { type: 'pf', doc: '529.982.247-25' } }, 'sk_live_production1');
    nowMs = T0_MS + 86_400_000;

    await sandbox.deliverDueWebhooks();

    expect(received.map((delivery) => (JSON.parse(delivery.body) as KycertWebhookEvent).livemode)).toEqual([
      true,
    ]);
  });

  it('goes out by itself on the real clock, as the run completes', async () => {
    const sandbox = await startKycertSandbox({
      estimatedSeconds: 0,
      webhooks: { url: `${receiverUrl}/real-clock` },
    });
    sandboxes.push(sandbox);

    await createRun(sandbox);
    await expect.poll(() => received.length, { timeout: 2_000, interval: 20 }).toBe(1);

    expect(received[0]?.path).toBe('/real-clock');
  });
});

describe('delivery', () => {
  it('retries a delivery without a 2xx with the same event and body, re-signed, after 100 then 200 ms', async () => {
    // Prepare
    const sandbox = await start({ webhooks: { retryBaseMs: 100 } });
    answers = [500, 503];
    await createRun(sandbox);
    nowMs = T0_MS + 5_000;

    // Act
    const firstNowMs = nowMs;
    const delivered = sandbox.deliverDueWebhooks();
    await expect.poll(() => received.length, { timeout: 2_000, interval: 5 }).toBe(2);
    nowMs = firstNowMs + 7_000; // the clock moves on between deliveries: the retry is signed afresh
    await delivered;

    // Assess
    expect(sandbox.webhookDeliveries().map((delivery) => [delivery.attempt, delivery.answer])).toEqual([
      [1, 500],
      [2, 503],
      [3, 200],
    ]);
    const [first, second, third] = received as [Received, Received, Received];
    expect(new Set(received.map((delivery) => delivery.body)).size).toBe(1);
    expect(second.atMs - first.atMs).toBeGreaterThanOrEqual(99);
    expect(third.atMs - second.atMs).toBeGreaterThanOrEqual(199);
    expect(third.headers['kycert-signature']).not.toBe(first.headers['kycert-signature']);
    expect(verify(third)).toMatchObject({ ok: true, timestampSeconds: (firstNowMs + 7_000) / 1000 });
  });

  it('gives up after maxAttempts deliveries, and counts a receiver that is not there as no answer', async () => {
    const sandbox = await start({
      webhooks: { url: 'http://127.0.0.1:1/refused', maxAttempts: 2, retryBaseMs: 1 },
    });
    await createRun(sandbox);
    nowMs = T0_MS + 5_000;

    await sandbox.deliverDueWebhooks();

    expect(sandbox.webhookDeliveries().map((delivery) => delivery.answer)).toEqual([
      'no_answer',
      'no_answer',
    ]);
  });
});

describe('faults and rotation', () => {
  it.each([
    ['webhookStaleRate', 'stale_timestamp'],
    ['webhookBadSignatureRate', 'bad_signature'],
  ] as const)('%s 1 sends deliveries the receiver must refuse as %s', async (fault, reason) => {
    const sandbox = await start({ faults: { [fault]: 1 }, webhooks: { maxAttempts: 1 } });
    await createRun(sandbox);
    nowMs = T0_MS + 5_000;

    await sandbox.deliverDueWebhooks();

    expect(verify(received[0] as Received)).toEqual({ ok: false, reason });
  });

  it('webhookDuplicateRate 1 delivers the event twice, byte for byte, both verifiable', async () => {
    const sandbox = await start({ faults: { webhookDuplicateRate: 1 } });
    await createRun(sandbox);
    nowMs = T0_MS + 5_000;

    await sandbox.deliverDueWebhooks();

    expect(received).toHaveLength(2);
    expect(received[1]?.body).toBe(received[0]?.body);
    expect(received.map((delivery) => verify(delivery).ok)).toEqual([true, true]);
    expect(sandbox.webhookDeliveries().map((delivery) => delivery.fault)).toEqual([undefined, 'duplicate']);
  });

  it('signs with each secret during a rotation, in the header named by the setting', async () => {
    const sandbox = await start({
      webhooks: { secrets: ['whsec_new', 'whsec_old'], signatureHeaderName: 'X-Kycert-Signature' },
    });
    await createRun(sandbox);
    nowMs = T0_MS + 5_000;
    await sandbox.deliverDueWebhooks();
    sandbox.setWebhookSecrets(['whsec_new']);
    await createRun(sandbox);
    nowMs = T0_MS + 10_000;
    await sandbox.deliverDueWebhooks();

    const [during, after] = received as [Received, Received];
    expect((during.headers['x-kycert-signature'] as string).split(',')).toHaveLength(3);
    expect(verify(during, ['whsec_old'], 'x-kycert-signature').ok).toBe(true);
    expect(verify(during, ['whsec_new'], 'x-kycert-signature').ok).toBe(true);
    expect(verify(after, ['whsec_old'], 'x-kycert-signature')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verify(after, ['whsec_new'], 'x-kycert-signature').ok).toBe(true);
  });

  it.each([
    [
      { webhooks: { secrets: ['not-a-secret'] } },
      'webhook secrets must look like whsec_… (letters, digits, _)',
    ],
    [
      { webhooks: { url: 'http://hooks.example.com/' } },
      'webhooks.url must be an https:// URL (http:// only to localhost)',
    ],
    [{ webhooks: { maxAttempts: 0 } }, 'webhooks.maxAttempts must be 1 or more'],
    [
      { webhooks: { signatureHeaderName: 'bad header' } },
      'webhooks.signatureHeaderName must be letters, digits and "-"',
    ],
  ] satisfies [KycertSandboxOptions, string][])('refuses %j: %s', async (options, message) => {
    await expect(startKycertSandbox(options)).rejects.toThrow(message);
  });
});
