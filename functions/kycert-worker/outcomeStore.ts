import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { redactDocuments } from './brazilianDocument.js';
import { OutcomeTable } from './constants.js';
import type { RetryCause } from './retryPolicy.js';
import type { RunRequest } from './runRequestMessage.js';
import { type RunResult, RunStatus, TERMINAL_RUN_STATUSES } from './runResult.js';
import { cutToCodePoints } from './sqsText.js';

/**
 * One DynamoDB item per idempotency key: what happened to that request. Item shape (README, "Outcome item"):
 *
 *   idempotency_key S (partition key) · status S · attempts N · run_id S · replayed BOOL · last_http_status N
 *   last_error_code S · last_error_message S · dead_letter_reason S · retry_cause S · external_id S
 *   template_id S · subject_type S · key_source S · first_attempt_at S · last_attempt_at S · next_attempt_at S
 *   updated_at S (sort key of the `by-list-status` index) · lease_until_ms N · expires_at N (TTL, epoch seconds)
 *   lease_token S · lease_message_id S (who holds the lease) · body_sha256 S (of the body POSTed under the key)
 *   reserved_slot_ms N (a slot of the shared rate schedule booked for the message's next delivery)
 *   run_status S · decision S|NULL · risk_band S · completed_at S · failed_at S · decided_at S · estimated_seconds N
 *   status_checks N · next_check_at S · decision_source S · decision_published_at S · list_status S (sparse index)
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
  /** `leaseToken` fences every later write of this claim: a write after someone else claimed is refused. */
  | { kind: 'started'; attempt: number; firstAttemptAtMs: number; leaseToken?: string }
  /** The key already reached a terminal state: this delivery is a duplicate. */
  | {
      kind: 'finished';
      status: OutcomeStatus;
      runId: string | undefined;
      deadLetterReason?: string | undefined;
      /** The SQS message whose dead-lettering failed the key. */
      deadLetterMessageId?: string | undefined;
    }
  /** Another delivery of the same key holds the lease (it is calling kycert right now). */
  | { kind: 'leased'; leaseUntilMs: number; holderMessageId?: string | undefined }
  /** The key was first used with another body: kycert would refuse this one, or answer for the other. */
  | { kind: 'bodyMismatch' };

/** What a fenced result write came to. */
export type ResultWrite =
  | 'recorded'
  /** The key succeeded meanwhile (another copy's answer): this delivery is a duplicate. */
  | 'alreadySucceeded'
  /** Another delivery claimed the key after this one's lease: the write was refused, nothing changed. */
  | 'fenced'
  /** The item is gone (removed by an operator or the TTL): nothing to update. */
  | 'missing';

