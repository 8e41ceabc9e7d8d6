import { randomUUID } from 'node:crypto';
import type { SubjectType } from './brazilianDocument.js';
import {
  type Decision,
  FAILED,
  FixtureTemplate,
  outcomeFor,
  type RiskLevel,
  type RunOutcome,
  type TerminalRunStatus,
} from './fixtureOutcomes.js';

export type RunStatus = 'queued' | TerminalRunStatus;

/** A run as the sandbox keeps it; `runs()` hands out these, with the status as of the sandbox's clock. */
export interface SandboxRun {
  runId: string;
  tenant: string;
  idempotencyKey: string | undefined;
  templateId: string;
  subject: { type: SubjectType; doc: string };
  externalId: string | null;
  metadata: Record<string, string> | null;
  estimatedSeconds: number;
  createdAtMs: number;
  /**
   * `createdAtMs + estimatedSeconds`: from then on, by the sandbox's clock, the run is terminal. `Infinity` for a
   * run that never finishes (`tpl_never_finishes`, `neverFinishRate`).
   */
  completesAtMs: number;
  status: RunStatus;
  decision: Decision | null;
  riskLevel: RiskLevel | null;
  /** Where its webhook goes: the POST's `webhook_url`, else the sandbox's `webhooks.url`; null for none. */
  webhookUrl: string | null;
  /** The id of its one webhook event (`evt_…`), every delivery attempt included. */
  eventId: string;
}

/**
 * The body of `GET /bureau/runs/{id}`, and the `data.object` of its webhook. A failed run has `failed_at` and
 * no `completed_at` (kycert's docs); the others `completed_at`, null while queued.
 */
export interface KycertRunView {
  run_id: string;
  status: RunStatus;
  template_id: string;
  external_id: string | null;
  subject: { type: SubjectType; doc: string };
  metadata: Record<string, string> | null;
  estimated_seconds: number;
  created_at: string;
  completed_at?: string | null;
  failed_at?: string;
  decision: Decision | null;
  risk_level: RiskLevel | null;
}

/** The body of a `202` to `POST /bureau/runs`, and of its replays. */
export interface KycertCreatedRun {
  run_id: string;
  status: 'queued';
  template_id: string;
  external_id: string | null;
  estimated_seconds: number;
  created_at: string;
}

export interface NewRun {
  tenant: string;
  idempotencyKey: string | undefined;
  templateId: string;
  subject: { type: SubjectType; doc: string };
  externalId: string | null;
  metadata: Record<string, string> | null;
  estimatedSeconds: number;
  createdAtMs: number;
  webhookUrl: string | null;
  /** The key was an `sk_live_` one: the webhook's `livemode`. */
  livemode: boolean;
  /** The faults drawn for this run at its creation (`runFailureRate`, `neverFinishRate`). */
  fails: boolean;
  neverFinishes: boolean;
}

export interface StoredRun extends NewRun {
  runId: string;
  eventId: string;
  outcome: RunOutcome;
  completesAtMs: number;
}

export class RunStore {
  readonly #runs = new Map<string, StoredRun>();

  create(run: NewRun): StoredRun {
    const neverFinishes = run.neverFinishes || run.templateId === FixtureTemplate.neverFinishes;
    const stored: StoredRun = {
      ...run,
      // Random, not a counter: ids from an earlier sandbox process (kept in a local outcome table) never collide.
      runId: `run_${randomId()}`,
      eventId: `evt_${randomId()}`,
      outcome: run.fails || run.templateId === FixtureTemplate.fails ? FAILED : outcomeFor(run.subject.doc),
      completesAtMs: neverFinishes ? Number.POSITIVE_INFINITY : run.createdAtMs + run.estimatedSeconds * 1000,
    };
    this.#runs.set(stored.runId, stored);
    return stored;
  }

  /** Runs are private to their tenant: another tenant's id reads as unknown. */
  find(runId: string, tenant: string): StoredRun | undefined {
    const run = this.#runs.get(runId);
    return run?.tenant === tenant ? run : undefined;
  }

  get(runId: string): StoredRun | undefined {
    return this.#runs.get(runId);
  }

  all(nowMs: number): SandboxRun[] {
    return [...this.#runs.values()].map((run) => toSandboxRun(run, nowMs));
  }
}

export function createdRunBody(run: StoredRun): KycertCreatedRun {
  return {
    run_id: run.runId,
    status: 'queued',
    template_id: run.templateId,
    external_id: run.externalId,
    estimated_seconds: run.estimatedSeconds,
    created_at: new Date(run.createdAtMs).toISOString(),
  };
}

export function runView(run: StoredRun, nowMs: number): KycertRunView {
  const current = toSandboxRun(run, nowMs);
  const terminal = current.status !== 'queued';
  const endedAt = terminal ? new Date(current.completesAtMs).toISOString() : null;
  return {
    run_id: current.runId,
    status: current.status,
    template_id: current.templateId,
    external_id: current.externalId,
    subject: current.subject,
    metadata: current.metadata,
    estimated_seconds: current.estimatedSeconds,
    created_at: new Date(current.createdAtMs).toISOString(),
    ...(current.status === 'failed' ? { failed_at: endedAt as string } : { completed_at: endedAt }),
    decision: current.decision,
    risk_level: current.riskLevel,
  };
}

/** Whether the run is terminal by `nowMs`. */
export function isTerminalAt(run: StoredRun, nowMs: number): boolean {
  return nowMs >= run.completesAtMs;
}

function toSandboxRun(run: StoredRun, nowMs: number): SandboxRun {
  const terminal = isTerminalAt(run, nowMs);
  return {
    runId: run.runId,
    tenant: run.tenant,
    idempotencyKey: run.idempotencyKey,
    templateId: run.templateId,
    subject: { ...run.subject },
    externalId: run.externalId,
    metadata: run.metadata === null ? null : { ...run.metadata },
    estimatedSeconds: run.estimatedSeconds,
    createdAtMs: run.createdAtMs,
    completesAtMs: run.completesAtMs,
    status: terminal ? run.outcome.status : 'queued',
    decision: terminal ? run.outcome.decision : null,
    riskLevel: terminal ? run.outcome.riskLevel : null,
    webhookUrl: run.webhookUrl,
    eventId: run.eventId,
  };
}

function randomId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 24);
}
