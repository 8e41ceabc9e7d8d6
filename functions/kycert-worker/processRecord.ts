import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import { redactDocuments } from './brazilianDocument.js';
import type { DeadLetterQueue } from './deadLetterQueue.js';
import { RetryLaterError } from './errors.js';
import type { CreateRunOutcome } from './kycertClient.js';
import type { MessageVisibility } from './messageVisibility.js';
import { MetricName } from './metricNames.js';
import type { OutcomeStore } from './outcomeStore.js';
import type { RateLimitGovernor } from './rateLimitGovernor.js';
import {
  type AttemptContext,
  backoffSeconds,
  beforeAttempt,
  type Decision,
  decide,
  type RetryPolicyOptions,
} from './retryPolicy.js';
import { parseRunRequestMessage, type RunRequest } from './runRequestMessage.js';

/** Everything a record needs, injected so that tests and the local pipeline supply their own. */
export interface WorkerDeps {
  policy: RetryPolicyOptions;
  kycert: { createRun(request: RunRequest): Promise<CreateRunOutcome> };
  outcomeStore: OutcomeStore;
  deadLetterQueue: DeadLetterQueue;
  visibility: MessageVisibility;
  logger: Logger;
  metrics: Metrics;
  /** Paces calls when kycert's remaining budget runs low; absent = no proactive throttling. */
  rateLimitGovernor?: RateLimitGovernor | undefined;
  nowMs: () => number;
  random: () => number;
}

export interface Invocation {
  receivedAtMs: number;
  /** When the function will be stopped: the lease on a key never outlives the invocation that took it. */
  deadlineMs: number;
}

const RETRY_METRIC = {
  rate_limited: MetricName.retriedRateLimited,
  server_error: MetricName.retriedServerError,
  network_error: MetricName.retriedNetworkError,
  in_progress: MetricName.retriedInProgress,
} as const;

/**
 * One SQS record: parse → claim the key → ask kycert → let the policy decide → act on the decision.
 * Returns when the record is done with (the event source deletes it); throws RetryLaterError when it must
 * come back, anything else when something unexpected failed (it comes back after the queue's timeout).
 */
export async function processRecord(
  record: SQSRecord,
  deps: WorkerDeps,
  invocation: Invocation,
): Promise<void> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const parsed = parseRunRequestMessage(record.body);
  if (!parsed.ok) {
    const { reason, detail, idempotencyKey, externalId, templateId } = parsed;
    deps.logger.warn('invalid message', {
      message_id: record.messageId,
      idempotency_key: idempotencyKey,
      external_id: redact(externalId),
      decision: 'deadLetter',
      reason,
    });
    await deps.deadLetterQueue.send({
      body: record.body,
      reason,
      detail,
      idempotencyKey,
      sourceMessageId: record.messageId,
      receiveCount,
      nowMs: deps.nowMs(),
    });
    if (idempotencyKey !== undefined) {
      await deps.outcomeStore.recordFailure(idempotencyKey, {
        reason,
        errorMessage: detail,
        attempted: false,
        externalId,
        templateId,
        nowMs: deps.nowMs(),
      });
    }
    countDeadLetter(deps.metrics, 'invalid_message');
    return;
  }

  const request = parsed.request;
  const logKeys = {
    message_id: record.messageId,
    idempotency_key: request.idempotencyKey,
    external_id: redact(request.externalId),
  };
  const throttleMs = deps.rateLimitGovernor?.reserve(deps.nowMs()) ?? 0;
  // Deferring costs a receive but no attempt; never defer on the last receive before the redrive policy acts.
  if (throttleMs > 0 && receiveCount < deps.policy.maxReceiveCount - 1) {
    // Spread the held-back messages over as long again as the wait: they come back across the next window
    // instead of all at its start, so few are deferred twice (each deferral costs a receive).
    const waitSeconds = Math.ceil(throttleMs / 1000);
    const delaySeconds = waitSeconds + Math.floor(deps.random() * (waitSeconds + 1));
    deps.logger.info('throttled before the rate limit', { ...logKeys, delay_seconds: delaySeconds });
    await deps.visibility.delay(record.receiptHandle, delaySeconds);
    deps.metrics.addMetric(MetricName.deferredByThrottle, MetricUnit.Count, 1);
    throw new RetryLaterError(record.messageId, delaySeconds, 'throttled');
  }
  const begun = await deps.outcomeStore.beginAttempt(request, {
    nowMs: deps.nowMs(),
    leaseUntilMs: invocation.deadlineMs,
  });
  if (begun.kind === 'finished') {
    deps.logger.info('duplicate delivery of a finished key', {
      ...logKeys,
      status: begun.status,
      run_id: begun.runId,
    });
    deps.metrics.addMetric(MetricName.duplicateDeliveries, MetricUnit.Count, 1);
    return;
  }
  if (begun.kind === 'leased') {
    // Another copy is calling kycert right now. Look again soon (it usually ends within one call), backing
    // off with each receive, and never later than its lease: a crashed holder does not block the key.
    const leaseLeftSeconds = Math.ceil((begun.leaseUntilMs - deps.nowMs()) / 1000);
    const delaySeconds = Math.max(
      1,
      Math.min(leaseLeftSeconds, backoffSeconds(receiveCount, deps.random(), deps.policy)),
    );
    deps.logger.info('key leased by another delivery', { ...logKeys, delay_seconds: delaySeconds });
    await deps.visibility.delay(record.receiptHandle, delaySeconds);
    throw new RetryLaterError(record.messageId, delaySeconds, 'leased');
  }

  const context: AttemptContext = {
    attempt: begun.attempt,
    receiveCount,
    firstAttemptAtMs: begun.firstAttemptAtMs,
    receivedAtMs: invocation.receivedAtMs,
    nowMs: deps.nowMs(),
    random: deps.random(),
  };
  let decision = beforeAttempt(context, deps.policy);
  let httpStatus: number | undefined;
  let errorCode: string | undefined;
  let errorMessage: string | undefined;
  if (decision === undefined) {
    const { result, latencyMs, credentialRefreshed } = await deps.kycert.createRun(request);
    deps.metrics.addMetric(MetricName.kycertLatency, MetricUnit.Milliseconds, latencyMs);
    if (result.kind === 'response') {
      ({ httpStatus, errorCode, errorMessage } = result);
      if (result.rateLimit !== undefined) deps.rateLimitGovernor?.observe(result.rateLimit);
      if (httpStatus === 401 || credentialRefreshed)
        deps.metrics.addMetric(MetricName.authenticationFailures, MetricUnit.Count, 1);
    } else {
      ({ errorCode, errorMessage } = result);
    }
    decision = decide(result, { ...context, nowMs: deps.nowMs() }, deps.policy);
  }
  deps.logger.info('decision', {
    ...logKeys,
    attempt: context.attempt,
    receive_count: receiveCount,
    http_status: httpStatus,
    error_code: errorCode,
    ...describeDecision(decision),
  });
  await act(decision, { record, request, receiveCount, httpStatus, errorCode, errorMessage }, deps);
}

