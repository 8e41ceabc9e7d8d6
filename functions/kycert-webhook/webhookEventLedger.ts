import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';

/**
 * Which webhook events were already handled, one item per event id in the outcome table:
 * `kycert-queue webhook-event <id>` (a space in the key means it can never be a message's idempotency key).
 * The item names the run by `event_run_id`, never `run_id`, so that the `by-run-id` index never answers with it.
 *
 *   idempotency_key S · item_kind S (webhook_event) · event_type S · event_run_id S · received_at S
 *   deliveries N · lease_until_ms N · processed_at S · outcome S · updated_at S · expires_at N (TTL)
 */
export const WEBHOOK_EVENT_KEY_PREFIX = 'kycert-queue webhook-event ';

/**
 * Kept a week: kycert's retry schedule is not documented; Stripe retries for up to 3 days, and a sender
 * re-signs each retry, so the 5-minute signature tolerance alone would not stop a late retry being handled twice.
 */
export const WEBHOOK_EVENT_TTL_SECONDS = 7 * 86_400;

export type EventClaim =
  | { kind: 'claimed' }
  /** Handled before: a replay, answered 2xx with nothing changed. */
  | { kind: 'duplicate'; outcome: string | undefined }
  /** Another delivery of the same event is being handled right now (its lease holds): the sender retries later. */
  | { kind: 'inProgress' };

export class WebhookEventLedger {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  static keyOf(eventId: string): string {
    return `${WEBHOOK_EVENT_KEY_PREFIX}${eventId}`;
  }

  /**
   * One conditional write claims the event for this delivery until `leaseUntilMs` (its invocation's deadline).
   *
   * Timeline the condition guards: delivery A claims the event → a copy B arrives (kycert retried, or sent it
   * twice) → B's write fails on A's lease: 409, kycert retries later → A records the result and marks the
   * event processed → every later copy fails on `processed_at`: a duplicate, 200, nothing changed. If A crashes
   * between claim and mark, its lease runs out and the next copy claims the event again; what A may already
   * have written is written once anyway (recordRunResult, parkRunResult), so handling it again is harmless.
   */
  async claim(
    eventId: string,
    at: { nowMs: number; leaseUntilMs: number; eventType: string; runId: string },
  ): Promise<EventClaim> {
    const now = new Date(at.nowMs).toISOString();
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: { idempotency_key: { S: WebhookEventLedger.keyOf(eventId) } },
          UpdateExpression:
            'SET item_kind = :kind, event_type = :event_type, event_run_id = :run_id, ' +
            'received_at = if_not_exists(received_at, :now), lease_until_ms = :lease, updated_at = :now, ' +
            'expires_at = :expires ADD deliveries :one',
          ConditionExpression:
            'attribute_not_exists(idempotency_key) OR (attribute_not_exists(processed_at) AND lease_until_ms < :now_ms)',
          ExpressionAttributeValues: {
            ':kind': { S: 'webhook_event' },
            ':event_type': { S: at.eventType },
            ':run_id': { S: at.runId },
            ':now': { S: now },
            ':now_ms': { N: String(at.nowMs) },
            ':lease': { N: String(at.leaseUntilMs) },
            ':expires': { N: String(Math.floor(at.nowMs / 1000) + WEBHOOK_EVENT_TTL_SECONDS) },
            ':one': { N: '1' },
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // DynamoDB returns the item that failed the condition; an emulator may not, so read it then.
      const item = error.Item ?? (await this.#get(eventId)) ?? {};
      return item.processed_at !== undefined
        ? { kind: 'duplicate', outcome: item.outcome?.S }
        : { kind: 'inProgress' };
    }
  }

  /** The event was handled: every later copy is a duplicate. */
  async markProcessed(eventId: string, at: { nowMs: number; outcome: string }): Promise<void> {
    const now = new Date(at.nowMs).toISOString();
    await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#tableName,
        Key: { idempotency_key: { S: WebhookEventLedger.keyOf(eventId) } },
        UpdateExpression:
          'SET processed_at = :now, outcome = :outcome, updated_at = :now REMOVE lease_until_ms',
        ConditionExpression: 'attribute_exists(idempotency_key)',
        ExpressionAttributeValues: { ':now': { S: now }, ':outcome': { S: at.outcome } },
      }),
    );
  }

  /** Handling failed (an AWS call did): the claim is given back so that kycert's retry need not wait for the lease. */
  async release(eventId: string): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: { idempotency_key: { S: WebhookEventLedger.keyOf(eventId) } },
          UpdateExpression: 'SET lease_until_ms = :zero',
          ConditionExpression: 'attribute_exists(idempotency_key) AND attribute_not_exists(processed_at)',
          ExpressionAttributeValues: { ':zero': { N: '0' } },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async #get(eventId: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.#client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: { idempotency_key: { S: WebhookEventLedger.keyOf(eventId) } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }
}
