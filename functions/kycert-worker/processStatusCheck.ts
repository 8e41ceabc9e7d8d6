import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import { readDelivery, visibilityTimeoutSeconds } from './deliveryVisibility.js';
import { RetryLaterError } from './errors.js';
import { bookedSlotOf, passFlowGate } from './flowGate.js';
import type { KycertResult } from './kycertClient.js';
import { maskIdempotencyKey } from './maskIdempotencyKey.js';
import type { MessageVisibility } from './messageVisibility.js';
import { MetricName } from './metricNames.js';
import type { Invocation, WorkerDeps } from './processRecord.js';
import { recordDecisionMetrics, recordRunDecision } from './recordRunDecision.js';
import { backoffSeconds, rateLimitedDelay } from './retryPolicy.js';
import { isTerminal, type RunResult } from './runResult.js';
import { parseStatusCheck, type StatusCheckMessage, type StatusCheckQueue } from './statusCheckQueue.js';
import { nextStatusCheck, type StatusCheckOptions } from './statusCheckSchedule.js';

/** The status checks' parts of the worker's dependencies. */
export interface StatusCheckDeps {
  queue: StatusCheckQueue;
  /** Visibility changes on the status checks' queue. */
  visibility: MessageVisibility;
  options: StatusCheckOptions;
  /**
   * kycert sends webhooks to this stack: one may come before the POST's answer is recorded, and the receiver
   * then parks its result by run id (functions/kycert-webhook) for the worker to take.
   */
  webhooksEnabled: boolean;
}

type LogKeys = { message_id: string; idempotency_key: string; run_id: string };

/**
 * One status check: is the run still queued at kycert? The check message comes back (through its visibility
 * timeout) until the run is terminal or overdue; waiting for it, for the rate budget or after a kycert
 * failure is never an error. The result is recorded with recordRunDecision, the one way a decision is
 * written and published, so a webhook that got there first leaves this check nothing to do.
 */
