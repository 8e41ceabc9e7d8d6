import { describe, expect, it } from 'vitest';
import { parseRunRequestMessage } from '../functions/kycert-worker/runRequestMessage.js';
import type { DeadLetterReport, OutcomeReport } from '../local/pipeline/startLocalPipeline.js';
import type { SandboxPost, SandboxStats } from '../local/sandbox/index.js';
import { requestBody, UNKNOWN_TEMPLATE_ID } from './support/faultMessages.js';
import { checkInvariants, countRun, Invariant, type RunEvidence } from './support/invariants.js';

/**
 * The checker itself: a clean run passes, and each way a run can break is reported under its invariant.
 * Without these, a checker that never complains would make every fault test pass.
 */

const T0_MS = Date.parse('2026-11-23T12:00:00.000Z');
const OK = requestBody(1, { prefix: 'inv' });
const REJECTED = requestBody(2, { prefix: 'inv', templateId: UNKNOWN_TEMPLATE_ID });
const INVALID = JSON.stringify({
  template_id: 'tpl_x',
  subject: { type: 'pf', doc: '123' },
  external_id: 'inv-bad',
});
const keyOf = (body: string) => {
  const parsed = parseRunRequestMessage(body);
  return (parsed.ok ? parsed.request.idempotencyKey : parsed.idempotencyKey) as string;
};
const OK_KEY = keyOf(OK);
const REJECTED_KEY = keyOf(REJECTED);
const INVALID_KEY = keyOf(INVALID);
const INVALID_REASON = 'invalid_message:subject.doc:invalid_length';

const outcome = (key: string, fields: Partial<OutcomeReport>): OutcomeReport => ({
  idempotency_key: key,
  status: 'succeeded',
  attempts: 1,
  http_status: 202,
  run_id: null,
  error_code: null,
  external_id: null,
  template_id: null,
  dead_letter_reason: null,
  replayed: false,
  first_attempt_at: new Date(T0_MS).toISOString(),
  updated_at: new Date(T0_MS).toISOString(),
  run_status: null,
  decision: null,
  risk_band: null,
  decided_at: null,
  decision_source: null,
  status_checks: null,
  ...fields,
});
const dlq = (body: string, reason: string, key: string | null): DeadLetterReport => ({
  body,
  reason,
  detail: 'what the worker said of it',
  idempotency_key: key,
  source_message_id: 'm',
});
const post = (answer: SandboxPost['answer'], atMs = T0_MS, replayed = false): SandboxPost => ({
  atMs,
  answer,
  replayed,
});

/** Two requests (one succeeded, one rejected by kycert) and an invalid message, all as they should end. */
function cleanRun(): RunEvidence {
  const stats: SandboxStats = {
    requests: 2,
    postRuns: 2,
    getRuns: 0,
    runsCreated: 1,
    replays: 0,
    byStatus: { '202': 1, '404': 1 },
    byErrorCode: { template_not_found: 1 },
    faultsInjected: {
      serverError: 0,
      latency: 0,
      resetAfterCreate: 0,
      slowAfterCreate: 0,
      inProgress: 0,
      rateLimitStorm: 0,
    },
    runsByIdempotencyKey: { [OK_KEY]: ['run_1'] },
    bodiesByIdempotencyKey: { [OK_KEY]: ['a'], [REJECTED_KEY]: ['b'] },
    postsByIdempotencyKey: { [OK_KEY]: [post(202)], [REJECTED_KEY]: [post(404)] },
    creditsRemaining: Number.POSITIVE_INFINITY,
  };
  return {
    sent: [OK, OK, REJECTED, INVALID],
    report: {
      outcomes: [
        outcome(OK_KEY, { run_id: 'run_1' }),
        outcome(REJECTED_KEY, { status: 'failed', dead_letter_reason: 'kycert_rejected:template_not_found' }),
        outcome(INVALID_KEY, { status: 'failed', attempts: null, dead_letter_reason: INVALID_REASON }),
      ],
      decisionEvents: [],
      dlq: [
        dlq(REJECTED, 'kycert_rejected:template_not_found', REJECTED_KEY),
        dlq(INVALID, INVALID_REASON, INVALID_KEY),
      ],
    },
    sandboxStats: stats,
    maxAttempts: 3,
    pendingMessages: 0,
  };
}

const invariantsOf = (evidence: RunEvidence) => [
  ...new Set(checkInvariants(evidence).map((v) => v.invariant)),
];