/** What `beginAttempt` needs to know about the delivery beside the request. */
export interface ClaimContext {
  nowMs: number;
  /** The invocation's deadline: a lease never outlives the invocation that took it. */
  leaseUntilMs: number;
  /** SQS message id of this delivery: a copy that meets the lease can tell a duplicate message from itself. */
  messageId?: string;
  /** SHA-256 of the exact body POSTed under the key (kycertRequestBody). */
  bodySha256?: string;
}

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
  async beginAttempt(request: RunRequest, at: ClaimContext): Promise<BeginResult> {
    const now = new Date(at.nowMs).toISOString();
    const leaseToken = randomUUID();
    const extra: Record<string, AttributeValue> = {
      // A producer may use a CPF as its id: the outcome keeps it masked, as the logs do.
      ...(request.externalId === undefined
        ? {}
        : { external_id: { S: redactDocuments(request.externalId) } }),
      ...(at.messageId === undefined ? {} : { lease_message_id: { S: at.messageId } }),
      ...(at.bodySha256 === undefined ? {} : { body_sha256: { S: at.bodySha256 } }),
    };
    const extraNames = Object.keys(extra);
    try {
      const { Attributes } = await this.#options.client.send(
        new UpdateItemCommand({
          TableName: this.#options.tableName,
          Key: { idempotency_key: { S: request.idempotencyKey } },
          UpdateExpression:
            'SET #status = :in_progress, lease_until_ms = :lease, lease_token = :lease_token, ' +
            'last_attempt_at = :now, updated_at = :now, ' +
            'first_attempt_at = if_not_exists(first_attempt_at, :now), template_id = :template, ' +
            'subject_type = :subject_type, key_source = :key_source, expires_at = :expires' +
            extraNames.map((name) => `, ${name} = :${name}`).join('') +
            ' REMOVE next_attempt_at, dead_letter_reason, reserved_slot_ms ADD attempts :one',
          // The lease clause: see above. The body clause: one key, one body, whatever the status.
          // A key whose item holds only a booked slot (no status yet) is claimable as a new one.
          ConditionExpression:
            '(attribute_not_exists(idempotency_key) OR attribute_not_exists(#status) OR ' +
            '(#status = :failed AND begins_with(dead_letter_reason, :invalid_message)) OR ' +
            '((#status = :in_progress OR #status = :retry_scheduled) AND ' +
            '(attribute_not_exists(lease_until_ms) OR lease_until_ms < :now_ms)))' +
            (at.bodySha256 === undefined
              ? ''
              : ' AND (attribute_not_exists(body_sha256) OR body_sha256 = :body_sha256)'),
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':in_progress': { S: OutcomeStatus.inProgress },
            ':retry_scheduled': { S: OutcomeStatus.retryScheduled },
            ':failed': { S: OutcomeStatus.failed },
            ':invalid_message': { S: 'invalid_message' },
            ':lease': { N: String(at.leaseUntilMs) },
            ':lease_token': { S: leaseToken },
            ':now': { S: now },
            ':now_ms': { N: String(at.nowMs) },
            ':template': { S: request.templateId },
            ':subject_type': { S: request.subject.type },
            ':key_source': { S: request.idempotencyKeySource },
            ':expires': { N: String(this.#expiresAt(at.nowMs)) },
            ':one': { N: '1' },
            ...Object.fromEntries(Object.entries(extra).map(([name, value]) => [`:${name}`, value])),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return {
        kind: 'started',
        attempt: Number(Attributes?.attempts?.N ?? 1),
        firstAttemptAtMs: Date.parse(Attributes?.first_attempt_at?.S ?? now),
        leaseToken,
      };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // DynamoDB returns the item that failed the condition; an emulator may not, so read it then.
      const item = error.Item ?? (await this.get(request.idempotencyKey)) ?? {};
      const storedSha256 = item.body_sha256?.S;
      if (at.bodySha256 !== undefined && storedSha256 !== undefined && storedSha256 !== at.bodySha256) {
        return { kind: 'bodyMismatch' };
      }
      const status = item.status?.S as OutcomeStatus | undefined;
      if (status === OutcomeStatus.succeeded || status === OutcomeStatus.failed) {
        return {
          kind: 'finished',
          status,
          runId: item.run_id?.S,
          deadLetterReason: item.dead_letter_reason?.S,
          deadLetterMessageId: item.dead_letter_message_id?.S,
        };
      }
      return {
        kind: 'leased',
        leaseUntilMs: Number(item.lease_until_ms?.N ?? at.leaseUntilMs),
        holderMessageId: item.lease_message_id?.S,
      };
    }
  }

  /**
   * The run exists. Fenced by the claim's token: only the delivery that holds the key writes its result, so a
   * delivery whose lease ran out (and was claimed again by another) cannot overwrite what that one learnt.
   * `run_status` starts at `queued` (a replay keeps what the key already knows of its run).
   */
  async recordSuccess(
    key: string,
    outcome: {
      runId: string;
      httpStatus: number;
      replayed: boolean;
      nowMs: number;
      leaseToken?: string;
      estimatedSeconds?: number | null | undefined;
      /** When the first status check is due, to show in `status` and the report. */
      nextCheckAtMs?: number | undefined;
    },
  ): Promise<ResultWrite> {
    return this.#fencedUpdate(key, outcome.nowMs, outcome.leaseToken, {
      set: {
        status: { S: OutcomeStatus.succeeded },
        run_id: { S: outcome.runId },
        replayed: { BOOL: outcome.replayed },
        last_http_status: { N: String(outcome.httpStatus) },
        run_status: { S: RunStatus.queued },
        ...(outcome.estimatedSeconds === undefined || outcome.estimatedSeconds === null
          ? {}
          : { estimated_seconds: { N: String(outcome.estimatedSeconds) } }),
        ...(outcome.nextCheckAtMs === undefined
          ? {}
          : { next_check_at: { S: new Date(outcome.nextCheckAtMs).toISOString() } }),
      },
      remove: [
        'lease_until_ms',
        'lease_token',
        'next_attempt_at',
        'last_error_code',
        'last_error_message',
        'retry_cause',
      ],
    });
  }

  /**
   * A retry is scheduled; never over a success, nor over another delivery's claim. `reservedSlotMs` books the
   * slot the message comes back for; `giveBackAttempt` undoes the claim's count for an answer that proves no
   * run was created and cost nothing (the account blocked: 402, 403, a 401 that persists).
   */
  async recordRetry(
    key: string,
    outcome: {
      cause: RetryCause;
      nextAttemptAtMs: number;
      nowMs: number;
      leaseToken?: string;
      reservedSlotMs?: number | undefined;
      giveBackAttempt?: boolean;
    } & LastError,
  ): Promise<ResultWrite> {
    return this.#fencedUpdate(
      key,
      outcome.nowMs,
      outcome.leaseToken,
      {
        set: {
          status: { S: OutcomeStatus.retryScheduled },
          retry_cause: { S: outcome.cause },
          next_attempt_at: { S: new Date(outcome.nextAttemptAtMs).toISOString() },
          ...lastErrorAttributes(outcome),
          ...(outcome.reservedSlotMs === undefined
            ? {}
            : { reserved_slot_ms: { N: String(Math.round(outcome.reservedSlotMs)) } }),
        },
        remove: ['lease_until_ms', 'lease_token'],
        ...(outcome.giveBackAttempt === true ? { add: { attempts: { N: '-1' } } } : {}),
      },
      '#status <> :succeeded',
    );
  }

  /**
   * Books a slot of the shared schedule on the key, for the message to come back for: its next delivery reads
   * it (`get`) instead of taking a new one. Never on a key that finished (the refusal is harmless: the message
   * comes back and reads the key as it stands). No lease, no attempt: waiting is not an attempt.
   */
  async recordBooking(key: string, at: { slotAtMs: number; nowMs: number }): Promise<boolean> {
    const refused = await this.#update(
      key,
      at.nowMs,
      { set: { reserved_slot_ms: { N: String(Math.round(at.slotAtMs)) } }, remove: [] },
      'attribute_not_exists(#status) OR (#status <> :succeeded AND #status <> :failed)',
    );
    return refused === undefined;
  }

  /**
   * One conditional write: the item exists, holds this claim's token (when given) and meets `condition`. On a
   * refusal the item says why: gone, succeeded meanwhile, or claimed by another delivery.
   */
  async #fencedUpdate(
    key: string,
    nowMs: number,
    leaseToken: string | undefined,
    changes: { set: Record<string, AttributeValue>; remove: string[]; add?: Record<string, AttributeValue> },
    condition?: string,
  ): Promise<ResultWrite> {
    const clauses = [
      'attribute_exists(idempotency_key)',
      ...(leaseToken === undefined ? [] : ['lease_token = :lease_token']),
      ...(condition === undefined ? [] : [condition]),
    ];
    const extraValues: Record<string, AttributeValue> =
      leaseToken === undefined ? {} : { ':lease_token': { S: leaseToken } };
    const refused = await this.#update(key, nowMs, changes, clauses.join(' AND '), extraValues);
    if (refused === undefined) return 'recorded';
    // DynamoDB returns the item that failed the condition; an emulator may not, so read it then.
    const item = refused.item ?? (await this.get(key));
    if (item === undefined) return 'missing';
    return item.status?.S === OutcomeStatus.succeeded ? 'alreadySucceeded' : 'fenced';
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
      /**
       * true: after this delivery's claim (fenced by `leaseToken`). false: an invalid message, written only when
       * nothing better is known of the key. 'withoutClaim': a valid message given up before its claim (the
       * account blocked past the pause budget): written over anything but a success.
       */
      attempted: boolean | 'withoutClaim';
      /** The claim's token, for a failure after an attempt. */
      leaseToken?: string | undefined;
      externalId?: string | undefined;
      templateId?: string | undefined;
      /**
       * The SQS message that was dead-lettered: a later delivery of that very message (its invocation timed
       * out after the DLQ send) is then known as one, and acknowledged rather than dead-lettered again.
       */
      messageId?: string | undefined;
    } & LastError,
  ): Promise<boolean> {
    const fenced = outcome.attempted === true && outcome.leaseToken !== undefined;
    const refused = await this.#update(
      key,
      outcome.nowMs,
      {
        set: {
          status: { S: OutcomeStatus.failed },
          dead_letter_reason: { S: outcome.reason },
          list_status: { S: shardedListStatus(key, ListStatus.delivery(OutcomeStatus.failed)) },
          ...lastErrorAttributes(outcome),
          ...(outcome.externalId === undefined
            ? {}
            : { external_id: { S: redactDocuments(outcome.externalId) } }),
          ...(outcome.templateId === undefined ? {} : { template_id: { S: outcome.templateId } }),
          ...(outcome.messageId === undefined ? {} : { dead_letter_message_id: { S: outcome.messageId } }),
        },
        remove: ['lease_until_ms', 'lease_token', 'next_attempt_at', 'retry_cause'],
      },
      outcome.attempted === 'withoutClaim'
        ? 'attribute_not_exists(#status) OR #status <> :succeeded'
        : outcome.attempted
          ? `attribute_exists(idempotency_key) AND #status <> :succeeded${fenced ? ' AND lease_token = :lease_token' : ''}`
          : // An invalid copy never overwrites what a real attempt learnt, nor re-opens its key.
            'attribute_not_exists(idempotency_key) OR (#status = :failed AND begins_with(dead_letter_reason, :invalid_message))',
      fenced ? { ':lease_token': { S: outcome.leaseToken as string } } : {},
    );
    return refused === undefined;
  }

  /**
   * The run's result, once kycert has one, from a status check or a webhook. Written once: only while the key
   * holds this run and its status is not yet terminal (`decision_overdue` may still learn the real one).
   * Returns `recorded` for the one write that made it terminal (its caller publishes the decision), or why not.
   */
  async recordRunResult(
    key: string,
    result: RunResult,
    at: { nowMs: number; source: 'status_check' | 'webhook' },
  ): Promise<RunResultWrite> {
    const terminal = TERMINAL_RUN_STATUSES.includes(result.status);
    if (!terminal) throw new Error(`recordRunResult: ${result.status} is not a terminal run status`);
    const set: Record<string, AttributeValue> = {
      run_status: { S: result.status },
      decision: result.decision === null ? { NULL: true } : { S: result.decision },
      decided_at: { S: new Date(at.nowMs).toISOString() },
      decision_source: { S: at.source },
      list_status: { S: listStatusFor(key, result) },
      // The write that decides the run holds its publication: a webhook's copy or a check arriving meanwhile
      // finds it decided and unpublished, but claimed, and sends nothing (claimDecisionPublication).
      publish_claimed_until_ms: { N: String(at.nowMs + DECISION_PUBLICATION_CLAIM_MS) },
      ...(result.riskBand === null ? {} : { risk_band: { S: result.riskBand } }),
      ...(result.completedAt === null ? {} : { completed_at: { S: result.completedAt } }),
      ...(result.failedAt === null ? {} : { failed_at: { S: result.failedAt } }),
    };
    const refused = await this.#update(
      key,
      at.nowMs,
      {
        set,
        remove: ['next_check_at', 'check_slot_ms'],
        // The check that found the result is a check too: `status_checks` counts every GET that was answered.
        ...(at.source === 'status_check' ? { add: { status_checks: { N: '1' } } } : {}),
      },
      'run_id = :run_id AND (attribute_not_exists(run_status) OR run_status = :queued OR run_status = :overdue)',
      {
        ':run_id': { S: result.runId },
        ':queued': { S: RunStatus.queued },
        ':overdue': { S: DECISION_OVERDUE },
      },
    );
    if (refused === undefined) return { kind: 'recorded' };
    const item = refused.item ?? (await this.get(key));
    if (item === undefined) return { kind: 'missing' };
    if (item.run_id?.S !== result.runId) return { kind: 'otherRun' };
    return { kind: 'alreadyTerminal', published: item.decision_published_at !== undefined };
  }

  /** A status check that found the run still queued: counted, with when the next one is due. */
  async recordStatusCheck(key: string, at: { nowMs: number; nextCheckAtMs: number }): Promise<void> {
    await this.#update(
      key,
      at.nowMs,
      {
        set: {
          next_check_at: { S: new Date(at.nextCheckAtMs).toISOString() },
          status_check_failures: { N: '0' },
        },
        remove: ['check_slot_ms'],
        add: { status_checks: { N: '1' } },
      },
      'attribute_exists(idempotency_key)',
    );
  }

  /** A status check kycert gave no usable answer to (5xx, network, 404): counted, for its backoff. */
  async recordStatusCheckFailure(key: string, at: { nowMs: number }): Promise<void> {
    await this.#update(
      key,
      at.nowMs,
      { set: {}, remove: ['check_slot_ms'], add: { status_check_failures: { N: '1' } } },
      'attribute_exists(idempotency_key)',
    );
  }

  /** The booked slot a check just used, when its answer records nothing else (a 429, a refused key). */
  async forgetCheckBooking(key: string, at: { nowMs: number }): Promise<void> {
    await this.#update(
      key,
      at.nowMs,
      { set: {}, remove: ['check_slot_ms'] },
      'attribute_exists(idempotency_key)',
    );
  }

  /** A slot of the shared schedule booked for the run's next status check (see recordBooking). */
  async recordCheckBooking(key: string, at: { slotAtMs: number; nowMs: number }): Promise<void> {
    await this.#update(
      key,
      at.nowMs,
      { set: { check_slot_ms: { N: String(Math.round(at.slotAtMs)) } }, remove: [] },
      'run_status = :queued',
      { ':queued': { S: RunStatus.queued } },
    );
  }

  /** No decision within the configured time: `decision_overdue` (a later webhook or check may still record one). */
  async recordDecisionOverdue(key: string, at: { runId: string; nowMs: number }): Promise<boolean> {
    const refused = await this.#update(
      key,
      at.nowMs,
      {
        set: {
          run_status: { S: DECISION_OVERDUE },
          list_status: { S: shardedListStatus(key, ListStatus.run(DECISION_OVERDUE)) },
        },
        remove: ['next_check_at'],
      },
      'run_id = :run_id AND run_status = :queued',
      { ':run_id': { S: at.runId }, ':queued': { S: RunStatus.queued } },
    );
    return refused === undefined;
  }

  /** The decision event went out: a retry of the same result does not publish it again. */
  async recordDecisionPublished(key: string, at: { nowMs: number }): Promise<void> {
    await this.#update(
      key,
      at.nowMs,
      {
        set: { decision_published_at: { S: new Date(at.nowMs).toISOString() } },
        remove: ['publish_claimed_until_ms'],
      },
      'attribute_exists(idempotency_key)',
    );
  }

  /**
   * Claims the publication of a decision recorded but not published: a delivery that crashed between the two
   * left it, and its claim has lapsed. False while the deciding write's claim holds (it is publishing now) or
   * once published, so that two paths never send the same event in the normal course.
   */
  async claimDecisionPublication(key: string, at: { nowMs: number }): Promise<boolean> {
    const refused = await this.#update(
      key,
      at.nowMs,
      {
        set: { publish_claimed_until_ms: { N: String(at.nowMs + DECISION_PUBLICATION_CLAIM_MS) } },
        remove: [],
      },
      'attribute_exists(run_status) AND attribute_not_exists(decision_published_at) AND ' +
        '(attribute_not_exists(publish_claimed_until_ms) OR publish_claimed_until_ms < :now_ms)',
      { ':now_ms': { N: String(at.nowMs) } },
    );
    return refused === undefined;
  }

  /** The key kycert's run belongs to, through the sparse `by-run-id` index (eventually consistent). */
  async keyOfRun(runId: string): Promise<string | undefined> {
    const { Items = [] } = await this.#options.client.send(
      new QueryCommand({
        TableName: this.#options.tableName,
        IndexName: OutcomeTable.runIdIndexName,
        KeyConditionExpression: '#run_id = :run_id',
        ExpressionAttributeNames: { '#run_id': OutcomeTable.runIdIndexPartitionKey },
        ExpressionAttributeValues: { ':run_id': { S: runId } },
        Limit: 1,
      }),
    );
    return Items[0]?.idempotency_key?.S;
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

  /** One UpdateItem; returns undefined when applied, or what DynamoDB said of the item when refused. */
  async #update(
    key: string,
    nowMs: number,
    changes: { set: Record<string, AttributeValue>; remove: string[]; add?: Record<string, AttributeValue> },
    condition?: string,
    extraValues: Record<string, AttributeValue> = {},
  ): Promise<undefined | { item: Record<string, AttributeValue> | undefined }> {
    const set = {
      ...changes.set,
      updated_at: { S: new Date(nowMs).toISOString() },
      expires_at: { N: String(this.#expiresAt(nowMs)) },
    };
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = { ...extraValues };
    const assignments = Object.entries(set).map(([name, value], i) => {
      names[`#a${i}`] = name;
      values[`:v${i}`] = value;
      return `#a${i} = :v${i}`;
    });
    const removals = changes.remove.map((name, i) => {
      names[`#r${i}`] = name;
      return `#r${i}`;
    });
    const additions = Object.entries(changes.add ?? {}).map(([name, value], i) => {
      names[`#n${i}`] = name;
      values[`:n${i}`] = value;
      return `#n${i} :n${i}`;
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
          UpdateExpression:
            `SET ${assignments.join(', ')}` +
            (removals.length > 0 ? ` REMOVE ${removals.join(', ')}` : '') +
            (additions.length > 0 ? ` ADD ${additions.join(', ')}` : ''),
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ...(condition === undefined ? {} : { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const }),
        }),
      );
      return undefined;
    } catch (error) {
      if (condition !== undefined && error instanceof ConditionalCheckFailedException) {
        return { item: error.Item };
      }
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
    const refused = await this.#update(
      key,
      at.nowMs,
      {
        set: {
          status: { S: OutcomeStatus.retryScheduled },
          attempts: { N: '0' },
          redriven_at: { S: new Date(at.nowMs).toISOString() },
        },
        remove: [
          'dead_letter_reason',
          'lease_until_ms',
          'lease_token',
          'next_attempt_at',
          'retry_cause',
          'list_status',
        ],
      },
      '#status = :failed AND attribute_not_exists(superseded_by)',
    );
    return refused === undefined;
  }

  /**
   * A corrected copy of this key's message was sent under `supersededBy`: the old outcome says where to look.
   * Its status is left as it was. Returns false when the table has no item for the key.
   */
  async markSuperseded(key: string, supersededBy: string, at: { nowMs: number }): Promise<boolean> {
    const refused = await this.#update(
      key,
      at.nowMs,
      { set: { superseded_by: { S: supersededBy } }, remove: [] },
      'attribute_exists(idempotency_key)',
    );
    return refused === undefined;
  }

  // The webhook receiver's parked results (functions/kycert-webhook), appended after the operator's writes.

  /** Where a parked result lives: a space in the key means it can never be a message's idempotency key. */
  static parkedRunKey(runId: string): string {
    return `kycert-queue run ${runId}`;
  }

  /**
   * A parked result is kept a week: past the worker's own deadline for a decision (`decision_overdue`, 24 h by
   * default) and kycert's 24 h key window, long enough for an operator to look at one that never matched.
   */
  static readonly PARKED_RUN_TTL_SECONDS = 7 * 86_400;

  /**
   * A verified webhook's result for a run no outcome item holds (yet): the POST's own answer is not recorded
   * yet (the webhook came first), or the run is not one of ours. Kept under `kycert-queue run <runId>` with
   * the result's fields only (no body, no subject, nothing personal), in the list index as
   * `webhook:unmatched#n` for the operator, until the worker takes it. The run is named by `parked_run_id`,
   * never `run_id`: the `by-run-id` index must only ever answer with outcome items.
   *
   * Timeline the condition guards: the worker takes the result (it found the run's key) → a second event for
   * the same run arrives and finds no key either (the index lags) → the write is refused, `alreadyTaken`: the
   * run's result is already on its way to the outcome (a run's terminal result does not change).
   */
  async parkRunResult(
    result: RunResult,
    at: { eventId: string; nowMs: number },
  ): Promise<{ kind: 'parked' } | { kind: 'alreadyTaken' }> {
    const key = OutcomeStore.parkedRunKey(result.runId);
    const now = new Date(at.nowMs).toISOString();
    const optional: Record<string, AttributeValue> = {
      ...(result.riskBand === null ? {} : { ':risk_band': { S: result.riskBand } }),
      ...(result.completedAt === null ? {} : { ':completed_at': { S: result.completedAt } }),
      ...(result.failedAt === null ? {} : { ':failed_at': { S: result.failedAt } }),
      ...(result.estimatedSeconds === null
        ? {}
        : { ':estimated_seconds': { N: String(result.estimatedSeconds) } }),
    };
    try {
      await this.#options.client.send(
        new UpdateItemCommand({
          TableName: this.#options.tableName,
          Key: { idempotency_key: { S: key } },
          UpdateExpression:
            'SET item_kind = :kind, parked_run_id = :run_id, run_status = :run_status, decision = :decision, ' +
            'first_event_id = if_not_exists(first_event_id, :event_id), last_event_id = :event_id, ' +
            'parked_at = if_not_exists(parked_at, :now), updated_at = :now, list_status = :list_status, ' +
            'expires_at = :expires' +
            Object.keys(optional)
              .map((name) => `, ${name.slice(1)} = ${name}`)
              .join('') +
            ' ADD events :one',
          ConditionExpression: 'attribute_not_exists(taken_at)',
          ExpressionAttributeValues: {
            ':kind': { S: 'parked_run_result' },
            ':run_id': { S: result.runId },
            ':run_status': { S: result.status },
            ':decision': result.decision === null ? { NULL: true } : { S: result.decision },
            ':event_id': { S: at.eventId },
            ':now': { S: now },
            ':list_status': { S: shardedListStatus(key, ListStatus.unmatchedWebhook) },
            ':expires': { N: String(Math.floor(at.nowMs / 1000) + OutcomeStore.PARKED_RUN_TTL_SECONDS) },
            ':one': { N: '1' },
            ...optional,
          },
        }),
      );
      return { kind: 'parked' };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { kind: 'alreadyTaken' };
      throw error;
    }
  }

  /**
   * The result a webhook parked for this run, if any; the worker asks when it records a run's acceptance and at
   * each status check, so a webhook that came before the POST's answer was recorded is never lost. The first
   * take marks the parked item taken and takes it out of the operator's unmatched list; every take returns the
   * result, so a worker that crashed after taking it finds it again on its next delivery.
   */
  async takeParkedRunResult(
    runId: string,
    at: { nowMs: number } = { nowMs: Date.now() },
  ): Promise<RunResult | undefined> {
    const key = OutcomeStore.parkedRunKey(runId);
    const item = await this.get(key);
    const status = item?.run_status?.S as RunStatus | undefined;
    if (item === undefined || item.parked_run_id?.S !== runId || status === undefined) return undefined;
    if (!TERMINAL_RUN_STATUSES.includes(status)) return undefined;
    if (item.taken_at === undefined) {
      const now = new Date(at.nowMs).toISOString();
      try {
        await this.#options.client.send(
          new UpdateItemCommand({
            TableName: this.#options.tableName,
            Key: { idempotency_key: { S: key } },
            UpdateExpression: 'SET taken_at = :now, updated_at = :now REMOVE list_status',
            ConditionExpression: 'attribute_exists(idempotency_key) AND attribute_not_exists(taken_at)',
            ExpressionAttributeValues: { ':now': { S: now } },
          }),
        );
      } catch (error) {
        // Taken meanwhile by another delivery, or expired: the result read above stands either way.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    const estimate = item.estimated_seconds?.N === undefined ? null : Number(item.estimated_seconds.N);
    return {
      runId,
      status,
      decision: item.decision?.S ?? null,
      riskBand: item.risk_band?.S ?? null,
      completedAt: item.completed_at?.S ?? null,
      failedAt: item.failed_at?.S ?? null,
      estimatedSeconds: estimate !== null && Number.isFinite(estimate) ? estimate : null,
    };
  }
}