export async function processStatusCheck(
  record: SQSRecord,
  deps: WorkerDeps,
  checks: StatusCheckDeps,
  invocation: Invocation,
): Promise<void> {
  const check = parseStatusCheck(record.body);
  if (check === undefined) {
    // Only the worker writes this queue: an unreadable message is a bug, not a request. Said loudly, then dropped.
    deps.logger.error('unreadable status check message: dropped', { message_id: record.messageId });
    deps.metrics.addMetric(MetricName.unexpectedErrors, MetricUnit.Count, 1);
    return;
  }
  const delivery = readDelivery(record, invocation.startedAtMs, deps.queueVisibilityTimeoutSeconds ?? 5_400);
  const logKeys: LogKeys = {
    message_id: record.messageId,
    idempotency_key: maskIdempotencyKey(check.idempotency_key),
    run_id: check.run_id,
  };
  const defer = async (delaySeconds: number, cause: string): Promise<never> => {
    const seconds = visibilityTimeoutSeconds(delaySeconds, delivery, deps.nowMs());
    deps.logger.info('status check deferred', { ...logKeys, cause, delay_seconds: seconds });
    await checks.visibility.delay(record.receiptHandle, seconds);
    throw new RetryLaterError(record.messageId, seconds, cause);
  };

  const item = await deps.outcomeStore.get(check.idempotency_key);
  if (item === undefined || item.run_id?.S !== check.run_id) {
    // The key is gone (TTL, an operator) or holds another run: nothing left to follow.
    deps.logger.warn('status check for a run the key no longer holds: dropped', logKeys);
    return;
  }
  const runStatus = item.run_status?.S;
  if (runStatus !== undefined && runStatus !== 'queued') {
    // Decided already (a webhook, an earlier copy of this check) or overdue: at most its event is still owed.
    if (item.decision_published_at === undefined && runStatus !== 'decision_overdue') {
      await publishStored(item, check, deps);
    }
    return;
  }
  // A webhook that came before the POST's answer was recorded waits here, parked by its run id.
  if (checks.webhooksEnabled) {
    const parked = await deps.outcomeStore.takeParkedRunResult(check.run_id, { nowMs: deps.nowMs() });
    if (parked !== undefined) return settle(parked, check, 'webhook', deps, logKeys);
  }

  const checksDone = Number(item.status_checks?.N ?? 0);
  const next = nextStatusCheck(
    {
      acceptedAtMs: check.accepted_at_ms,
      nowMs: deps.nowMs(),
      checksDone,
      estimatedSeconds: check.estimated_seconds,
    },
    checks.options,
  );
  const markOverdue = async (): Promise<void> => {
    if (
      await deps.outcomeStore.recordDecisionOverdue(check.idempotency_key, {
        runId: check.run_id,
        nowMs: deps.nowMs(),
      })
    ) {
      deps.logger.warn('no decision in time: decision_overdue', { ...logKeys, checks: checksDone });
      deps.metrics.addMetric(MetricName.decisionOverdue, MetricUnit.Count, 1);
    }
  };
  // Past the overdue time, kycert is asked once more (the check that finds the deadline passed may be the
  // first one in a while: a wait for the rate budget, a slow queue), unless the deadline is long gone.
  const finalCheck = next.action === 'overdue';
  const overdueAtMs = check.accepted_at_ms + checks.options.overdueAfterSeconds * 1000;
  if (finalCheck && deps.nowMs() >= overdueAtMs + checks.options.maxIntervalSeconds * 1000)
    return markOverdue();
  if (!finalCheck && next.delaySeconds > 0) return defer(next.delaySeconds, 'not_due');

  const bookedSlotAtMs = bookedSlotOf(item.check_slot_ms);
  // A booked slot stays usable for a while after its time (createWorkerDeps.ts, maxLateMs): once this check
  // has used it, it must not be used again by the next delivery.
  const forgetUsedSlot = async (): Promise<void> => {
    if (bookedSlotAtMs !== undefined)
      await deps.outcomeStore.forgetCheckBooking(check.idempotency_key, { nowMs: deps.nowMs() });
  };
  if (deps.flowControl !== undefined) {
    const gate = await passFlowGate(deps.flowControl, {
      nowMs: deps.nowMs,
      random: deps.random,
      bookedSlotAtMs,
      messageSentAtMs: delivery.sentAtMs,
      lastReceive: false,
      deadlineMs: invocation.deadlineMs,
      governor: deps.rateLimitGovernor,
      apiKey: deps.apiKey,
      purpose: 'statusCheck',
    });
    if (gate.kind === 'giveUp') return defer(checks.options.maxIntervalSeconds, 'paused_for_account');
    if (gate.kind === 'wait') {
      if (gate.slotAtMs !== undefined) {
        await deps.outcomeStore.recordCheckBooking(check.idempotency_key, {
          slotAtMs: gate.slotAtMs,
          nowMs: deps.nowMs(),
        });
      }
      return defer(gate.delaySeconds, gate.cause);
    }
  }

  const getRun = deps.kycert.getRun;
  if (getRun === undefined) throw new Error('the kycert client cannot check a run (no getRun)');
  const { result, latencyMs } = await getRun.call(deps.kycert, check.run_id);
  deps.metrics.addMetric(MetricName.statusChecks, MetricUnit.Count, 1);
  deps.metrics.addMetric(MetricName.kycertLatency, MetricUnit.Milliseconds, latencyMs);
  if (result.kind === 'response' && result.rateLimit !== undefined) {
    deps.rateLimitGovernor?.observe(result.rateLimit, deps.nowMs());
  }
  const failures = checkFailures(item);
  const answer = classify(result);
  // The last check got no usable answer: the deadline is past, the run is overdue.
  if (finalCheck && answer !== 'run') return markOverdue();
  switch (answer) {
    case 'run': {
      const run = (result as { run: RunResult }).run;
      if (isTerminal(run.status)) return settle(run, check, 'status_check', deps, logKeys);
      if (finalCheck) return markOverdue();
      const after = nextStatusCheck(
        {
          acceptedAtMs: check.accepted_at_ms,
          nowMs: deps.nowMs(),
          checksDone: checksDone + 1,
          estimatedSeconds: check.estimated_seconds,
        },
        checks.options,
      );
      const delaySeconds = after.action === 'check' ? after.delaySeconds : 0;
      await deps.outcomeStore.recordStatusCheck(check.idempotency_key, {
        nowMs: deps.nowMs(),
        nextCheckAtMs: deps.nowMs() + delaySeconds * 1000,
      });
      return defer(Math.max(1, delaySeconds), 'queued_at_kycert');
    }
    case 'notFound':
      // kycert accepted this run: a 404 is its error (or a wrong key), worth an alarm, never a silent drop.
      deps.logger.error('kycert does not know a run it accepted', { ...logKeys, http_status: 404 });
      deps.metrics.addMetric(MetricName.runNotFound, MetricUnit.Count, 1);
      await deps.outcomeStore.recordStatusCheckFailure(check.idempotency_key, { nowMs: deps.nowMs() });
      return defer(backoffSeconds(failures + 1, deps.random(), deps.policy), 'run_not_found');
    case 'rateLimited': {
      const { delaySeconds } = rateLimitedDelay(
        result as Extract<KycertResult, { kind: 'response' }>,
        { nowMs: deps.nowMs(), random: deps.random() },
        deps.policy,
      );
      await deps.flowControl?.shared.holdUntil(deps.nowMs() + delaySeconds * 1000, deps.nowMs());
      await forgetUsedSlot();
      deps.metrics.addMetric(MetricName.retriedRateLimited, MetricUnit.Count, 1);
      return defer(delaySeconds, 'rate_limited');
    }
    case 'unauthorized':
      // The key refused twice (revoked), or lacks `runs:read`: the POSTs' own answers pause the flow if the
      // account is blocked; the checks wait, and end overdue (an alarm) if it never mends.
      deps.logger.warn('kycert refused the status check', { ...logKeys, http_status: httpStatusOf(result) });
      deps.metrics.addMetric(MetricName.authenticationFailures, MetricUnit.Count, 1);
      await forgetUsedSlot();
      return defer(checks.options.maxIntervalSeconds, 'status_check_refused');
    case 'retryable':
      await deps.outcomeStore.recordStatusCheckFailure(check.idempotency_key, { nowMs: deps.nowMs() });
      deps.metrics.addMetric(
        result.kind === 'networkError' ? MetricName.retriedNetworkError : MetricName.retriedServerError,
        MetricUnit.Count,
        1,
      );
      return defer(backoffSeconds(failures + 1, deps.random(), deps.policy), 'server_or_network_error');
  }
}

