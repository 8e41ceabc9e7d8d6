import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DecisionPublisher } from '../kycert-worker/decisionPublisher.js';
import { maskIdempotencyKey } from '../kycert-worker/maskIdempotencyKey.js';
import { MetricName } from '../kycert-worker/metricNames.js';
import { OutcomeStore } from '../kycert-worker/outcomeStore.js';
import { recordDecisionMetrics, recordRunDecision } from '../kycert-worker/recordRunDecision.js';
import type { RunResult } from '../kycert-worker/runResult.js';
import { classifyWebhook } from './webhookEvent.js';
import type { WebhookEventLedger } from './webhookEventLedger.js';
import type { WebhookSecretSource, WebhookSecrets } from './webhookSecrets.js';
import { type SignatureRejection, verifyWebhookSignature } from './webhookSignature.js';

/** A webhook body is a few KiB (the run and its envelope); anything past this is refused unread. */
export const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;

/** A failed signature re-reads the secret (the operator may just have replaced it), at most this often. */
export const SECRET_REFRESH_INTERVAL_MS = 60_000;

/** The request as the handler read it from the Function URL's event. */
export interface WebhookRequest {
  method: string;
  /** Lowercased names, as a Function URL gives them. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw body, exactly as sent: the signature is over these bytes. */
  body: Buffer;
}

export interface WebhookResponse {
  statusCode: number;
  headers?: Record<string, string>;
  body: Record<string, unknown>;
}

/** Why a webhook was refused: the `reason` dimension of `WebhooksRejected`. */
export type RejectionReason = SignatureRejection | 'body_too_large' | 'secret_unset' | 'invalid_event';

/** What became of a run's webhook: in the answer's body, the log line and the event's dedupe item. */
export const WebhookOutcome = {
  /** Recorded on the run's outcome item, and published. */
  recorded: 'recorded',
  /** The outcome item already had the run's result (a status check came first). */
  alreadyTerminal: 'already_terminal',
  /** No outcome item holds the run (yet): parked for the worker and the operator. */
  parked: 'parked',
  /** Parked before and taken by the worker since: nothing new. */
  alreadyTaken: 'already_taken',
} as const;
export type WebhookOutcome = (typeof WebhookOutcome)[keyof typeof WebhookOutcome];

export interface WebhookReceiverDeps {
  outcomeStore: OutcomeStore;
  ledger: WebhookEventLedger;
  /** Undefined: no decision event is published (local runs without an EventBridge emulator). */
  publisher: DecisionPublisher | undefined;
  secrets: WebhookSecretSource;
  logger: Logger;
  metrics: Metrics;
  signatureHeaderName: string;
  toleranceSeconds: number;
  nowMs: () => number;
}

/**
 * kycert's webhooks in, the decision recorded: size bound → signature → envelope → dedupe by event id →
 * the run's key (by-run-id index) → `recordRunDecision` (written once, published once), or parked when no
 * outcome holds the run yet. Nothing is written before the signature is verified; the body is never logged
 * nor stored (the run carries the subject's CPF/CNPJ).
 */
