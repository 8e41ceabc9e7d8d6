import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { redactDocuments } from './brazilianDocument.js';
import type { RetryCause } from './retryPolicy.js';
import type { RunRequest } from './runRequestMessage.js';

/**
 * One DynamoDB item per idempotency key: what happened to that request. Item shape (README, "Outcome item"):
 *
 *   idempotency_key S (partition key) · status S · attempts N · run_id S · replayed BOOL · last_http_status N
 *   last_error_code S · last_error_message S · dead_letter_reason S · retry_cause S · external_id S
 *   template_id S · subject_type S · key_source S · first_attempt_at S · last_attempt_at S · next_attempt_at S
 *   updated_at S (sort key of the `by-status` index) · lease_until_ms N · expires_at N (TTL, epoch seconds)
 *   superseded_by S (set by the operator CLI when a corrected copy is redriven under a fresh key)
 *
 * No CPF/CNPJ is stored: the subject's type is enough to operate, and the document stays with the producer.
 */
export const OutcomeStatus = {
  inProgress: 'in_progress',
  retryScheduled: 'retry_scheduled',
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type OutcomeStatus = (typeof OutcomeStatus)[keyof typeof OutcomeStatus];

export type BeginResult =
  | { kind: 'started'; attempt: number; firstAttemptAtMs: number }
  /** The key already reached a terminal state: this delivery is a duplicate. */
  | { kind: 'finished'; status: OutcomeStatus; runId: string | undefined }
  /** Another delivery of the same key holds the lease (it is calling kycert right now). */
  | { kind: 'leased'; leaseUntilMs: number };

export interface OutcomeStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  ttlSeconds: number;
}

export class OutcomeStore {
  readonly #options: OutcomeStoreOptions;

  constructor(options: OutcomeStoreOptions) {
    this.#options = options;
  }

  /**
   * Claims the key for one attempt, in one conditional write.
   *
   * Timeline the condition guards: copy A claims the key (lease until A's invocation must end) → copy B of the
   * same message arrives → B's write fails on the lease and B comes back later instead of POSTing in parallel.
   * Once A records a terminal status, every later copy fails on the status and is acknowledged as a duplicate.
   * A key that failed only because its message was invalid never reached kycert, so a corrected message
   * may claim it again.
   */
  async beginAttempt(request: RunRequest, at: { nowMs: number; leaseUntilMs: number }): Promise<BeginResult> {
    const now = new Date(at.nowMs).toISOString();
    try {
      const { Attributes } = await this.#options.client.send(
        new UpdateItemCommand({
          TableName: this.#options.tableName,
          Key: { idempotency_key: { S: request.idempotencyKey } },
          UpdateExpression:
            'SET #status = :in_progress, lease_until_ms = :lease, last_attempt_at = :now, updated_at = :now, ' +
            'first_attempt_at = if_not_exists(first_attempt_at, :now), template_id = :template, ' +
            'subject_type = :subject_type, key_source = :key_source, expires_at = :expires' +
            (request.externalId === undefined ? '' : ', external_id = :external_id') +
            ' REMOVE next_attempt_at, dead_letter_reason ADD attempts :one',
          ConditionExpression:
            'attribute_not_exists(idempotency_key) OR ' +
            '(#status = :failed AND begins_with(dead_letter_reason, :invalid_message)) OR ' +
            '((#status = :in_progress OR #status = :retry_scheduled) AND ' +
            '(attribute_not_exists(lease_until_ms) OR lease_until_ms < :now_ms))',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':in_progress': { S: OutcomeStatus.inProgress },
            ':retry_scheduled': { S: OutcomeStatus.retryScheduled },
            ':failed': { S: OutcomeStatus.failed },
            ':invalid_message': { S: 'invalid_message' },
            ':lease': { N: String(at.leaseUntilMs) },
            ':now': { S: now },
            ':now_ms': { N: String(at.nowMs) },
            ':template': { S: request.templateId },
            ':subject_type': { S: request.subject.type },
            ':key_source': { S: request.idempotencyKeySource },
            ':expires': { N: String(this.#expiresAt(at.nowMs)) },
            ':one': { N: '1' },
            ...(request.externalId === undefined ? {} : { ':external_id': { S: request.externalId } }),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return {
        kind: 'started',
        attempt: Number(Attributes?.attempts?.N ?? 1),
        firstAttemptAtMs: Date.parse(Attributes?.first_attempt_at?.S ?? now),
      };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // DynamoDB returns the item that failed the condition; an emulator may not, so read it then.
      const item = error.Item ?? (await this.get(request.idempotencyKey)) ?? {};
      const status = item.status?.S as OutcomeStatus | undefined;
      if (status === OutcomeStatus.succeeded || status === OutcomeStatus.failed) {
        return { kind: 'finished', status, runId: item.run_id?.S };
      }
      return { kind: 'leased', leaseUntilMs: Number(item.lease_until_ms?.N ?? at.leaseUntilMs) };
    }
  }

  async recordSuccess(
    key: string,
    outcome: { runId: string; httpStatus: number; replayed: boolean; nowMs: number },
  ): Promise<void> {
    await this.#update(key, outcome.nowMs, {
      set: {
        status: { S: OutcomeStatus.succeeded },
        run_id: { S: outcome.runId },
        replayed: { BOOL: outcome.replayed },
        last_http_status: { N: String(outcome.httpStatus) },
      },
      remove: ['lease_until_ms', 'next_attempt_at', 'last_error_code', 'last_error_message', 'retry_cause'],
    });
  }

  /** Returns false when a concurrent copy already succeeded: this delivery is then a duplicate. */
  async recordRetry(
    key: string,
    outcome: { cause: RetryCause; nextAttemptAtMs: number; nowMs: number } & LastError,
  ): Promise<boolean> {
    return this.#update(
      key,
      outcome.nowMs,
      {
        set: {
          status: { S: OutcomeStatus.retryScheduled },
          retry_cause: { S: outcome.cause },
          next_attempt_at: { S: new Date(outcome.nextAttemptAtMs).toISOString() },
          ...lastErrorAttributes(outcome),
        },
        remove: ['lease_until_ms'],
      },
      'attribute_exists(idempotency_key) AND #status <> :succeeded',
    );
  }

  /**
   * After an attempt: the key failed for good. For an invalid message (no attempt was begun) the record is
   * only written when nothing better is known about the key. Returns false when the condition kept it out.
   */
  async recordFailure(
    key: string,
    outcome: {
      reason: string;
      nowMs: number;
      attempted: boolean;
      externalId?: string | undefined;
      templateId?: string | undefined;
    } & LastError,
  ): Promise<boolean> {
    return this.#update(
      key,
      outcome.nowMs,
      {
        set: {
          status: { S: OutcomeStatus.failed },
          dead_letter_reason: { S: outcome.reason },
          ...lastErrorAttributes(outcome),
          ...(outcome.externalId === undefined ? {} : { external_id: { S: outcome.externalId } }),
          ...(outcome.templateId === undefined ? {} : { template_id: { S: outcome.templateId } }),
        },
        remove: ['lease_until_ms', 'next_attempt_at', 'retry_cause'],
      },
      outcome.attempted
        ? 'attribute_exists(idempotency_key) AND #status <> :succeeded'
        : // An invalid copy never overwrites what a real attempt learnt, nor re-opens its key.
          'attribute_not_exists(idempotency_key) OR (#status = :failed AND begins_with(dead_letter_reason, :invalid_message))',
    );
  }