describe('checkInvariants', () => {
  it('passes a clean run', () => {
    expect(checkInvariants(cleanRun())).toEqual([]);
  });

  it.each<[string, (run: RunEvidence) => void, Invariant[]]>([
    ['an outcome missing', (r) => r.report.outcomes.shift(), [Invariant.lost]],
    [
      'an outcome left retry_scheduled',
      (r) => Object.assign(r.report.outcomes[0] ?? {}, { status: 'retry_scheduled' }),
      [Invariant.stuck],
    ],
    ['messages left on the queue', (r) => Object.assign(r, { pendingMessages: 2 }), [Invariant.stuck]],
    [
      'a run id kycert never created',
      (r) => Object.assign(r.report.outcomes[0] ?? {}, { run_id: 'run_other' }),
      [Invariant.outcomeDisagreesWithKycert],
    ],
    [
      'two runs under one key',
      (r) => Object.assign(r.sandboxStats.runsByIdempotencyKey, { [OK_KEY]: ['run_1', 'run_2'] }),
      [Invariant.outcomeDisagreesWithKycert, Invariant.duplicateRun],
    ],
    [
      'two bodies under one key',
      (r) => Object.assign(r.sandboxStats.bodiesByIdempotencyKey, { [OK_KEY]: ['a', 'a2'] }),
      [Invariant.bodyChanged],
    ],
    ['a failure missing from the DLQ', (r) => r.report.dlq.shift(), [Invariant.failedNotInDlq]],
    [
      'a DLQ copy with another reason',
      (r) => Object.assign(r.report.dlq[0] ?? {}, { reason: 'retries_exhausted' }),
      [Invariant.failedNotInDlq],
    ],
    [
      'a DLQ copy of a key that succeeded',
      (r) => r.report.dlq.push(dlq(OK, 'retries_exhausted', OK_KEY)),
      [Invariant.dlqForSucceededKey],
    ],
    [
      'a message moved by the redrive policy',
      (r) => r.report.dlq.push(dlq(OK, 'max_receive_count_exceeded', null)),
      [Invariant.dlqWithoutReason],
    ],
    [
      'a DLQ reason the worker never gives (a producer’s field name in it)',
      (r) => r.report.dlq.push(dlq(OK, 'invalid_message:note\u0001:unknown_field', null)),
      [Invariant.dlqReasonMalformed],
    ],
    [
      'a DLQ message with a reason but no detail',
      (r) => Object.assign(r.report.dlq[1] ?? {}, { detail: null }),
      [Invariant.dlqReasonMalformed],
    ],
    [
      'a DLQ body nobody sent',
      (r) => r.report.dlq.push(dlq('{"changed":1}', 'invalid_message:body:x', null)),
      [Invariant.dlqBodyNotSent],
    ],
    [
      'an invalid message missing from the DLQ',
      (r) => r.report.dlq.pop(),
      [Invariant.invalidNotDeadLettered],
    ],
    [
      'an invalid message with another reason',
      (r) => Object.assign(r.report.dlq[1] ?? {}, { reason: 'invalid_message:body:invalid_json' }),
      [Invariant.invalidNotDeadLettered],
    ],
    [
      'an invalid message POSTed',
      (r) => {
        r.sandboxStats.postsByIdempotencyKey[INVALID_KEY] = [post(400)];
        r.sandboxStats.bodiesByIdempotencyKey[INVALID_KEY] = ['c'];
      },
      [Invariant.invalidReachedKycert],
    ],
    [
      'a 404 retried',
      (r) => r.sandboxStats.postsByIdempotencyKey[REJECTED_KEY]?.push(post(404, T0_MS + 1_000, true)),
      [Invariant.rejectionRetried],
    ],
    [
      'more POSTs than attempts',
      (r) => r.sandboxStats.postsByIdempotencyKey[OK_KEY]?.unshift(post(503), post(503), post(503)),
      [Invariant.attemptsExceeded],
    ],
    [
      'an outcome counting more attempts than allowed',
      (r) => Object.assign(r.report.outcomes[0] ?? {}, { attempts: 4 }),
      [Invariant.attemptsExceeded],
    ],
    [
      'a POST 22 h after the first attempt',
      (r) => r.sandboxStats.postsByIdempotencyKey[OK_KEY]?.push(post(200, T0_MS + 22 * 3_600_000 + 1, true)),
      [Invariant.postAfterKeyWindow],
    ],
    [
      'a key no message carries',
      (r) => Object.assign(r.sandboxStats.bodiesByIdempotencyKey, { 'stranger-key': ['x'] }),
      [Invariant.unknownKey],
    ],
  ])('reports %s', (_, breakIt, expected) => {
    const run = cleanRun();
    breakIt(run);
    expect(invariantsOf(run)).toEqual(expected);
  });

  it('a 401 and its re-send count as one attempt', () => {
    const run = cleanRun();
    run.sandboxStats.postsByIdempotencyKey[OK_KEY] = [post(503), post(401), post(503), post(401), post(202)];
    expect(checkInvariants(run)).toEqual([]);
  });

  it('when decisions may be lost, a replay of the rejection and a claim past the budget are expected', () => {
    const run = cleanRun();
    run.sandboxStats.postsByIdempotencyKey[REJECTED_KEY]?.push(post(404, T0_MS + 1_000, true));
    Object.assign(run.report.outcomes[1] ?? {}, { attempts: 4 });
    expect(invariantsOf(run).sort()).toEqual([Invariant.attemptsExceeded, Invariant.rejectionRetried]);
    expect(checkInvariants({ ...run, decisionsMayBeLost: true })).toEqual([]);
    // …but never a rejection answered anew, nor more POSTs than attempts.
    run.sandboxStats.postsByIdempotencyKey[REJECTED_KEY]?.push(post(404, T0_MS + 2_000, false));
    expect(invariantsOf({ ...run, decisionsMayBeLost: true })).toEqual([Invariant.rejectionRetried]);
  });

  it('counts a run', () => {
    expect(countRun(cleanRun())).toMatchObject({
      messages: 4,
      distinctRequests: 2,
      invalidMessages: 1,
      kycertPosts: 2,
      createdRuns: 1,
      duplicateRuns: 0,
      lost: 0,
      stuck: 0,
      succeeded: 1,
      failed: 1,
      dlqMessages: 2,
      dlqByReason: { 'kycert_rejected:template_not_found': 1, [INVALID_REASON]: 1 },
    });
  });
});