export function createWebhookReceiver(deps: WebhookReceiverDeps) {
  let lastRefreshAtMs = Number.NEGATIVE_INFINITY;

  const reject = (reason: RejectionReason, statusCode: number, details: Record<string, unknown> = {}) => {
    deps.logger.warn('webhook refused', { reason, ...details });
    deps.metrics.addMetric(MetricName.webhooksRejected, MetricUnit.Count, 1);
    const byReason = deps.metrics.singleMetric();
    byReason.addDimension('reason', reason);
    byReason.addMetric(MetricName.webhooksRejected, MetricUnit.Count, 1);
    // The caller learns that it was refused, not which check failed.
    const error = statusCode === 401 ? 'invalid_signature' : reason;
    return json(statusCode, { error });
  };

  const verify = async (request: WebhookRequest, nowMs: number) => {
    const header = request.headers[deps.signatureHeaderName];
    const check = (secrets: WebhookSecrets) =>
      secrets.kind === 'unset'
        ? undefined
        : verifyWebhookSignature({
            header,
            rawBody: request.body,
            secrets: secrets.secrets,
            nowMs,
            toleranceSeconds: deps.toleranceSeconds,
          });
    let secrets = await deps.secrets.get();
    let result = check(secrets);
    if (
      (result === undefined || (!result.ok && result.reason === 'bad_signature')) &&
      nowMs - lastRefreshAtMs >= SECRET_REFRESH_INTERVAL_MS
    ) {
      lastRefreshAtMs = nowMs;
      secrets = await deps.secrets.refresh();
      result = check(secrets);
    }
    return { secrets, result };
  };

  return async (request: WebhookRequest, invocation: { deadlineMs: number }): Promise<WebhookResponse> => {
    const nowMs = deps.nowMs();
    if (request.method !== 'POST') {
      const refused = json(405, { error: 'method_not_allowed' });
      return { ...refused, headers: { ...refused.headers, allow: 'POST' } };
    }
    if (request.body.length > MAX_WEBHOOK_BODY_BYTES) {
      return reject('body_too_large', 413, { bytes: request.body.length });
    }
    const { secrets, result } = await verify(request, nowMs);
    if (secrets.kind === 'unset') {
      // kycert retries a 5xx: once the operator puts the secret, the webhooks go through.
      deps.logger.error('webhook secret unset: put kycert’s whsec_… secret (docs/deploy.md, "Webhooks")', {
        problem: secrets.problem,
      });
      return reject('secret_unset', 503);
    }
    if (result === undefined || !result.ok) return reject(result?.reason ?? 'bad_signature', 401);

    const webhook = classifyWebhook(request.body.toString('utf8'));
    if (webhook.kind === 'invalid') return reject('invalid_event', 400, { problem: webhook.problem });
    if (webhook.kind === 'ignored') {
      deps.logger.info('webhook of another kind: acknowledged, nothing recorded', {
        event_id: webhook.eventId,
        event_type: webhook.eventType,
      });
      return json(200, { received: true, outcome: 'ignored' });
    }

    const { eventId, result: run } = webhook;
    const logKeys = {
      event_id: eventId,
      event_type: webhook.eventType,
      run_id: run.runId,
      run_status: run.status,
      decision: run.decision,
      risk_band: run.riskBand,
      livemode: webhook.livemode,
    };
    if (webhook.mismatch !== undefined)
      deps.logger.warn('webhook event type and run status disagree', { ...logKeys, note: webhook.mismatch });

    const claim = await deps.ledger.claim(eventId, {
      nowMs,
      leaseUntilMs: invocation.deadlineMs,
      eventType: webhook.eventType,
      runId: run.runId,
    });
    if (claim.kind === 'duplicate') {
      deps.logger.info('webhook replayed: acknowledged, nothing changed', {
        ...logKeys,
        first_outcome: claim.outcome,
      });
      return json(200, { received: true, outcome: 'duplicate' });
    }
    if (claim.kind === 'inProgress') {
      deps.logger.info('webhook being handled by another delivery: retry later', logKeys);
      return json(409, { error: 'in_progress' });
    }
    try {
      const outcome = await recordOrPark(deps, run, {
        eventId,
        nowMs,
        runCreatedAtMs: webhook.runCreatedAtMs,
        logKeys,
      });
      await deps.ledger.markProcessed(eventId, { nowMs: deps.nowMs(), outcome });
      return json(200, { received: true, outcome });
    } catch (error) {
      deps.logger.error('webhook not handled: kycert will retry it', { ...logKeys, error: error as Error });
      deps.metrics.addMetric(MetricName.unexpectedErrors, MetricUnit.Count, 1);
      await deps.ledger.release(eventId).catch((releaseError: unknown) =>
        deps.logger.warn('could not release the event claim; its lease will run out', {
          ...logKeys,
          error: releaseError as Error,
        }),
      );
      return json(500, { error: 'not_handled' });
    }
  };
}

async function recordOrPark(
  deps: WebhookReceiverDeps,
  run: RunResult,
  at: {
    eventId: string;
    nowMs: number;
    runCreatedAtMs: number | undefined;
    logKeys: Record<string, unknown>;
  },
): Promise<WebhookOutcome> {
  const key = await deps.outcomeStore.keyOfRun(run.runId);
  // The index is eventually consistent and names keys only: the item itself says whether it holds this run.
  const item = key === undefined ? undefined : await deps.outcomeStore.get(key);
  if (key !== undefined && item?.run_id?.S === run.runId) {
    const written = await recordRunDecision(
      { outcomeStore: deps.outcomeStore, publisher: deps.publisher },
      {
        idempotencyKey: key,
        externalId: item.external_id?.S ?? null,
        result: run,
        source: 'webhook',
        nowMs: at.nowMs,
      },
    );
    const logKeys = { ...at.logKeys, idempotency_key: maskIdempotencyKey(key) };
    if (written.kind === 'recorded') {
      const timeToDecisionMs = at.nowMs - (at.runCreatedAtMs ?? Date.parse(item.last_attempt_at?.S ?? ''));
      recordDecisionMetrics(
        deps.metrics,
        run,
        Number.isFinite(timeToDecisionMs) && timeToDecisionMs >= 0 ? timeToDecisionMs : undefined,
      );
      deps.logger.info('decision recorded from a webhook', { ...logKeys, outcome: WebhookOutcome.recorded });
      return WebhookOutcome.recorded;
    }
    if (written.kind === 'alreadyTerminal') {
      deps.logger.info('webhook for a run already decided: nothing changed', {
        ...logKeys,
        outcome: WebhookOutcome.alreadyTerminal,
      });
      return WebhookOutcome.alreadyTerminal;
    }
    // `otherRun` or `missing`: the key moved on (or went) between the index and the item; kept like an unknown run.
  }
  const parked = await deps.outcomeStore.parkRunResult(run, { eventId: at.eventId, nowMs: at.nowMs });
  if (parked.kind === 'alreadyTaken') {
    deps.logger.info('webhook for a run the worker already took from the parked results', {
      ...at.logKeys,
      outcome: WebhookOutcome.alreadyTaken,
    });
    return WebhookOutcome.alreadyTaken;
  }
  deps.metrics.addMetric(MetricName.webhooksUnmatched, MetricUnit.Count, 1);
  deps.logger.warn('webhook for a run no outcome holds: parked for the worker and the operator', {
    ...at.logKeys,
    outcome: WebhookOutcome.parked,
    parked_key: OutcomeStore.parkedRunKey(run.runId),
  });
  return WebhookOutcome.parked;
}

function json(statusCode: number, body: Record<string, unknown>): WebhookResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body };
}
