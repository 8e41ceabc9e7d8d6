import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { FLOW_CONTROL_KEY } from '../../functions/kycert-worker/sharedFlowControl.js';
import { block, timeAgo } from '../output.js';

/** The shared flow control as the workers see it (functions/kycert-worker/sharedFlowControl.ts). */
export interface FlowState {
  /** `running`: calls go out at the rate schedule; `paused`: the breaker is open, one probe at a time. */
  state: 'running' | 'paused';
  /** Why it is paused: `http_402` out of credits, `http_403` a missing scope, `http_401` the key refused, `api_key_unset`. */
  code: string | null;
  paused_since: string | null;
  next_probe_at: string | null;
  /** A probe holds the breaker until then. */
  probe_in_flight_until: string | null;
  /** The next free slot of the shared rate schedule (in the past: no call waits). */
  next_free_slot_at: string | null;
  updated_at: string | null;
}

const CODE_MEANING: Record<string, string> = {
  http_402: 'out of credits (402)',
  http_403: 'the API key lacks a scope (403)',
  http_401: 'the API key refused after a refresh (401)',
  api_key_unset: 'the API key secret holds no kycert key',
};

/** Reads the flow-control item, consistently; an absent item is a flow that never paused nor waited. */
export async function getFlowState(dynamodb: DynamoDBClient, tableName: string): Promise<FlowState> {
  const { Item } = await dynamodb.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { idempotency_key: { S: FLOW_CONTROL_KEY } },
      ConsistentRead: true,
    }),
  );
  const iso = (name: string) => {
    const ms = Number(Item?.[name]?.N);
    return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
  };
  const paused = Item?.breaker_state?.S === 'open';
  return {
    state: paused ? 'paused' : 'running',
    code: paused ? (Item?.breaker_code?.S ?? null) : null,
    paused_since: paused ? iso('breaker_opened_at_ms') : null,
    next_probe_at: paused ? iso('breaker_next_probe_at_ms') : null,
    probe_in_flight_until: paused ? iso('breaker_probe_until_ms') : null,
    next_free_slot_at: iso('tat_ms'),
    updated_at: Item?.updated_at?.S ?? null,
  };
}

export function renderFlowState(flow: FlowState, nowMs: number): string {
  const when = (iso: string | null) => timeAgo(iso ?? undefined, nowMs);
  const slotMs = flow.next_free_slot_at === null ? Number.NaN : Date.parse(flow.next_free_slot_at);
  return block([
    [
      'flow',
      flow.state === 'running'
        ? 'running: calls go out at the shared rate schedule'
        : `paused: ${CODE_MEANING[flow.code ?? ''] ?? flow.code}; messages wait, no attempt spent`,
    ],
    ['paused since', when(flow.paused_since)],
    ['next probe', when(flow.next_probe_at)],
    ['probe in flight until', when(flow.probe_in_flight_until)],
    [
      'rate schedule',
      Number.isNaN(slotMs)
        ? 'no call scheduled yet'
        : slotMs > nowMs
          ? `next free slot ${when(flow.next_free_slot_at)}`
          : 'free: no call waits for a slot',
    ],
    ['updated', when(flow.updated_at)],
  ]);
}
