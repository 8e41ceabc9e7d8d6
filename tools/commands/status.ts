import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { deriveIdempotencyKey } from '../../functions/kycert-worker/runRequestMessage.js';
import { CliError, UsageError } from '../errors.js';
import { maskText } from '../mask.js';
import { type Outcome, toOutcome } from '../outcome.js';
import { block, humanSeconds, timeAgo } from '../output.js';

/** The key to look up: given, or derived from `--template` and `--external-id` as the worker derives it. */
export function keyToLookUp(
  key: string | undefined,
  flags: { template?: string | undefined; externalId?: string | undefined },
): string {
  const derive = flags.template !== undefined || flags.externalId !== undefined;
  if (key !== undefined && derive) {
    throw new UsageError('give an idempotency key, or --template with --external-id, not both');
  }
  if (key !== undefined) return key;
  if (flags.template === undefined || flags.externalId === undefined) {
    throw new UsageError('status needs an idempotency key, or --template with --external-id');
  }
  return deriveIdempotencyKey(flags.template, flags.externalId);
}

/** The outcome of one key, read consistently. @throws CliError when the table has none. */
export async function getOutcome(dynamodb: DynamoDBClient, tableName: string, key: string): Promise<Outcome> {
  const { Item } = await dynamodb.send(
    new GetItemCommand({ TableName: tableName, Key: { idempotency_key: { S: key } }, ConsistentRead: true }),
  );
  if (Item === undefined) {
    throw new CliError(
      `no outcome for key ${key} (not processed yet, or the key is wrong; a message without idempotency_key ` +
        'has a key derived from template_id and external_id: try --template and --external-id)',
    );
  }
  return toOutcome(Item);
}

export function renderOutcome(outcome: Outcome, nowMs: number, windowHours: number): string {
  const o = outcome;
  const statusLine =
    o.status === 'failed' && o.dead_letter_reason !== undefined
      ? `failed — ${o.dead_letter_reason}`
      : o.status === 'succeeded'
        ? `succeeded${o.replayed === true ? ' (run id from a replay)' : ''}`
        : o.status;
  const lastError =
    o.last_error_code === undefined && o.last_error_message === undefined
      ? undefined
      : [o.last_error_code, maskText(o.last_error_message)].filter((part) => part !== undefined).join(': ');
  const firstAttemptMs = o.first_attempt_at === undefined ? Number.NaN : Date.parse(o.first_attempt_at);
  const windowEndsMs = firstAttemptMs + windowHours * 3_600_000;
  const windowNote = Number.isNaN(firstAttemptMs)
    ? undefined
    : windowEndsMs > nowMs
      ? `open for ${humanSeconds(Math.round((windowEndsMs - nowMs) / 1000))} more`
      : `closed ${humanSeconds(Math.round((nowMs - windowEndsMs) / 1000))} ago: an unchanged redrive is refused`;
  const decidedBy = o.decision_source === undefined ? '' : `, by ${o.decision_source.replace('_', ' ')}`;
  const lines = block([
    ['idempotency key', o.idempotency_key],
    ['status', statusLine],
    ['run id', o.run_id],
    ['run status', o.run_status],
    // null for a failed run, as kycert sends it: shown as such rather than hidden.
    ['decision', o.decision === null ? 'none (null)' : o.decision],
    ['risk band', o.risk_band],
    ['completed at', timeAgo(o.completed_at, nowMs)],
    ['failed at', timeAgo(o.failed_at, nowMs)],
    ['decided', o.decided_at === undefined ? undefined : `${timeAgo(o.decided_at, nowMs)}${decidedBy}`],
    ['decision event', timeAgo(o.decision_published_at, nowMs)],
    ['estimate', o.estimated_seconds === undefined ? undefined : humanSeconds(o.estimated_seconds)],
    ['status checks', o.status_checks],
    ['next check', timeAgo(o.next_check_at, nowMs)],
    ['parked run id', o.parked_run_id],
    ['superseded by', o.superseded_by === undefined ? undefined : `${o.superseded_by} (a corrected copy)`],
    ['attempts', o.attempts],
    ['last HTTP status', o.last_http_status],
    ['last error', lastError],
    ['retry cause', o.retry_cause],
    ['next attempt', timeAgo(o.next_attempt_at, nowMs)],
    [
      'in flight until',
      o.lease_until_ms === undefined ? undefined : new Date(o.lease_until_ms).toISOString(),
    ],
    ['external id', maskText(o.external_id)],
    ['template', o.template_id],
    ['subject type', o.subject_type],
    ['key source', o.key_source],
    ['first attempt', timeAgo(o.first_attempt_at, nowMs)],
    [`key window (${windowHours} h)`, windowNote],
    ['last attempt', timeAgo(o.last_attempt_at, nowMs)],
    ['redriven at', timeAgo(o.redriven_at, nowMs)],
    ['updated', timeAgo(o.updated_at, nowMs)],
    ['expires', o.expires_at === undefined ? undefined : new Date(o.expires_at * 1000).toISOString()],
  ]);
  const hint =
    o.superseded_by !== undefined
      ? `\n\nThe corrected request runs under the new key: kycert-queue status ${o.superseded_by}`
      : '';
  return `${lines}${hint}`;
}
