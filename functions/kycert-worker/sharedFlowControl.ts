import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AccountBlockCode, BreakerView } from './flowControl.js';

/**
 * The flow-control state every execution environment shares, in one item of the outcome table:
 *
 *   idempotency_key = FLOW_CONTROL_KEY · tat_ms N (the next free slot of the schedule) · breaker_state S
 *   ('open' or absent) · breaker_code S · breaker_opened_at_ms N · breaker_next_probe_at_ms N ·
 *   breaker_backoff_ms N · breaker_probe_until_ms N · updated_at S
 *
 * The key holds a space, which no message's key can (visible ASCII only), so it never collides with one; it has
 * no `status`, so it stays out of the `by-list-status` index, and no `expires_at`, so the TTL leaves it alone.
 *
 * The schedule is GCRA ("virtual scheduling"): `tat_ms` is the theoretical arrival time of the next call. A
 * reservation of n slots is one conditional UpdateItem: `tat += n × T` while the schedule runs ahead of now,
 * or `tat = now + n × T` when it has fallen idle. Slots are evenly spaced T apart whatever the number of
 * environments, so no alignment with kycert's window is needed. The write is refused while the breaker is
 * open: a refusal returns the breaker, so a reservation is also the breaker check, at no extra cost.
 */
export const FLOW_CONTROL_KEY = 'kycert-queue flow-control';

export type Reservation = { kind: 'slot'; atMs: number } | { kind: 'paused'; breaker: BreakerView };

export interface SharedFlowControlOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Spacing of the schedule (flowControl.ts, slotIntervalMs). */
  intervalMs: () => number;
  /**
   * Reservations asked for in the same turn of the event loop (the records of one batch) are taken in one
   * write of n slots. @default true
   */
  coalesce?: boolean;
  /** How long this environment trusts what it last saw of the breaker before asking again. @default 250 ms */
  breakerCacheMs?: number;
}

interface Pending {
  resolve: (reservation: Reservation) => void;
  reject: (error: unknown) => void;
}

export class SharedFlowControl {
  readonly #options: SharedFlowControlOptions;
  /** The last `tat_ms` seen: picks which of the two conditional writes is likely to pass. */
  #lastTatMs = 0;
  /** What this environment last learnt of the breaker, and when. */
  #breaker: { view: BreakerView; seenAtMs: number } = { view: { state: 'closed' }, seenAtMs: 0 };
  #pending: Pending[] = [];
  #flushScheduled = false;
  #nowMs: () => number = Date.now;
  /** Writes sent, for the benchmarks' cost figures. */
  readonly writes = { reservations: 0, refused: 0, holds: 0, breaker: 0 };

  constructor(options: SharedFlowControlOptions) {
    this.#options = options;
  }