/** What `recordRunResult` came to. */
export type RunResultWrite =
  | { kind: 'recorded' }
  /** The key already holds a terminal result; `published` says whether its event went out. */
  | { kind: 'alreadyTerminal'; published: boolean }
  /** The key holds another run (a redrive under the same key created none; a corrected copy got a fresh key). */
  | { kind: 'otherRun' }
  | { kind: 'missing' };

/**
 * How long the write that decides a run holds the publication of its event: longer than the worker's and the
 * receiver's function timeouts, so that only a delivery that crashed before publishing lets another send it.
 */
export const DECISION_PUBLICATION_CLAIM_MS = 120_000;

/** Our own run status, not kycert's: no decision came within the configured time. */
export const DECISION_OVERDUE = 'decision_overdue';

/**
 * The `by-list-status` index's key: sparse (only what operators list: a decision, a failed run, an overdue one, a
 * dead-lettered key), and spread over LIST_STATUS_SHARDS partitions by the key's hash, so that a burst of one
 * outcome (kycert failing every run) never makes one hot partition. The CLI queries every shard and merges.
 */
export const LIST_STATUS_SHARDS = 4;

/** The `list_status` values, before their `#<shard>`: written here, queried by `kycert-queue list`. */
export const ListStatus = {
  delivery: (status: string) => `delivery:${status}`,
  decision: (decision: string) => `decision:${decision}`,
  run: (runStatus: string) => `run:${runStatus}`,
  unmatchedWebhook: 'webhook:unmatched',
} as const;

export function shardedListStatus(key: string, value: string): string {
  let hash = 0;
  for (const char of key) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `${value}#${hash % LIST_STATUS_SHARDS}`;
}

function listStatusFor(key: string, result: RunResult): string {
  return shardedListStatus(
    key,
    result.status === RunStatus.failed
      ? ListStatus.run(RunStatus.failed)
      : ListStatus.decision((result.decision ?? result.status).toLowerCase()),
  );
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
      : { last_error_message: { S: cutToCodePoints(redactDocuments(error.errorMessage), 1000) } }),
  };
}