/** What a status check's answer is, for what to do next. */
function classify(result: KycertResult): 'run' | 'notFound' | 'rateLimited' | 'unauthorized' | 'retryable' {
  if (result.kind === 'networkError') return 'retryable';
  const status = result.httpStatus;
  if (status >= 200 && status < 300 && result.run !== undefined) return 'run';
  if (status === 404) return 'notFound';
  if (status === 429) return 'rateLimited';
  if (status === 401 || status === 403) return 'unauthorized';
  // A 5xx, a 2xx kycert's run reader could not read, anything else: the same check again, later.
  return 'retryable';
}

function httpStatusOf(result: KycertResult): number | undefined {
  return result.kind === 'response' ? result.httpStatus : undefined;
}

/** Checks that got no usable answer since the last one that did: the backoff's attempt number. */
function checkFailures(item: Record<string, { N?: string }>): number {
  return Number(item.status_check_failures?.N ?? 0);
}

async function settle(
  result: RunResult,
  check: StatusCheckMessage,
  source: 'status_check' | 'webhook',
  deps: WorkerDeps,
  logKeys: LogKeys,
): Promise<void> {
  const nowMs = deps.nowMs();
  const written = await recordRunDecision(
    { outcomeStore: deps.outcomeStore, publisher: deps.publisher },
    { idempotencyKey: check.idempotency_key, externalId: check.external_id, result, source, nowMs },
  );
  if (written.kind === 'recorded') {
    deps.logger.info('run decided', {
      ...logKeys,
      run_status: result.status,
      decision: result.decision,
      source,
    });
    recordDecisionMetrics(deps.metrics, result, Math.max(0, nowMs - check.accepted_at_ms));
  }
}

/** A decision recorded but its event never sent (a crash between the two): sent now, from the item. */
async function publishStored(
  item: Record<string, { S?: string; NULL?: boolean }>,
  check: StatusCheckMessage,
  deps: WorkerDeps,
): Promise<void> {
  const status = item.run_status?.S;
  if (deps.publisher === undefined || status === undefined) return;
  await recordRunDecision(
    { outcomeStore: deps.outcomeStore, publisher: deps.publisher },
    {
      idempotencyKey: check.idempotency_key,
      externalId: check.external_id,
      result: {
        runId: check.run_id,
        status: status as RunResult['status'],
        decision: item.decision?.S ?? null,
        riskBand: item.risk_band?.S ?? null,
        completedAt: item.completed_at?.S ?? null,
        failedAt: item.failed_at?.S ?? null,
        estimatedSeconds: null,
      },
      source: (item.decision_source?.S as 'status_check' | 'webhook' | undefined) ?? 'status_check',
      nowMs: deps.nowMs(),
    },
  );
}
