import type { DecisionPublisher } from './decisionPublisher.js';
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