async function act(
  decision: Decision,
  attempt: {
    record: SQSRecord;
    request: RunRequest;
    receiveCount: number;
    httpStatus: number | undefined;
    errorCode: string | undefined;
    errorMessage: string | undefined;
  },
  deps: WorkerDeps,
): Promise<void> {
  const { record, request, httpStatus, errorCode, errorMessage } = attempt;
  const key = request.idempotencyKey;
  const nowMs = deps.nowMs();
  switch (decision.action) {
    case 'succeed':
      await deps.outcomeStore.recordSuccess(key, {
        runId: decision.runId,
        httpStatus: httpStatus ?? 0,
        replayed: decision.replayed,
        nowMs,
      });
      deps.metrics.addMetric(MetricName.succeeded, MetricUnit.Count, 1);
      return;
    case 'retry': {
      const nextAttemptAtMs = nowMs + decision.delaySeconds * 1000;
      const stillPending = await deps.outcomeStore.recordRetry(key, {
        cause: decision.cause,
        nextAttemptAtMs,
        nowMs,
        httpStatus,
        errorCode,
        errorMessage,
      });
      if (!stillPending) return; // a concurrent copy succeeded meanwhile: this one is a duplicate
      await deps.visibility.delay(record.receiptHandle, decision.delaySeconds);
      deps.metrics.addMetric(RETRY_METRIC[decision.cause], MetricUnit.Count, 1);
      throw new RetryLaterError(record.messageId, decision.delaySeconds, decision.cause);
    }
    case 'deadLetter': {
      const reason = decision.code === undefined ? decision.reason : `${decision.reason}:${decision.code}`;
      // DLQ first, outcome second: if the outcome write fails, the record comes back and, at worst, the DLQ
      // holds two copies. The other order could acknowledge a message that never reached the DLQ.
      await deps.deadLetterQueue.send({
        body: record.body,
        reason,
        detail: decision.detail,
        idempotencyKey: key,
        sourceMessageId: record.messageId,
        receiveCount: attempt.receiveCount,
        nowMs,
      });
      await deps.outcomeStore.recordFailure(key, {
        reason,
        attempted: true,
        httpStatus,
        errorCode,
        errorMessage: errorMessage ?? decision.detail,
        nowMs,
      });
      countDeadLetter(deps.metrics, decision.reason);
      return;
    }
  }
}

function countDeadLetter(metrics: Metrics, reason: string): void {
  metrics.addMetric(MetricName.deadLettered, MetricUnit.Count, 1);
  const byReason = metrics.singleMetric();
  byReason.addDimension('reason', reason);
  byReason.addMetric(MetricName.deadLettered, MetricUnit.Count, 1);
}

function describeDecision(decision: Decision): Record<string, unknown> {
  switch (decision.action) {
    case 'succeed':
      return { decision: 'succeed', run_id: decision.runId, replayed: decision.replayed };
    case 'retry':
      return { decision: 'retry', cause: decision.cause, delay_seconds: decision.delaySeconds };
    case 'deadLetter':
      return { decision: 'deadLetter', reason: decision.reason, code: decision.code };
  }
}

/** A producer may use a CPF as its own id: mask it in logs like any other document-like text. */
function redact(text: string | undefined): string | undefined {
  return text === undefined ? undefined : redactDocuments(text);
}
