import { type AttributeValue, type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { OutcomeTable } from '../../functions/kycert-worker/constants.js';
import {
  DECISION_OVERDUE,
  LIST_STATUS_SHARDS,
  ListStatus,
} from '../../functions/kycert-worker/outcomeStore.js';
import { UsageError } from '../errors.js';
import { maskText } from '../mask.js';
import { type Outcome, toOutcome } from '../outcome.js';
import { cut, type Layout, PLAIN_LAYOUT, table } from '../output.js';

/** `--status`: the delivery status the list index holds, dead-lettered keys. The others are read by `status <key>`. */
export const LIST_STATUSES = ['failed'] as const;
/** `--decision`: kycert's sandbox decisions, as the index holds them (lower case). */
export const LIST_DECISIONS = ['approved', 'blocked', 'pending_review', 'partial'] as const;
/** `--run-status`: runs that ended without a decision. */
export const LIST_RUN_STATUSES = ['failed', DECISION_OVERDUE] as const;

/** Which outcomes to list: one of the index's kinds (outcomeStore.ts writes `list_status` for each). */
export type ListFilter =
  | { kind: 'status'; value: (typeof LIST_STATUSES)[number] }
  | { kind: 'decision'; value: (typeof LIST_DECISIONS)[number] }
  | { kind: 'runStatus'; value: (typeof LIST_RUN_STATUSES)[number] }
  /** Verified webhooks for a run no outcome held: parked for the worker, listed for the operator. */
  | { kind: 'unmatched' };

export interface ListOptions {
  filter: ListFilter;
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

/** The `list_status` value of a filter, before its `#<shard>`. */
export function listStatusOf(filter: ListFilter): string {
  switch (filter.kind) {
    case 'status':
      return ListStatus.delivery(filter.value);
    case 'decision':
      return ListStatus.decision(filter.value);
    case 'runStatus':
      return ListStatus.run(filter.value);
    case 'unmatched':
      return ListStatus.unmatchedWebhook;
  }
}

/** Where each shard's query resumes: its last key listed, `null` from its start, `'done'` when exhausted. */
type ShardPosition = Record<string, AttributeValue> | null | 'done';

/**
 * Outcomes of one kind, newest first, from the sparse `by-list-status` index (`list_status`, `updated_at`).
 * Each kind is spread over LIST_STATUS_SHARDS partitions (`decision:blocked#0` … `#3`): every shard is queried
 * for a page, the answers merged newest first and cut to `limit`, and the next token records where each shard
 * stands, so that the pages together list every item once.
 */
export async function listOutcomes(
  dynamodb: DynamoDBClient,
  tableName: string,
  options: ListOptions,
): Promise<OutcomePage> {
  const value = listStatusOf(options.filter);
  const positions: ShardPosition[] =
    options.nextToken === undefined
      ? Array.from({ length: LIST_STATUS_SHARDS }, () => null)
      : decodeNextToken(options.nextToken, value);
  const since = options.sinceMs === undefined ? undefined : new Date(options.sinceMs).toISOString();
  const answers = await Promise.all(
    positions.map(async (position, shard) => {
      if (position === 'done') return { items: [], more: false };
      const { Items = [], LastEvaluatedKey } = await dynamodb.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: OutcomeTable.listIndexName,
          KeyConditionExpression: `#list_status = :value${since === undefined ? '' : ' AND #updated_at >= :since'}`,
          ExpressionAttributeNames: {
            '#list_status': OutcomeTable.listIndexPartitionKey,
            ...(since === undefined ? {} : { '#updated_at': OutcomeTable.listIndexSortKey }),
          },
          ExpressionAttributeValues: {
            ':value': { S: `${value}#${shard}` },
            ...(since === undefined ? {} : { ':since': { S: since } }),
          },
          ScanIndexForward: false,
          Limit: options.limit,
          ExclusiveStartKey: position ?? undefined,
        }),
      );
      return { items: Items, more: LastEvaluatedKey !== undefined };
    }),
  );
  const merged = answers
    .flatMap((answer, shard) => answer.items.map((item, index) => ({ item, shard, index })))
    .sort((a, b) => compareNewestFirst(a.item, b.item))
    .slice(0, options.limit);
  const next = positions.map((position, shard): ShardPosition => {
    if (position === 'done') return 'done';
    const answer = answers[shard] as { items: Record<string, AttributeValue>[]; more: boolean };
    const listed = merged.filter((entry) => entry.shard === shard);
    if (listed.length === answer.items.length && !answer.more) return 'done';
    const last = listed.at(-1);
    return last === undefined ? position : indexKeyOf(last.item);
  });
  return {
    items: merged.map((entry) => toOutcome(entry.item)),
    next_token: next.every((position) => position === 'done') ? null : encodeNextToken(value, next),
  };
}