  /**
   * One slot on the shared schedule, or the open breaker. Concurrent calls are coalesced into one write
   * unless `coalesce` is off.
   */
  reserve(nowMs: number, purpose: 'post' | 'statusCheck' = 'post'): Promise<Reservation> {
    this.#nowMs = () => nowMs;
    // A status check is a read: out of credits (402) does not stop it. Rare enough not to coalesce.
    if (purpose === 'statusCheck') return this.#reserveBlock(1, nowMs, true).then((r) => r[0] as Reservation);
    if (this.#options.coalesce === false)
      return this.#reserveBlock(1, nowMs).then((r) => r[0] as Reservation);
    return new Promise<Reservation>((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        const batch = this.#pending.splice(0);
        this.#reserveBlock(batch.length, this.#nowMs()).then(
          (reservations) => {
            for (const [i, pending] of batch.entries()) pending.resolve(reservations[i] as Reservation);
          },
          (error) => {
            for (const pending of batch) pending.reject(error);
          },
        );
      });
    });
  }

  /** The breaker as this environment last saw it: a cheap check right before a POST. */
  cachedBreaker(nowMs: number): BreakerView | undefined {
    const cacheMs = this.#options.breakerCacheMs ?? 250;
    return nowMs - this.#breaker.seenAtMs <= cacheMs ? this.#breaker.view : undefined;
  }

  async #reserveBlock(count: number, nowMs: number, readsOnly = false): Promise<Reservation[]> {
    const intervalMs = this.#options.intervalMs();
    const spanMs = Math.ceil(count * intervalMs);
    const breakerClosed = readsOnly
      ? '(attribute_not_exists(breaker_state) OR breaker_code = :out_of_credits)'
      : 'attribute_not_exists(breaker_state)';
    const breakerValues: Record<string, AttributeValue> = readsOnly
      ? { ':out_of_credits': { S: 'http_402' } }
      : {};
    // The busy path appends to the schedule, the idle path restarts it at now: try the likelier one first.
    let busy = this.#lastTatMs >= nowMs;
    for (let tries = 0; tries < 4; tries++) {
      const written = await this.#update(
        busy
          ? {
              update: 'SET tat_ms = tat_ms + :span, updated_at = :now_iso',
              condition: `tat_ms >= :now AND ${breakerClosed}`,
              values: { ':span': num(spanMs), ...breakerValues },
            }
          : {
              update: 'SET tat_ms = :tat, updated_at = :now_iso',
              condition: `(attribute_not_exists(tat_ms) OR tat_ms < :now) AND ${breakerClosed}`,
              values: { ':tat': num(nowMs + spanMs), ...breakerValues },
            },
        nowMs,
      );
      this.writes.reservations += 1;
      if (written.applied) {
        const tatMs = Number(written.item?.tat_ms?.N);
        this.#lastTatMs = tatMs;
        this.#seeBreaker(breakerOf(written.item), nowMs);
        const firstMs = tatMs - spanMs;
        return Array.from({ length: count }, (_, i) => ({ kind: 'slot', atMs: firstMs + i * intervalMs }));
      }
      this.writes.refused += 1;
      const breaker = breakerOf(written.item);
      if (breaker.state === 'open' && !(readsOnly && breaker.code === 'http_402')) {
        this.#seeBreaker(breaker, nowMs);
        return Array.from({ length: count }, () => ({ kind: 'paused', breaker }));
      }
      // The schedule moved between our view and the write: the other path is the right one now.
      this.#lastTatMs = Number(written.item?.tat_ms?.N ?? 0);
      busy = this.#lastTatMs >= nowMs;
    }
    throw new Error('the shared rate schedule kept moving: no slot after 4 tries');
  }

  /**
   * Takes the one probe of an open breaker, if its time has come and nobody holds it: true for the delivery
   * that is to POST as the probe. A probe goes at once (the flow is paused: nobody else is calling).
   */
  async takeProbe(nowMs: number, leaseUntilMs: number): Promise<boolean> {
    const written = await this.#update(
      {
        update: 'SET breaker_probe_until_ms = :lease, updated_at = :now_iso',
        condition:
          'breaker_state = :open AND breaker_next_probe_at_ms <= :now AND ' +
          '(attribute_not_exists(breaker_probe_until_ms) OR breaker_probe_until_ms < :now)',
        values: { ':lease': num(leaseUntilMs), ':open': { S: 'open' } },
      },
      nowMs,
    );
    this.writes.breaker += 1;
    if (!written.applied) this.#seeBreaker(breakerOf(written.item), nowMs);
    return written.applied;
  }

  /**
   * Opens the breaker with the next probe `backoffMs` from now, or, after a failed probe (`reopen`), moves the
   * next probe on. A delivery that meets the account's block outside a probe (others were already calling
   * when the first one met it) leaves an open breaker as it is. The opening time is kept across reopenings:
   * pauses are measured from it.
   */
  async open(code: AccountBlockCode, nowMs: number, backoffMs: number, reopen = false): Promise<void> {
    const written = await this.#update(
      {
        ...(reopen ? {} : { condition: 'attribute_not_exists(breaker_state)' }),
        update:
          'SET breaker_state = :open, breaker_code = :code, breaker_opened_at_ms = if_not_exists(breaker_opened_at_ms, :now), ' +
          'breaker_next_probe_at_ms = :next, breaker_backoff_ms = :backoff, updated_at = :now_iso REMOVE breaker_probe_until_ms',
        values: {
          ':open': { S: 'open' },
          ':code': { S: code },
          ':next': num(nowMs + backoffMs),
          ':backoff': num(backoffMs),
        },
      },
      nowMs,
    );
    this.writes.breaker += 1;
    this.#seeBreaker(written.applied ? breakerOf(written.item) : breakerOf(written.item), nowMs);
  }

  /** The first success closes the breaker; a no-op (refused) when it is closed already. */
  async close(nowMs: number): Promise<boolean> {
    const written = await this.#update(
      {
        update:
          'SET updated_at = :now_iso REMOVE breaker_state, breaker_code, breaker_opened_at_ms, ' +
          'breaker_next_probe_at_ms, breaker_backoff_ms, breaker_probe_until_ms',
        condition: 'breaker_state = :open',
        values: { ':open': { S: 'open' } },
      },
      nowMs,
    );
    this.#seeBreaker({ state: 'closed' }, nowMs);
    if (written.applied) this.writes.breaker += 1;
    return written.applied;
  }

  /**
   * No slot before `atMs` (kycert's reset after a 429, or a window spent): the schedule is pushed there, and
   * every message that reserves afterwards gets a slot after it, T apart — spread in proportion to the budget
   * instead of all waking at the reset.
   */
  async holdUntil(atMs: number, nowMs: number): Promise<void> {
    if (this.#lastTatMs >= atMs) return; // already held at least that long, as far as this environment saw
    const written = await this.#update(
      {
        update: 'SET tat_ms = :at, updated_at = :now_iso',
        condition: 'attribute_not_exists(tat_ms) OR tat_ms < :at',
        values: { ':at': num(atMs) },
      },
      nowMs,
    );
    this.writes.holds += 1;
    this.#lastTatMs = Math.max(
      this.#lastTatMs,
      written.applied ? atMs : Number(written.item?.tat_ms?.N ?? 0),
    );
  }

  /** The breaker as it stands, read (consistently) from the table. */
  async readBreaker(nowMs: number): Promise<BreakerView> {
    const { Item } = await this.#options.client.send(
      new GetItemCommand({
        TableName: this.#options.tableName,
        Key: { idempotency_key: { S: FLOW_CONTROL_KEY } },
        ConsistentRead: true,
      }),
    );
    const view = breakerOf(Item);
    this.#seeBreaker(view, nowMs);
    return view;
  }

  #seeBreaker(view: BreakerView, nowMs: number): void {
    this.#breaker = { view, seenAtMs: nowMs };
  }

  async #update(
    write: { update: string; condition?: string; values: Record<string, AttributeValue> },
    nowMs: number,
  ): Promise<{ applied: boolean; item: Record<string, AttributeValue> | undefined }> {
    const values: Record<string, AttributeValue> = {
      ...write.values,
      ':now_iso': { S: new Date(nowMs).toISOString() },
    };
    // DynamoDB refuses values that the expressions do not use, so `:now` only where one of them does.
    if (/:now\b/.test(`${write.update} ${write.condition ?? ''}`)) values[':now'] = num(nowMs);
    try {
      const { Attributes } = await this.#options.client.send(
        new UpdateItemCommand({
          TableName: this.#options.tableName,
          Key: { idempotency_key: { S: FLOW_CONTROL_KEY } },
          UpdateExpression: write.update,
          ConditionExpression: write.condition,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ...(write.condition === undefined
            ? {}
            : { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const }),
        }),
      );
      return { applied: true, item: Attributes };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // DynamoDB returns the item that failed the condition; an emulator may not, so read it then.
      const item =
        error.Item ??
        (
          await this.#options.client.send(
            new GetItemCommand({
              TableName: this.#options.tableName,
              Key: { idempotency_key: { S: FLOW_CONTROL_KEY } },
              ConsistentRead: true,
            }),
          )
        ).Item;
      return { applied: false, item };
    }
  }
}

function breakerOf(item: Record<string, AttributeValue> | undefined): BreakerView {
  if (item?.breaker_state?.S !== 'open') return { state: 'closed' };
  const probeUntil = item.breaker_probe_until_ms?.N;
  return {
    state: 'open',
    code: item.breaker_code?.S as AccountBlockCode,
    openedAtMs: Number(item.breaker_opened_at_ms?.N ?? 0),
    nextProbeAtMs: Number(item.breaker_next_probe_at_ms?.N ?? 0),
    backoffMs: Number(item.breaker_backoff_ms?.N ?? 0),
    probeUntilMs: probeUntil === undefined ? undefined : Number(probeUntil),
  };
}

function num(value: number): AttributeValue {
  return { N: String(Math.round(value)) };
}
