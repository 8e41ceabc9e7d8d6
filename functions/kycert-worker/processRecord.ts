import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import type { ApiKeySource } from './apiKeySource.js';
import { redactDocuments } from './brazilianDocument.js';
import { DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS } from './constants.js';
import type { DeadLetterQueue } from './deadLetterQueue.js';
import { type Delivery, readDelivery, visibilityTimeoutSeconds } from './deliveryVisibility.js';
import { RetryLaterError } from './errors.js';
import type { CreateRunOutcome } from './kycertClient.js';
import { maskIdempotencyKey } from './maskIdempotencyKey.js';
import type { MessageVisibility } from './messageVisibility.js';
import { MetricName } from './metricNames.js';
import type { OutcomeStore, ResultWrite } from './outcomeStore.js';
import type { RateLimitGovernor } from './rateLimitGovernor.js';
import {
  type AttemptContext,
  backoffSeconds,
  beforeAttempt,
  DeadLetterReason,
  type Decision,
  decide,
  isLastReceive,
  type RetryPolicyOptions,
} from './retryPolicy.js';
import { kycertRequestBody, parseRunRequestMessage, type RunRequest } from './runRequestMessage.js';

/** Everything a record needs, injected so that tests and the local pipeline supply their own. */
export interface WorkerDeps {
  policy: RetryPolicyOptions;
  kycert: { createRun(request: RunRequest): Promise<CreateRunOutcome> };
  /**
   * The kycert client's own key source, read before a key is claimed: a Secrets Manager outage then fails the
   * record before an attempt is counted, instead of spending one with no POST. Absent in tests that fake kycert.
   */
  apiKey?: ApiKeySource | undefined;
  outcomeStore: OutcomeStore;
  deadLetterQueue: DeadLetterQueue;
  visibility: MessageVisibility;
  logger: Logger;
  metrics: Metrics;
  /** Paces calls when kycert's remaining budget runs low; absent = no proactive throttling. */
  rateLimitGovernor?: RateLimitGovernor | undefined;
  /**
   * The queue's visibility timeout: the event source invokes within it of a receive, which bounds when the
   * receive was (deliveryVisibility.ts). @default DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS
   */
  queueVisibilityTimeoutSeconds?: number | undefined;
  nowMs: () => number;
  random: () => number;
}

export interface Invocation {
  /** When the handler started. */
  startedAtMs: number;
  /** When the function will be stopped: the lease on a key never outlives the invocation that took it. */
  deadlineMs: number;
}

const RETRY_METRIC = {
  rate_limited: MetricName.retriedRateLimited,
  server_error: MetricName.retriedServerError,
  network_error: MetricName.retriedNetworkError,
  in_progress: MetricName.retriedInProgress,
} as const;

/** What every log line of a record carries: never a document in clear (the key and external id are masked). */
type LogKeys = { message_id: string; idempotency_key: string | undefined; external_id: string | undefined };

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
  const delivery = readDelivery(
    record,
    invocation.startedAtMs,
    deps.queueVisibilityTimeoutSeconds ?? DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS,
  );
  const parsed = parseRunRequestMessage(record.body);
  if (!parsed.ok) {
    const { reason, detail, idempotencyKey, externalId, templateId } = parsed;
    deps.logger.warn('invalid message', {
      ...logKeysOf(delivery, idempotencyKey, externalId),
      decision: 'deadLetter',
      reason,
    });
    await deadLetter(record, delivery, { reason, detail, idempotencyKey }, deps);
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
    countDeadLetter(deps.metrics, DeadLetterReason.invalidMessage);
    return;
  }

  const request = parsed.request;
  const logKeys = logKeysOf(delivery, request.idempotencyKey, request.externalId);
  // The credential first: if Secrets Manager is down, the record fails here, before an attempt is counted.
  await deps.apiKey?.get();
  const throttleMs = deps.rateLimitGovernor?.reserve(deps.nowMs()) ?? 0;
  // Deferring costs a receive but no attempt; never defer on the last receive before the redrive policy acts.
  if (throttleMs > 0 && !isLastReceive(delivery.receiveCount, deps.policy)) {
    // Spread the held-back messages over as long again as the wait: they come back across the next window
    // instead of all at its start, so few are deferred twice (each deferral costs a receive).
    const waitSeconds = Math.ceil(throttleMs / 1000);
    const delaySeconds = waitSeconds + Math.floor(deps.random() * (waitSeconds + 1));
    deps.metrics.addMetric(MetricName.deferredByThrottle, MetricUnit.Count, 1);
    return defer(delivery, delaySeconds, 'throttled', logKeys, deps);
  }
  const begun = await deps.outcomeStore.beginAttempt(request, {
    nowMs: deps.nowMs(),
    leaseUntilMs: invocation.deadlineMs,
    messageId: record.messageId,
    bodySha256: createHash('sha256').update(kycertRequestBody(request)).digest('hex'),
  });
  switch (begun.kind) {
    case 'bodyMismatch':
      // The key's outcome belongs to the body first sent under it; this copy only goes to the DLQ.
      return deadLetterCopy(
        record,
        delivery,
        request,
        {
          reason: 'invalid_message:idempotency_key:reused_with_different_body',
          detail:
            'this idempotency_key was first used with another request body; a changed request needs a fresh key',
        },
        logKeys,
        deps,
      );
    case 'finished':
      if (begun.status === 'succeeded') {
        deps.logger.info('duplicate delivery of a finished key', {
          ...logKeys,
          status: begun.status,
          run_id: begun.runId,
        });
        deps.metrics.addMetric(MetricName.duplicateDeliveries, MetricUnit.Count, 1);
        return;
      }
      // Never acknowledged as a duplicate: this copy may be the only one left (a DLQ message moved back by
      // SQS's own redrive, a corrected re-send). The DLQ keeps it, with the key's reason beside its own.
      return deadLetterCopy(
        record,
        delivery,
        request,
        {
          reason:
            begun.deadLetterReason === undefined
              ? DeadLetterReason.keyAlreadyFailed
              : `${DeadLetterReason.keyAlreadyFailed}:${begun.deadLetterReason}`,
          detail:
            `the key already failed${begun.deadLetterReason === undefined ? '' : ` as ${begun.deadLetterReason}`}; ` +
            'redrive with `kycert-queue dlq redrive` (it reopens the key), or send a corrected request under a fresh key',
        },
        logKeys,
        deps,
      );
    case 'leased':
      return waitForLease(record, delivery, request, begun, logKeys, deps);
    case 'started':
      return attempt(record, delivery, request, begun, invocation, logKeys, deps);
  }
}