function compareNewestFirst(a: Record<string, AttributeValue>, b: Record<string, AttributeValue>): number {
  const byTime = (b.updated_at?.S ?? '').localeCompare(a.updated_at?.S ?? '');
  return byTime !== 0 ? byTime : (a.idempotency_key?.S ?? '').localeCompare(b.idempotency_key?.S ?? '');
}

/** The index's key of an item: what a Query resumes after. */
function indexKeyOf(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  const key: Record<string, AttributeValue> = {};
  for (const name of [
    OutcomeTable.partitionKey,
    OutcomeTable.listIndexPartitionKey,
    OutcomeTable.listIndexSortKey,
  ]) {
    const attribute = item[name];
    if (attribute !== undefined) key[name] = attribute;
  }
  return key;
}

export function encodeNextToken(value: string, shards: readonly ShardPosition[]): string {
  return Buffer.from(JSON.stringify({ list: value, shards })).toString('base64url');
}

export function decodeNextToken(token: string, value: string): ShardPosition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const { list, shards } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    list?: unknown;
    shards?: unknown;
  };
  const isKey = (position: unknown) =>
    typeof position === 'object' &&
    position !== null &&
    Object.values(position).every(
      (attribute) =>
        typeof attribute === 'object' &&
        attribute !== null &&
        typeof (attribute as { S?: unknown }).S === 'string',
    );
  const valid =
    typeof list === 'string' &&
    Array.isArray(shards) &&
    shards.length === LIST_STATUS_SHARDS &&
    shards.every((position) => position === null || position === 'done' || isKey(position));
  if (!valid) throw new UsageError('--next-token is not a token printed by list');
  if (list !== value) {
    throw new UsageError(
      `--next-token belongs to a list of ${describeList(list)}, not of ${describeList(value)}`,
    );
  }
  return shards as ShardPosition[];
}

/** `decision:blocked` → `blocked decisions`, for messages. */
function describeList(value: string): string {
  const [kind, name] = value.split(':');
  switch (kind) {
    case 'delivery':
      return `${name} deliveries (--status ${name})`;
    case 'decision':
      return `${name} decisions (--decision ${name})`;
    case 'run':
      return `${name} runs (--run-status ${name})`;
    case 'webhook':
      return 'unmatched webhooks (--unmatched)';
    default:
      return `"${value}"`;
  }
}

export function renderOutcomePage(
  page: OutcomePage,
  options: ListOptions & { sinceText?: string; layout?: Layout },
): string {
  const layout = options.layout ?? PLAIN_LAYOUT;
  const filter = options.filter;
  const { head, rows, shrinkable } =
    filter.kind === 'status'
      ? deliveryTable(page.items, layout)
      : filter.kind === 'unmatched'
        ? unmatchedTable(page.items)
        : decisionTable(page.items, layout);
  const since = options.sinceText === undefined ? '' : ` since ${options.sinceText}`;
  const what = describeList(listStatusOf(filter));
  const lines =
    rows.length === 0
      ? [`No ${what}${since}.`]
      : [
          table(head, rows, { width: layout.width, shrinkable }),
          `${rows.length} of ${what}${since}, newest first.`,
        ];
  if (page.next_token !== null) lines.push(`More: add --next-token ${page.next_token}`);
  return lines.join('\n');
}

function deliveryTable(items: readonly Outcome[], layout: Layout) {
  return {
    head: ['updated', 'idempotency key', 'attempts', 'http', 'reason / error', 'run id', 'external id'],
    rows: items.map((o) => [
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
    ]),
    shrinkable: [['reason / error', 'external id'], ['idempotency key', 'run id'], ['updated']],
  };
}

function decisionTable(items: readonly Outcome[], layout: Layout) {
  return {
    head: ['updated', 'idempotency key', 'run status', 'decision', 'risk', 'ended', 'run id', 'external id'],
    rows: items.map((o) => [
      o.updated_at,
      o.idempotency_key,
      o.run_status,
      o.decision ?? '',
      o.risk_band,
      o.completed_at ?? o.failed_at ?? '',
      o.run_id,
      cut(maskText(o.external_id) ?? '', 32, layout),
    ]),
    shrinkable: [['external id'], ['idempotency key', 'run id'], ['updated', 'ended']],
  };
}

function unmatchedTable(items: readonly Outcome[]) {
  return {
    head: ['updated', 'run id', 'run status', 'decision', 'risk', 'ended'],
    rows: items.map((o) => [
      o.updated_at,
      o.parked_run_id,
      o.run_status,
      o.decision ?? '',
      o.risk_band,
      o.completed_at ?? o.failed_at ?? '',
    ]),
    shrinkable: [['run id'], ['updated', 'ended']],
  };
}
