import { randomUUID } from 'node:crypto';
import type { SubjectType } from './brazilianDocument.js';
import { type Decision, outcomeFor, type RiskLevel, type RunOutcome } from './fixtureOutcomes.js';

export type RunStatus = 'queued' | 'completed';

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
  /** `createdAtMs + estimatedSeconds`: from then on, by the sandbox's clock, the run has its decision. */
  completesAtMs: number;
  status: RunStatus;
  decision: Decision | null;
  riskLevel: RiskLevel | null;
}

/** The body of `GET /bureau/runs/{id}`. */
export interface KycertRunView {
  run_id: string;
  status: RunStatus;
  template_id: string;
  external_id: string | null;
  subject: { type: SubjectType; doc: string };
  metadata: Record<string, string> | null;
  estimated_seconds: number;
  created_at: string;
  completed_at: string | null;
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
}

interface StoredRun extends NewRun {
  runId: string;
  outcome: RunOutcome;
}

export class RunStore {
  readonly #runs = new Map<string, StoredRun>();

  create(run: NewRun): StoredRun {
    // Random, not a counter: ids from an earlier sandbox process (kept in a local outcome table) never collide.
    const stored: StoredRun = {
      ...run,
      runId: `run_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      outcome: outcomeFor(run.subject.doc),
    };
    this.#runs.set(stored.runId, stored);
    return stored;
  }

  /** Runs are private to their tenant: another tenant's id reads as unknown. */
  find(runId: string, tenant: string): StoredRun | undefined {
    const run = this.#runs.get(runId);
    return run?.tenant === tenant ? run : undefined;
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
  return {
    run_id: current.runId,
    status: current.status,
    template_id: current.templateId,
    external_id: current.externalId,
    subject: current.subject,
    metadata: current.metadata,
    estimated_seconds: current.estimatedSeconds,
    created_at: new Date(current.createdAtMs).toISOString(),
    completed_at: current.status === 'completed' ? new Date(current.completesAtMs).toISOString() : null,
    decision: current.decision,
    risk_level: current.riskLevel,
  };
}

function toSandboxRun(run: StoredRun, nowMs: number): SandboxRun {
  const completesAtMs = run.createdAtMs + run.estimatedSeconds * 1000;
  const completed = nowMs >= completesAtMs;
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
    completesAtMs,
    status: completed ? 'completed' : 'queued',
    decision: completed ? run.outcome.decision : null,
    riskLevel: completed ? run.outcome.riskLevel : null,
  };
}
