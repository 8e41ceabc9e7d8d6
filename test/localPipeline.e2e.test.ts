import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveIdempotencyKey } from '../functions/kycert-worker/runRequestMessage.js';
import { DEMO_MESSAGES, demoFaultScript } from '../local/pipeline/demoMessages.js';
import {
  type LocalPipeline,
  type PipelineReport,
  startLocalPipeline,
} from '../local/pipeline/startLocalPipeline.js';
import type { SandboxStats } from '../local/sandbox/index.js';

/**
 * `npm start`'s machinery end to end: the demo set through the sandbox, both emulators, the poller and the
 * real handler in two execution environments. Every path's outcome, the DLQ, and kycert's own count of runs.
 */
const MAX_ATTEMPTS = 3;
let pipeline: LocalPipeline;
let report: PipelineReport;
let sandbox: SandboxStats;
let processEnvBefore: NodeJS.ProcessEnv;
let processEnvAfterStart: NodeJS.ProcessEnv;

beforeAll(async () => {
  processEnvBefore = { ...process.env };
  pipeline = await startLocalPipeline({
    environments: 2,
    sqsPort: 0,
    dynamodbPort: 0,
    sandbox: { port: 0, faultScript: demoFaultScript, faults: { retryAfterSeconds: 1 } },
    maxAttempts: MAX_ATTEMPTS,
    backoffBaseSeconds: 1,
    backoffMaxSeconds: 2,
  });
  processEnvAfterStart = { ...process.env };
  await pipeline.enqueue(DEMO_MESSAGES.map((m) => m.body));
  const settled = await pipeline.waitUntilSettled({ timeoutMs: 25_000 });
  expect(settled).toBe(true);
  report = await pipeline.report();
  sandbox = pipeline.sandbox?.stats() as SandboxStats;
}, 40_000);

afterAll(async () => {
  await pipeline?.stop();
});

const outcomeOf = (externalId: string) => report.outcomes.find((o) => o.external_id === externalId);
const keyOf = (externalId: string, templateId = 'tpl_onboarding_pf') =>
  deriveIdempotencyKey(templateId, externalId);

describe('the local pipeline on the demo set', () => {
  it("configures the worker's environments through their own process environments, never this one's", () => {
    expect(processEnvAfterStart).toEqual(processEnvBefore);
    expect(pipeline.workerEnv).toMatchObject({ QUEUE_URL: pipeline.aws.queueUrl, MAX_ATTEMPTS: '3' });
    expect(process.env.QUEUE_URL).toBeUndefined();
    expect(pipeline.environments.stats()).toMatchObject({ started: 2, live: 2 });
  });

  it.each([
    ['demo-success', 1, 202, false],
    ['demo-company', 1, 202, false],
    ['demo-rate-limited', 1, 202, false], // two POSTs: the 429 gave its attempt back
    ['demo-server-error', 3, 202, false],
    ['demo-connection-reset', 2, 200, true],
    ['demo-duplicate', 1, 202, false],
  ])(
    '%s succeeds after %i attempt(s) with the run kycert created under its key',
    (externalId, attempts, httpStatus, replayed) => {
      const outcome = outcomeOf(externalId);
      const templateId = externalId === 'demo-company' ? 'tpl_onboarding_pj' : 'tpl_onboarding_pf';
      const key = keyOf(externalId, templateId);
      expect(outcome).toMatchObject({
        idempotency_key: key,
        status: 'succeeded',
        attempts,
        http_status: httpStatus,
        replayed,
      });
      expect(sandbox.runsByIdempotencyKey[key]).toEqual([outcome?.run_id]);
    },
  );

  it.each([
    ['demo-unknown-template', 'legacy_onboarding', 'kycert_rejected:template_not_found', 1],
    ['demo-always-failing', 'tpl_onboarding_pf', 'retries_exhausted', MAX_ATTEMPTS],
  ])(
    '%s fails as %s after %i attempt(s), its body verbatim in the DLQ',
    (externalId, templateId, reason, attempts) => {
      const key = keyOf(externalId, templateId);
      expect(outcomeOf(externalId)).toMatchObject({
        status: 'failed',
        dead_letter_reason: reason,
        attempts,
        run_id: null,
      });
      const sent = DEMO_MESSAGES.find((m) => m.body.includes(`"${externalId}"`))?.body;
      expect(report.dlq.filter((d) => d.idempotency_key === key)).toEqual([
        expect.objectContaining({ body: sent, reason }),
      ]);
      expect(sandbox.bodiesByIdempotencyKey[key]).toHaveLength(1);
    },
  );

  it('never calls kycert for invalid messages, and dead-letters them verbatim with their reason', () => {
    expect(report.dlq).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          body: 'this is not JSON',
          reason: 'invalid_message:body:invalid_json',
          idempotency_key: null,
        }),
        expect.objectContaining({
          body: DEMO_MESSAGES.find((m) => m.body.includes('demo-bad-cpf'))?.body,
          reason: 'invalid_message:subject.doc:invalid_check_digits',
        }),
      ]),
    );
    expect(sandbox.bodiesByIdempotencyKey[keyOf('demo-bad-cpf')]).toBeUndefined();
    expect(outcomeOf('demo-bad-cpf')).toMatchObject({ status: 'failed', attempts: null });
  });

  it('leaves every message terminal: nothing pending, four in the DLQ, one run per succeeded key and none twice', async () => {
    expect(await pipeline.snapshot()).toMatchObject({
      enqueued: DEMO_MESSAGES.length,
      pending: 0,
      deadLettered: 4,
    });
    expect(report.dlq).toHaveLength(4);
    expect(report.outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(6);
    expect(sandbox.runsCreated).toBe(6);
    expect(Object.values(sandbox.runsByIdempotencyKey).every((runs) => runs.length === 1)).toBe(true);
    expect(Object.values(sandbox.bodiesByIdempotencyKey).every((bodies) => bodies.length === 1)).toBe(true);
  });
});
