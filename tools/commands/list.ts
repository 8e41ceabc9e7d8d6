import { type AttributeValue, type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { OutcomeTable } from '../../functions/kycert-worker/constants.js';
import { OutcomeStatus } from '../../functions/kycert-worker/outcomeStore.js';
import { UsageError } from '../errors.js';
import { maskText } from '../mask.js';
import { type Outcome, toOutcome } from '../outcome.js';
import { cut, type Layout, PLAIN_LAYOUT, table } from '../output.js';

export const OUTCOME_STATUSES: readonly string[] = Object.values(OutcomeStatus);

export interface ListOptions {
  status: string;
  /** Only outcomes written at or after this time (epoch ms). */
  sinceMs?: number | undefined;
  limit: number;
  nextToken?: string | undefined;
}

export interface OutcomePage {
  items: Outcome[];
  /** Pass as `--next-token` for the next page; absent on the last page. */
  next_token: string | null;
}

/** Outcomes of one status, newest first, from the `by-status` index (`status`, `updated_at`). */
export async function listOutcomes(
  dynamodb: DynamoDBClient,
  tableName: string,
  options: ListOptions,
): Promise<OutcomePage> {
  if (!OUTCOME_STATUSES.includes(options.status)) {
    throw new UsageError(`--status must be one of ${OUTCOME_STATUSES.join(', ')}; got "${options.status}"`);
  }
  const since = options.sinceMs === undefined ? undefined : new Date(options.sinceMs).toISOString();
  const { Items = [], LastEvaluatedKey } = await dynamodb.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: OutcomeTable.statusIndexName,
      KeyConditionExpression: `#status = :status${since === undefined ? '' : ' AND #updated_at >= :since'}`,
      ExpressionAttributeNames: {
        '#status': OutcomeTable.statusIndexPartitionKey,
        ...(since === undefined ? {} : { '#updated_at': OutcomeTable.statusIndexSortKey }),
      },
      ExpressionAttributeValues: {
        ':status': { S: options.status },
        ...(since === undefined ? {} : { ':since': { S: since } }),
      },
      ScanIndexForward: false,
      Limit: options.limit,
      ExclusiveStartKey:
        options.nextToken === undefined ? undefined : decodeNextToken(options.nextToken, options.status),
    }),
  );
  return {
    items: Items.map(toOutcome),
    next_token: LastEvaluatedKey === undefined ? null : encodeNextToken(LastEvaluatedKey),
  };
}

export function encodeNextToken(key: Record<string, AttributeValue>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeNextToken(token: string, status: string): Record<string, AttributeValue> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const valid =
    typeof key === 'object' &&
    key !== null &&
    Object.values(key).every(
      (value) =>
        typeof value === 'object' && value !== null && typeof (value as { S?: unknown }).S === 'string',
    );
  if (!valid) throw new UsageError('--next-token is not a token printed by list');
  const start = key as Record<string, { S: string }>;
  if (start.status?.S !== status) {
    throw new UsageError(`--next-token belongs to a list of status "${start.status?.S}", not "${status}"`);
  }
  return start;
}

export function renderOutcomePage(
  page: OutcomePage,
  options: ListOptions & { sinceText?: string; layout?: Layout },
): string {
  const layout = options.layout ?? PLAIN_LAYOUT;
  const rows = page.items.map((o) => [
    o.updated_at,
    o.idempotency_key,
    o.attempts,
    o.last_http_status,
    cut(
      o.dead_letter_reason ??
        o.retry_cause ??
        [o.last_error_code, maskText(o.last_error_message)].filter(Boolean).join(': '),
      48,
      layout,
    ),
    o.run_id ?? (o.superseded_by === undefined ? '' : `superseded by ${o.superseded_by}`),
    cut(maskText(o.external_id) ?? '', 32, layout),
  ]);
  const since = options.sinceText === undefined ? '' : ` since ${options.sinceText}`;
  const lines =
    rows.length === 0
      ? [`No ${options.status} outcome${since}.`]
      : [
          table(
            ['updated', 'idempotency key', 'attempts', 'http', 'reason / error', 'run id', 'external id'],
            rows,
            {
              width: layout.width,
              shrinkable: [['reason / error', 'external id'], ['idempotency key', 'run id'], ['updated']],
            },
          ),
          `${rows.length} ${options.status} outcome(s)${since}, newest first.`,
        ];
  if (page.next_token !== null) lines.push(`More: add --next-token ${page.next_token}`);
  return lines.join('\n');
}