  async get(key: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.#options.client.send(
      new GetItemCommand({
        TableName: this.#options.tableName,
        Key: { idempotency_key: { S: key } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }

  async #update(
    key: string,
    nowMs: number,
    changes: { set: Record<string, AttributeValue>; remove: string[] },
    condition?: string,
  ): Promise<boolean> {
    const set = {
      ...changes.set,
      updated_at: { S: new Date(nowMs).toISOString() },
      expires_at: { N: String(this.#expiresAt(nowMs)) },
    };
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const assignments = Object.entries(set).map(([name, value], i) => {
      names[`#a${i}`] = name;
      values[`:v${i}`] = value;
      return `#a${i} = :v${i}`;
    });
    const removals = changes.remove.map((name, i) => {
      names[`#r${i}`] = name;
      return `#r${i}`;
    });
    // DynamoDB refuses names and values that the expressions do not use.
    if (condition?.includes('#status')) names['#status'] = 'status';
    if (condition?.includes(':succeeded')) values[':succeeded'] = { S: OutcomeStatus.succeeded };
    if (condition?.includes(':failed')) values[':failed'] = { S: OutcomeStatus.failed };
    if (condition?.includes(':invalid_message')) values[':invalid_message'] = { S: 'invalid_message' };
    try {
      await this.#options.client.send(
        new UpdateItemCommand({
          TableName: this.#options.tableName,
          Key: { idempotency_key: { S: key } },
          UpdateExpression: `SET ${assignments.join(', ')}${removals.length > 0 ? ` REMOVE ${removals.join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (condition !== undefined && error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  #expiresAt(nowMs: number): number {
    return Math.floor(nowMs / 1000) + this.#options.ttlSeconds;
  }

  // Operator writes (the CLI's `dlq redrive`), appended after the worker's own.

  /**
   * Before an unchanged copy of a dead-lettered message goes back on the queue: the worker acknowledges a copy
   * whose key is terminal without calling kycert, so the key is reopened first (`failed` → `retry_scheduled`,
   * attempts from 0, `redriven_at` set). `first_attempt_at` is kept: kycert's 24 h key window counts from it.
   * Returns false when the key is not `failed` (any more), or a corrected copy already superseded it.
   */
  async reopenForRedrive(key: string, at: { nowMs: number }): Promise<boolean> {
    return this.#update(
      key,
      at.nowMs,
      {
        set: {
          status: { S: OutcomeStatus.retryScheduled },
          attempts: { N: '0' },
          redriven_at: { S: new Date(at.nowMs).toISOString() },
        },
        remove: ['dead_letter_reason', 'lease_until_ms', 'next_attempt_at', 'retry_cause'],
      },
      '#status = :failed AND attribute_not_exists(superseded_by)',
    );
  }

  /**
   * A corrected copy of this key's message was sent under `supersededBy`: the old outcome says where to look.
   * Its status is left as it was. Returns false when the table has no item for the key.
   */
  async markSuperseded(key: string, supersededBy: string, at: { nowMs: number }): Promise<boolean> {
    return this.#update(
      key,
      at.nowMs,
      { set: { superseded_by: { S: supersededBy } }, remove: [] },
      'attribute_exists(idempotency_key)',
    );
  }
}

interface LastError {
  httpStatus?: number | undefined;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
}

function lastErrorAttributes(error: LastError): Record<string, AttributeValue> {
  return {
    ...(error.httpStatus === undefined ? {} : { last_http_status: { N: String(error.httpStatus) } }),
    ...(error.errorCode === undefined ? {} : { last_error_code: { S: error.errorCode } }),
    ...(error.errorMessage === undefined
      ? {}
      : { last_error_message: { S: redactDocuments(error.errorMessage).slice(0, 1000) } }),
  };
}
