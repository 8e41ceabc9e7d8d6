import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MESSAGES, demoFaultScript } from '../local/pipeline/demoMessages.js';
import {
  type LocalPipeline,
  type PipelineReport,
  startLocalPipeline,
} from '../local/pipeline/startLocalPipeline.js';
import type { WebhookDelivery } from '../local/sandbox/webhookSender.js';

/**
 * Decisions by webhook, end to end on `npm start`'s machinery: the sandbox POSTs its signed webhooks to the
 * webhook receiver's own handler (an execution environment of its own, behind the Function URL stand-in),
 * which records each decision in the outcome table and publishes it to the EventBridge emulator; the worker's
 * status checks are the safety net.
 */
let pipeline: LocalPipeline;
let report: PipelineReport;
let deliveries: WebhookDelivery[];

beforeAll(async () => {
  pipeline = await startLocalPipeline({
    webhooks: true,
    sqsPort: 0,
    dynamodbPort: 0,
    sandbox: { port: 0, faultScript: demoFaultScript, faults: { retryAfterSeconds: 1 } },
    maxAttempts: 3,
    backoffBaseSeconds: 1,
    backoffMaxSeconds: 2,
  });
  await pipeline.enqueue(DEMO_MESSAGES.map((m) => m.body));
  expect(await pipeline.waitUntilSettled({ timeoutMs: 45_000 })).toBe(true);
  report = await pipeline.report();
  deliveries = pipeline.sandbox?.webhookDeliveries() ?? [];
}, 70_000);

afterAll(async () => {
  await pipeline?.stop();
});

describe('the local pipeline with kycert webhooks', () => {
  it('decides every accepted run, most by the webhook, and publishes one event per run', () => {
    const succeeded = report.outcomes.filter((o) => o.status === 'succeeded');
    expect(succeeded.length).toBeGreaterThan(0);
    for (const outcome of succeeded) {
      expect(outcome.run_status).toMatch(/^(completed|blocked|pending_review|partial|failed)$/);
      expect(['webhook', 'status_check']).toContain(outcome.decision_source);
    }
    expect(succeeded.filter((o) => o.decision_source === 'webhook').length).toBeGreaterThan(0);
    const published = report.decisionEvents.map((event) => (event.detail as { run_id: string }).run_id);
    expect(published.sort()).toEqual(succeeded.map((o) => o.run_id).sort());
  });

  it('the receiver answered every signed delivery 2xx, behind the Function URL, in its own environment', () => {
    expect(deliveries.length).toBeGreaterThan(0);
    for (const delivery of deliveries) expect(delivery.answer).toBeGreaterThanOrEqual(200);
    for (const delivery of deliveries) expect(delivery.answer).toBeLessThan(300);
    expect(pipeline.webhookReceiver?.functionUrl.stats()).toMatchObject({ errors: 0, timeouts: 0 });
    expect(pipeline.webhookReceiver?.environments.stats()).toMatchObject({ live: 1 });
  });

  it('tells the worker webhooks are on, and the receiver nothing it does not need', () => {
    expect(pipeline.workerEnv).toMatchObject({
      KYCERT_WEBHOOKS_ENABLED: 'true',
      DECISION_EVENT_BUS_NAME: 'default',
    });
  });
});
