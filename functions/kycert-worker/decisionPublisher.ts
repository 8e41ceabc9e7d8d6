import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type ClientSource, clientOf } from './lazyClient.js';
import { maskIdempotencyKey } from './maskIdempotencyKey.js';
import type { RunResult } from './runResult.js';

/** What producers match on: `source` and `detail-type` of every decision event. */
export const DecisionEvent = {
  source: 'kycert-queue',
  detailType: 'kycert run decided',
} as const;

/**
 * The event's detail, once per terminal run: the ids a producer needs to find its request, and the result.
 * Never a CPF/CNPJ: the external id and the key are masked where they look like one, as in the logs.
 */
export interface DecisionDetail {
  idempotency_key: string;
  external_id: string | null;
  run_id: string;
  run_status: string;
  decision: string | null;
  risk_band: string | null;
  decided_at: string;
  stage: string;
}

export class DecisionPublishError extends Error {}

/**
 * Tells the producers: one EventBridge event per terminal run, on the configured bus (the default bus unless
 * the stack made one). The outcome item records that it went out, so a retry of the same result does not send
 * it again; a crash between the two sends it twice: consumers dedupe on `run_id` (at least once, normally once).
 */
export class DecisionPublisher {
  readonly #client: () => Promise<EventBridgeClient>;
  readonly #busName: string;
  readonly #stage: string;

  constructor(options: { client: ClientSource<EventBridgeClient>; busName: string; stage: string }) {
    this.#client = clientOf(options.client);
    this.#busName = options.busName;
    this.#stage = options.stage;
  }

  async publish(
    result: RunResult,
    at: { idempotencyKey: string; externalId: string | null; decidedAtMs: number },
  ): Promise<void> {
    const detail: DecisionDetail = {
      idempotency_key: maskIdempotencyKey(at.idempotencyKey),
      external_id: at.externalId,
      run_id: result.runId,
      run_status: result.status,
      decision: result.decision,
      risk_band: result.riskBand,
      decided_at: new Date(at.decidedAtMs).toISOString(),
      stage: this.#stage,
    };
    // Only when a run is decided: the EventBridge client's chunk is loaded then (lazyClient.ts).
    const [{ PutEventsCommand }, client] = await Promise.all([
      import('@aws-sdk/client-eventbridge'),
      this.#client(),
    ]);
    const { FailedEntryCount = 0, Entries = [] } = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.#busName,
            Source: DecisionEvent.source,
            DetailType: DecisionEvent.detailType,
            Detail: JSON.stringify(detail),
            Time: new Date(at.decidedAtMs),
          },
        ],
      }),
    );
    if (FailedEntryCount > 0) {
      const [entry] = Entries;
      throw new DecisionPublishError(
        `EventBridge refused the decision event for run ${result.runId}: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }
  }
}
