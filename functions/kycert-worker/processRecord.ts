import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import type { ApiKeySource } from './apiKeySource.js';
import { redactDocuments } from './brazilianDocument.js';
import { DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS } from './constants.js';
import type { DeadLetterQueue } from './deadLetterQueue.js';
import type { DecisionPublisher } from './decisionPublisher.js';
import { type Delivery, readDelivery, visibilityTimeoutSeconds } from './deliveryVisibility.js';
import { RetryLaterError } from './errors.js';
import { type AccountBlockCode, type BreakerView, nextProbeBackoffMs } from './flowControl.js';
import { bookedSlotOf, type FlowControlDeps, type GateResult, passFlowGate } from './flowGate.js';
import type { CreateRunOutcome } from './kycertClient.js';
import { maskIdempotencyKey } from './maskIdempotencyKey.js';
import type { MessageVisibility } from './messageVisibility.js';
import { MetricName } from './metricNames.js';
import type { OutcomeStore, ResultWrite } from './outcomeStore.js';
import type { StatusCheckDeps } from './processStatusCheck.js';
import type { RateLimitGovernor } from './rateLimitGovernor.js';
import { recordDecisionMetrics, recordRunDecision } from './recordRunDecision.js';
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
import type { RunResult } from './runResult.js';
import { nextStatusCheck } from './statusCheckSchedule.js';

/** Everything a record needs, injected so that tests and the local pipeline supply their own. */
export interface WorkerDeps {
  policy: RetryPolicyOptions;
  kycert: {
    createRun(request: RunRequest): Promise<CreateRunOutcome>;
    getRun?(runId: string): Promise<CreateRunOutcome>;
  };
  /** The status checks' queue and schedule (processStatusCheck.ts); absent: runs are not followed. */
  statusChecks?: StatusCheckDeps | undefined;
  /** Tells the producers of each decision (EventBridge); absent: decisions are recorded only. */
  publisher?: DecisionPublisher | undefined;
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
  /**
   * The shared rate schedule and account breaker (flowGate.ts). Absent in tests that exercise the rest alone:
   * then nothing paces the calls, and an account-level answer only defers its own message.
   */
  flowControl?: FlowControlDeps | undefined;
  /** This environment's view of kycert's window, from its X-RateLimit-* headers; corrects the shared schedule. */
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
  account_blocked: MetricName.accountBlocked,
} as const;

/** Without the shared breaker (tests), an account-level answer defers its own message this long. */
const UNSHARED_PAUSE_SECONDS = 30;

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
    // A redelivery of this very message after the worker dead-lettered it (its invocation ended before the
    // event source could delete it) is acknowledged, not sent twice. A first receive cannot be one: no read.
    if (idempotencyKey !== undefined && delivery.receiveCount > 1) {
      const item = await deps.outcomeStore.get(idempotencyKey);
      if (item?.status?.S === 'failed' && item.dead_letter_message_id?.S === record.messageId) {
        return acknowledgeDeadLettered(
          delivery,
          item.dead_letter_reason?.S,
          logKeysOf(delivery, idempotencyKey, externalId),
          deps,
        );
      }
    }
    await deadLetter(record, delivery, { reason, detail, idempotencyKey }, deps);
    if (idempotencyKey !== undefined) {
      await deps.outcomeStore.recordFailure(idempotencyKey, {
        reason,
        errorMessage: detail,
        attempted: false,
        externalId,
        templateId,
        messageId: record.messageId,
        nowMs: deps.nowMs(),
      });
    }
    countDeadLetter(deps.metrics, DeadLetterReason.invalidMessage);
    return;
  }

  const request = parsed.request;
  const logKeys = logKeysOf(delivery, request.idempotencyKey, request.externalId);
  const retentionSeconds = deps.policy.queueRetentionSeconds;
  if (retentionSeconds !== undefined && deps.nowMs() - delivery.sentAtMs > (retentionSeconds - 3600) * 1000) {
    return giveUp(
      record,
      delivery,
      request,
      {
        reason: DeadLetterReason.messageExpiring,
        detail: `the message is ${Math.round((deps.nowMs() - delivery.sentAtMs) / 3_600_000)} h old, within an hour of the queue's retention`,
      },
      logKeys,
      deps,
    );
  }
  let probe: BreakerView | undefined;
  // A message back a second time or more may have booked a slot on its key, or find the key finished.
  const known =
    deps.flowControl !== undefined && delivery.receiveCount > 1
      ? await deps.outcomeStore.get(request.idempotencyKey)
      : undefined;
  const finished = known?.status?.S === 'succeeded' || known?.status?.S === 'failed';
  if (deps.flowControl === undefined || finished) {
    // The credential first: if Secrets Manager is down, the record fails here, before an attempt is counted.
    // A finished key needs no slot: the claim below settles the copy without a POST.
    await deps.apiKey?.get();
  } else {
    const gate = await passFlowGate(deps.flowControl, {
      nowMs: deps.nowMs,
      random: deps.random,
      bookedSlotAtMs: bookedSlotOf(known?.reserved_slot_ms),
      messageSentAtMs: delivery.sentAtMs,
      lastReceive: isLastReceive(delivery.receiveCount, deps.policy),
      deadlineMs: invocation.deadlineMs,
      governor: deps.rateLimitGovernor,
      apiKey: deps.apiKey,
    });
    if (gate.kind !== 'go') {
      const settled = await settleGate(gate, record, delivery, request, logKeys, deps);
      if (settled) return;
    } else {
      probe = gate.probe;
    }
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
      // This very message, dead-lettered by an earlier delivery whose invocation did not end in time: the DLQ
      // has it already.
      if (begun.deadLetterMessageId === record.messageId) {
        return acknowledgeDeadLettered(delivery, begun.deadLetterReason, logKeys, deps);
      }
      // Never acknowledged as a duplicate otherwise: this copy may be the only one left (a DLQ message moved
      // back by SQS's own redrive, a corrected re-send). The DLQ keeps it, with the key's reason beside its own.
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
      return attempt(record, delivery, request, begun, probe, logKeys, deps);
  }
}

