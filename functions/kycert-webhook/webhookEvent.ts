import { z } from 'zod';
import { isTerminal, type RunResult, RunStatus, readRun } from '../kycert-worker/runResult.js';

/**
 * kycert's webhook envelope (its docs, api/webhooks):
 *   { "id": "evt_…", "object": "event", "event": "run.completed" | "run.failed", "created": <unix>,
 *     "livemode": bool, "data": { "object": <the run> } }
 * Read strictly where we rely on it (the id keys the dedupe item, `data.object` is the run), loosely elsewhere.
 */
export const WebhookEventType = { runCompleted: 'run.completed', runFailed: 'run.failed' } as const;

const EnvelopeSchema = z.object({
  // The id becomes part of a DynamoDB key: a bounded, printable token.
  id: z.string().regex(/^evt_[A-Za-z0-9_-]{1,200}$/),
  object: z.literal('event').optional(),
  event: z.string().min(1).max(100),
  created: z.number().nonnegative().optional(),
  livemode: z.boolean().optional(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

/** What a verified webhook is, decided from its body alone. */
export type ClassifiedWebhook =
  | {
      kind: 'run';
      eventId: string;
      eventType: string;
      result: RunResult;
      livemode: boolean | undefined;
      /** kycert's `created_at` of the run, when it says: the start of the time to decision. */
      runCreatedAtMs: number | undefined;
      /** Set when `event` and the run's status disagree (`run.completed` for a failed run): the status wins. */
      mismatch: string | undefined;
    }
  /** Another kind of event (kycert may add some): acknowledged, nothing recorded. */
  | { kind: 'ignored'; eventId: string; eventType: string }
  /** Not an event we can use; `problem` names fields, never their values (the run carries a CPF). */
  | { kind: 'invalid'; problem: string };

export function classifyWebhook(rawBody: string): ClassifiedWebhook {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return { kind: 'invalid', problem: 'the body is not JSON' };
  }
  const parsed = EnvelopeSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || 'body'))];
    return { kind: 'invalid', problem: `not kycert's event envelope: ${fields.join(', ')}` };
  }
  const envelope = parsed.data;
  if (envelope.event !== WebhookEventType.runCompleted && envelope.event !== WebhookEventType.runFailed) {
    return { kind: 'ignored', eventId: envelope.id, eventType: envelope.event };
  }
  const result = readRun(envelope.data.object);
  if (result === undefined) {
    return {
      kind: 'invalid',
      problem: 'data.object is not a run (no run id, or a status kycert does not document)',
    };
  }
  if (!isTerminal(result.status)) {
    return { kind: 'invalid', problem: `data.object.status is ${result.status}, not a terminal status` };
  }
  const failed = result.status === RunStatus.failed;
  const expected = failed ? WebhookEventType.runFailed : WebhookEventType.runCompleted;
  const createdAt = envelope.data.object.created_at;
  const createdAtMs = typeof createdAt === 'string' ? Date.parse(createdAt) : Number.NaN;
  return {
    kind: 'run',
    eventId: envelope.id,
    eventType: envelope.event,
    result,
    livemode: envelope.livemode,
    runCreatedAtMs: Number.isFinite(createdAtMs) ? createdAtMs : undefined,
    mismatch:
      envelope.event === expected
        ? undefined
        : `event ${envelope.event} for a run whose status is ${result.status}`,
  };
}
