import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DecisionPublisher } from './decisionPublisher.js';
import { MetricName } from './metricNames.js';
import type { OutcomeStore, RunResultWrite } from './outcomeStore.js';
import type { RunResult } from './runResult.js';

/**
 * A terminal run result, from a status check or a webhook, into the outcome item, and then to the producers:
 * the write that makes the run terminal publishes its event; a result found terminal but not yet published
 * (a crash between the two) is published once that write's claim has lapsed. Whichever of the two paths comes first wins; the other changes
 * nothing, so a webhook arriving before, during or after a status check never loses nor doubles the decision.
 */
export async function recordRunDecision(
  parts: { outcomeStore: OutcomeStore; publisher: DecisionPublisher | undefined },
  decision: {
    idempotencyKey: string;
    externalId: string | null;
    result: RunResult;
    source: 'status_check' | 'webhook';
    nowMs: number;
  },
): Promise<RunResultWrite> {
  const { outcomeStore, publisher } = parts;
  const written = await outcomeStore.recordRunResult(decision.idempotencyKey, decision.result, {
    nowMs: decision.nowMs,
    source: decision.source,
  });
  // The deciding write holds the publication; a decision found unpublished is sent only once its claim lapsed
  // (its delivery crashed before publishing), never beside a publication in flight.
  const publishes =
    publisher !== undefined &&
    (written.kind === 'recorded' ||
      (written.kind === 'alreadyTerminal' &&
        !written.published &&
        (await outcomeStore.claimDecisionPublication(decision.idempotencyKey, { nowMs: decision.nowMs }))));
  if (publishes && publisher !== undefined) {
    await publisher.publish(decision.result, {
      idempotencyKey: decision.idempotencyKey,
      externalId: decision.externalId,
      decidedAtMs: decision.nowMs,
    });
    await outcomeStore.recordDecisionPublished(decision.idempotencyKey, { nowMs: decision.nowMs });
  }
  return written;
}

/**
 * The metrics of a run just decided, by whichever path (a status check, an early webhook taken by the worker,
 * the receiver): one `Decided`, one per run status, and the time to the decision when it is known.
 */
export function recordDecisionMetrics(
  metrics: Metrics,
  result: RunResult,
  timeToDecisionMs: number | undefined,
): void {
  metrics.addMetric(MetricName.decided, MetricUnit.Count, 1);
  if (timeToDecisionMs !== undefined) {
    metrics.addMetric(MetricName.timeToDecision, MetricUnit.Milliseconds, timeToDecisionMs);
  }
  const byStatus = metrics.singleMetric();
  byStatus.addDimension('run_status', result.status);
  byStatus.addMetric(MetricName.decided, MetricUnit.Count, 1);
}