/**
 * A delivery of a message the worker already dead-lettered (same SQS message id, recorded on the key): its
 * earlier delivery sent it to the DLQ and recorded the key's failure, but its invocation ended too late for
 * the event source to delete it. Acknowledged: a second DLQ copy would only make the operator redrive twice.
 */
function acknowledgeDeadLettered(
  delivery: Delivery,
  reason: string | undefined,
  logKeys: LogKeys,
  deps: WorkerDeps,
): void {
  deps.logger.info('already dead-lettered by an earlier delivery of this message', {
    ...logKeys,
    receive_count: delivery.receiveCount,
    reason,
  });
  deps.metrics.addMetric(MetricName.duplicateDeliveries, MetricUnit.Count, 1);
}

/** A valid message given up before its claim: the DLQ with its reason, and the key's outcome says so. */
async function giveUp(
  record: SQSRecord,
  delivery: Delivery,
  request: RunRequest,
  entry: { reason: string; detail: string },
  logKeys: LogKeys,
  deps: WorkerDeps,
): Promise<void> {
  deps.logger.warn('given up before a POST', { ...logKeys, decision: 'deadLetter', reason: entry.reason });
  await deadLetter(record, delivery, { ...entry, idempotencyKey: request.idempotencyKey }, deps);
  await deps.outcomeStore.recordFailure(request.idempotencyKey, {
    reason: entry.reason,
    attempted: 'withoutClaim',
    errorMessage: entry.detail,
    externalId: request.externalId,
    templateId: request.templateId,
    messageId: record.messageId,
    nowMs: deps.nowMs(),
  });
  countDeadLetter(deps.metrics, /^[a-z_]+/.exec(entry.reason)?.[0] ?? entry.reason);
}

/**
 * A delivery the flow gate held back: come back later (not an attempt), or, paused too long, the DLQ. Returns
 * false when the key turned out to be finished (its booking refused): the claim then settles the copy.
 */
async function settleGate(
  gate: Exclude<GateResult, { kind: 'go' }>,
  record: SQSRecord,
  delivery: Delivery,
  request: RunRequest,
  logKeys: LogKeys,
  deps: WorkerDeps,
): Promise<boolean> {
  if (gate.kind === 'giveUp') {
    const reason = `${DeadLetterReason.kycertAccountBlocked}:${gate.code}`;
    await giveUp(record, delivery, request, { reason, detail: gate.detail }, logKeys, deps);
    return true;
  }
  if (gate.slotAtMs !== undefined) {
    const booked = await deps.outcomeStore.recordBooking(request.idempotencyKey, {
      slotAtMs: gate.slotAtMs,
      nowMs: deps.nowMs(),
    });
    if (!booked) return false;
    deps.metrics.addMetric(MetricName.deferredForRateBudget, MetricUnit.Count, 1);
  } else {
    deps.metrics.addMetric(MetricName.pausedForAccount, MetricUnit.Count, 1);
    if (gate.apiKeyUnset === true) deps.metrics.addMetric(MetricName.apiKeyUnset, MetricUnit.Count, 1);
  }
  return defer(delivery, gate.delaySeconds, gate.cause, logKeys, deps);
}