async function attempt(
  record: SQSRecord,
  delivery: Delivery,
  request: RunRequest,
  begun: { attempt: number; firstAttemptAtMs: number; leaseToken?: string },
  _invocation: Invocation,
  logKeys: LogKeys,
  deps: WorkerDeps,
): Promise<void> {
  const context: AttemptContext = {
    attempt: begun.attempt,
    receiveCount: delivery.receiveCount,
    firstAttemptAtMs: begun.firstAttemptAtMs,
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
      if (result.rateLimit !== undefined) deps.rateLimitGovernor?.observe(result.rateLimit, deps.nowMs());
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
    receive_count: delivery.receiveCount,
    http_status: httpStatus,
    error_code: errorCode,
    ...describeDecision(decision),
  });
  await act(
    decision,
    { record, delivery, request, leaseToken: begun.leaseToken, httpStatus, errorCode, errorMessage, logKeys },
    deps,
  );
}

async function act(
  decision: Decision,
  attempt: {
    record: SQSRecord;
    delivery: Delivery;
    request: RunRequest;
    leaseToken: string | undefined;
    httpStatus: number | undefined;
    errorCode: string | undefined;
    errorMessage: string | undefined;
    logKeys: LogKeys;
  },
  deps: WorkerDeps,
): Promise<void> {
  const { record, delivery, request, leaseToken, httpStatus, errorCode, errorMessage, logKeys } = attempt;
  const key = request.idempotencyKey;
  const nowMs = deps.nowMs();
  switch (decision.action) {
    case 'succeed': {
      const written = await deps.outcomeStore.recordSuccess(key, {
        runId: decision.runId,
        httpStatus: httpStatus ?? 0,
        replayed: decision.replayed,
        nowMs,
        ...(leaseToken === undefined ? {} : { leaseToken }),
      });
      // Fenced out: another delivery claimed the key after this lease; it POSTs under the same key and gets
      // this run back as a replay, so the run is recorded either way.
      if (written === 'fenced') logFenced(deps, logKeys, 'recordSuccess');
      deps.metrics.addMetric(MetricName.succeeded, MetricUnit.Count, 1);
      return;
    }
    case 'retry': {
      if (decision.note !== undefined) {
        deps.logger.warn('kycert answer partly unusable', { ...logKeys, note: decision.note });
      }
      // The delay as SQS will apply it, so that the outcome says when the message really comes back.
      const delaySeconds = visibilityTimeoutSeconds(decision.delaySeconds, delivery, nowMs);
      const written: ResultWrite | boolean = await deps.outcomeStore.recordRetry(key, {
        cause: decision.cause,
        nextAttemptAtMs: nowMs + delaySeconds * 1000,
        nowMs,
        httpStatus,
        errorCode,
        errorMessage,
        ...(leaseToken === undefined ? {} : { leaseToken }),
      });
      if (written === 'alreadySucceeded') {
        // A concurrent copy succeeded meanwhile: this one is a duplicate, and the key is done.
        deps.metrics.addMetric(MetricName.duplicateDeliveries, MetricUnit.Count, 1);
        return;
      }
      // Fenced out or gone: the message itself still comes back, and then reads the key as it stands.
      if (written === 'fenced' || written === 'missing') logFenced(deps, logKeys, `recordRetry: ${written}`);
      deps.metrics.addMetric(RETRY_METRIC[decision.cause], MetricUnit.Count, 1);
      return defer(delivery, delaySeconds, decision.cause, logKeys, deps);
    }
    case 'deadLetter': {
      const reason = decision.code === undefined ? decision.reason : `${decision.reason}:${decision.code}`;
      // DLQ first, outcome second: if the outcome write fails, the record comes back and, at worst, the DLQ
      // holds two copies. The other order could acknowledge a message that never reached the DLQ.
      await deadLetter(record, delivery, { reason, detail: decision.detail, idempotencyKey: key }, deps);
      await deps.outcomeStore.recordFailure(key, {
        reason,
        attempted: true,
        leaseToken,
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

/**
 * Another delivery of the key holds its lease (it is calling kycert right now). Look again soon, backing off
 * with each receive, never later than its lease: a crashed holder does not block the key. On the last receive
 * before the redrive policy the copy is settled instead: acknowledged when the holder is another SQS message
 * (which carries the request on, whatever it meets), dead-lettered with a reason when it is this very message
 * delivered twice (deleting it would delete the holder's message too).
 */
async function waitForLease(
  record: SQSRecord,
  delivery: Delivery,
  request: RunRequest,
  lease: { leaseUntilMs: number; holderMessageId?: string | undefined },
  logKeys: LogKeys,
  deps: WorkerDeps,
): Promise<void> {
  if (isLastReceive(delivery.receiveCount, deps.policy)) {
    if (lease.holderMessageId !== undefined && lease.holderMessageId !== record.messageId) {
      deps.logger.info('duplicate of a key in flight, on its last receive: acknowledged', {
        ...logKeys,
        holder_message_id: lease.holderMessageId,
      });
      deps.metrics.addMetric(MetricName.duplicateDeliveries, MetricUnit.Count, 1);
      return;
    }
    return deadLetterCopy(
      record,
      delivery,
      request,
      {
        reason: DeadLetterReason.leaseHeldOnLastReceive,
        detail:
          'another delivery of this message held the key on its last receive; check the key with `kycert-queue status` before redriving',
      },
      logKeys,
      deps,
    );
  }
  const leaseLeftSeconds = Math.ceil((lease.leaseUntilMs - deps.nowMs()) / 1000);
  const delaySeconds = Math.max(
    1,
    Math.min(leaseLeftSeconds, backoffSeconds(delivery.receiveCount, deps.random(), deps.policy)),
  );
  return defer(delivery, delaySeconds, 'leased', logKeys, deps);
}

/** Every visibility change goes through here: the one rule of deliveryVisibility.ts, then back to SQS. */
async function defer(
  delivery: Delivery,
  delaySeconds: number,
  cause: string,
  logKeys: LogKeys,
  deps: WorkerDeps,
): Promise<never> {
  const seconds = visibilityTimeoutSeconds(delaySeconds, delivery, deps.nowMs());
  deps.logger.info('deferred', { ...logKeys, cause, delay_seconds: seconds });
  await deps.visibility.delay(delivery.receiptHandle, seconds);
  throw new RetryLaterError(delivery.messageId, seconds, cause);
}

/** A copy dead-lettered for what the key's outcome says: the outcome itself is left as it is. */
async function deadLetterCopy(
  record: SQSRecord,
  delivery: Delivery,
  request: RunRequest,
  entry: { reason: string; detail: string },
  logKeys: LogKeys,
  deps: WorkerDeps,
): Promise<void> {
  deps.logger.warn('copy dead-lettered', { ...logKeys, decision: 'deadLetter', reason: entry.reason });
  await deadLetter(record, delivery, { ...entry, idempotencyKey: request.idempotencyKey }, deps);
  countDeadLetter(deps.metrics, /^[a-z_]+/.exec(entry.reason)?.[0] ?? entry.reason);
}

async function deadLetter(
  record: SQSRecord,
  delivery: Delivery,
  entry: { reason: string; detail: string; idempotencyKey: string | undefined },
  deps: WorkerDeps,
): Promise<void> {
  await deps.deadLetterQueue.send({
    body: record.body,
    ...entry,
    sourceMessageId: record.messageId,
    receiveCount: delivery.receiveCount,
    nowMs: deps.nowMs(),
  });
}

function logFenced(deps: WorkerDeps, logKeys: LogKeys, write: string): void {
  deps.logger.warn('result write refused: another delivery holds the key', { ...logKeys, write });
  deps.metrics.addMetric(MetricName.fencedWrites, MetricUnit.Count, 1);
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

/** A producer may use a CPF as its own id or inside its key: mask it in logs like any document-like text. */
function logKeysOf(delivery: Delivery, key: string | undefined, externalId: string | undefined): LogKeys {
  return {
    message_id: delivery.messageId,
    idempotency_key: key === undefined ? undefined : maskIdempotencyKey(key),
    external_id: externalId === undefined ? undefined : redactDocuments(externalId),
  };
}