async function attempt(
  record: SQSRecord,
  delivery: Delivery,
  request: RunRequest,
  begun: { attempt: number; firstAttemptAtMs: number; leaseToken?: string },
  probe: BreakerView | undefined,
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
  let run: RunResult | undefined;
  if (decision === undefined) {
    const { result, latencyMs, credentialRefreshed } = await deps.kycert.createRun(request);
    deps.metrics.addMetric(MetricName.kycertLatency, MetricUnit.Milliseconds, latencyMs);
    if (result.kind === 'response') {
      ({ httpStatus, errorCode, errorMessage, run } = result);
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
    {
      record,
      delivery,
      request,
      leaseToken: begun.leaseToken,
      probe,
      run,
      httpStatus,
      errorCode,
      errorMessage,
      logKeys,
    },
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
    /** The breaker this delivery probes, when it is the probe. */
    probe: BreakerView | undefined;
    /** The run as kycert's answer describes it (the 202's body: queued, with its estimate). */
    run: RunResult | undefined;
    httpStatus: number | undefined;
    errorCode: string | undefined;
    errorMessage: string | undefined;
    logKeys: LogKeys;
  },
  deps: WorkerDeps,
): Promise<void> {
  const { record, delivery, request, leaseToken, probe, httpStatus, errorCode, errorMessage, logKeys } =
    attempt;
  const key = request.idempotencyKey;
  const nowMs = deps.nowMs();
  const flow = deps.flowControl;
  // A probe that met neither a success nor the account's block (a 5xx, a 429) leaves the breaker open, and
  // frees it for the next probe after the same backoff.
  if (probe?.state === 'open' && decision.action !== 'succeed' && decision.action !== 'pause') {
    await flow?.shared.open(probe.code, nowMs, probe.backoffMs, true);
  }
  switch (decision.action) {
    case 'succeed': {
      const estimatedSeconds = attempt.run?.estimatedSeconds ?? null;
      // The first check before the success is recorded: a record that fails between the two comes back,
      // its POST is replayed, and it schedules again — never a recorded run that nobody follows.
      const firstCheckSeconds = await scheduleFirstCheck(
        decision.runId,
        estimatedSeconds,
        request,
        nowMs,
        deps,
      );
      const written = await deps.outcomeStore.recordSuccess(key, {
        runId: decision.runId,
        httpStatus: httpStatus ?? 0,
        replayed: decision.replayed,
        nowMs,
        estimatedSeconds,
        nextCheckAtMs: firstCheckSeconds === undefined ? undefined : nowMs + firstCheckSeconds * 1000,
        ...(leaseToken === undefined ? {} : { leaseToken }),
      });
      // Fenced out: another delivery claimed the key after this lease; it POSTs under the same key and gets
      // this run back as a replay, so the run is recorded either way.
      if (written === 'fenced') logFenced(deps, logKeys, 'recordSuccess');
      deps.metrics.addMetric(MetricName.succeeded, MetricUnit.Count, 1);
      if (written !== 'fenced' && deps.statusChecks?.webhooksEnabled === true) {
        await takeEarlyWebhook(decision.runId, request, nowMs, deps, logKeys);
      }
      // The first success closes the breaker: the probe's, or any that went out while it opened.
      if (flow !== undefined && (probe !== undefined || flow.shared.cachedBreaker(nowMs)?.state === 'open')) {
        if (await flow.shared.close(nowMs)) deps.logger.info('account unblocked: the flow resumes', logKeys);
      }
      return;
    }
    case 'pause':
      return pauseForAccount(decision.code, decision.detail, attempt, deps);
    case 'retry': {
      if (decision.note !== undefined) {
        deps.logger.warn('kycert answer partly unusable', { ...logKeys, note: decision.note });
      }
      let wantedSeconds = decision.delaySeconds;
      let reservedSlotMs: number | undefined;
      if (flow !== undefined && decision.cause === 'rate_limited') {
        // No call before kycert's window turns, for any environment; this message takes its place in the line
        // behind that, and the held-back messages are spread over the following windows, not woken together.
        await flow.shared.holdUntil(nowMs + decision.delaySeconds * 1000, nowMs);
        const reservation = await flow.shared.reserve(nowMs);
        if (reservation.kind === 'slot') {
          reservedSlotMs = reservation.atMs;
          wantedSeconds = Math.max(
            1,
            Math.floor((reservation.atMs - nowMs - flow.options.deferLeadMs) / 1000),
          );
        }
      }
      // The delay as SQS will apply it, so that the outcome says when the message really comes back.
      const delaySeconds = visibilityTimeoutSeconds(wantedSeconds, delivery, nowMs);
      const written: ResultWrite | boolean = await deps.outcomeStore.recordRetry(key, {
        cause: decision.cause,
        nextAttemptAtMs: nowMs + delaySeconds * 1000,
        nowMs,
        httpStatus,
        errorCode,
        errorMessage,
        reservedSlotMs,
        giveBackAttempt: decision.givesBackAttempt === true,
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
        messageId: record.messageId,
        nowMs,
      });
      countDeadLetter(deps.metrics, decision.reason);
      return;
    }
  }
}

/**
 * The run's first status check, on its own queue: at kycert's estimate (the schedule, statusCheckSchedule.ts).
 * Also for a replay: its body is the original answer (queued), so only a check can tell where the run is.
 */
async function scheduleFirstCheck(
  runId: string,
  estimatedSeconds: number | null,
  request: RunRequest,
  nowMs: number,
  deps: WorkerDeps,
): Promise<number | undefined> {
  const checks = deps.statusChecks;
  if (checks === undefined) return undefined;
  const next = nextStatusCheck(
    { acceptedAtMs: nowMs, nowMs, checksDone: 0, estimatedSeconds },
    checks.options,
  );
  const delaySeconds = next.action === 'check' ? next.delaySeconds : 0;
  await checks.queue.schedule(
    {
      v: 1,
      idempotency_key: request.idempotencyKey,
      run_id: runId,
      accepted_at_ms: nowMs,
      estimated_seconds: estimatedSeconds,
      external_id: request.externalId === undefined ? null : redactDocuments(request.externalId),
    },
    delaySeconds,
  );
  return delaySeconds;
}

/**
 * kycert said the account is blocked (402, 403, a 401 that persisted): not this message's fault. The attempt is
 * given back (no run was created, nothing billed), the breaker opens for every environment — or, after a
 * failed probe, stays open with a doubled backoff — and the message waits for the next probe.
 */
async function pauseForAccount(
  code: AccountBlockCode,
  detail: string,
  attempt: Parameters<typeof act>[1],
  deps: WorkerDeps,
): Promise<void> {
  const { delivery, request, leaseToken, probe, httpStatus, errorCode, errorMessage, logKeys } = attempt;
  const nowMs = deps.nowMs();
  const flow = deps.flowControl;
  const backoffMs =
    flow === undefined
      ? UNSHARED_PAUSE_SECONDS * 1000
      : nextProbeBackoffMs(probe ?? { state: 'closed' }, flow.options);
  await flow?.shared.open(code, nowMs, backoffMs, probe !== undefined);
  const delaySeconds = visibilityTimeoutSeconds(
    Math.ceil((backoffMs * (1 + deps.random() / 2)) / 1000),
    delivery,
    nowMs,
  );
  await deps.outcomeStore.recordRetry(request.idempotencyKey, {
    cause: 'account_blocked',
    nextAttemptAtMs: nowMs + delaySeconds * 1000,
    nowMs,
    httpStatus,
    errorCode,
    errorMessage: errorMessage ?? detail,
    giveBackAttempt: true,
    ...(leaseToken === undefined ? {} : { leaseToken }),
  });
  deps.logger.warn('kycert account blocked: the flow pauses', {
    ...logKeys,
    code,
    next_probe_seconds: backoffMs / 1000,
  });
  deps.metrics.addMetric(MetricName.accountBlocked, MetricUnit.Count, 1);
  return defer(delivery, delaySeconds, 'paused_for_account', logKeys, deps);
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
    case 'pause':
      return { decision: 'pause', code: decision.code };
  }
}

/**
 * kycert's webhook for this run may have come before its POST's answer was recorded (a fast run, a slow
 * answer, a retry): the receiver found no key holding the run and parked the result by run id. Taken now,
 * it decides the run at once rather than at the first status check, which then finds it decided.
 */
async function takeEarlyWebhook(
  runId: string,
  request: RunRequest,
  nowMs: number,
  deps: WorkerDeps,
  logKeys: LogKeys,
): Promise<void> {
  const parked = await deps.outcomeStore.takeParkedRunResult(runId, { nowMs });
  if (parked === undefined) return;
  const written = await recordRunDecision(
    { outcomeStore: deps.outcomeStore, publisher: deps.publisher },
    {
      idempotencyKey: request.idempotencyKey,
      externalId: request.externalId === undefined ? null : redactDocuments(request.externalId),
      result: parked,
      source: 'webhook',
      nowMs,
    },
  );
  if (written.kind === 'recorded') {
    deps.logger.info('run decided by a webhook that came before the answer', {
      ...logKeys,
      run_id: runId,
      run_status: parked.status,
      decision: parked.decision,
    });
    recordDecisionMetrics(deps.metrics, parked, 0);
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
