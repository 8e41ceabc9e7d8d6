/**
 * A kycert run as `GET /bureau/runs/{id}` returns it and as a webhook's `data.object` carries it, read
 * tolerantly: kycert's docs name the statuses and the sandbox's decisions, but not the JSON names of the
 * completion estimate or of the risk band, so several spellings are accepted (README, "The outcome item").
 * Values are compared case-insensitively and kept as kycert sent them.
 */
export const RunStatus = {
  queued: 'queued',
  completed: 'completed',
  blocked: 'blocked',
  pendingReview: 'pending_review',
  partial: 'partial',
  failed: 'failed',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** The statuses a run ends in: `run.completed` for the first four, `run.failed` for the last. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = [
  RunStatus.completed,
  RunStatus.blocked,
  RunStatus.pendingReview,
  RunStatus.partial,
  RunStatus.failed,
];

export interface RunResult {
  runId: string;
  status: RunStatus;
  /** As kycert sent it (`APPROVED`, `BLOCKED`…); null while queued and for a failed run. */
  decision: string | null;
  /** As kycert sent it (`LOW` … `CRITICAL`); null when absent. */
  riskBand: string | null;
  /** ISO-8601, when kycert says the run completed (any terminal status but `failed`). */
  completedAt: string | null;
  /** ISO-8601, for a failed run. */
  failedAt: string | null;
  /** kycert's estimate of the seconds until the run completes: "a hint, actual duration may vary". */
  estimatedSeconds: number | null;
}

/** The names accepted, first found wins. */
export const RUN_FIELD_NAMES = {
  runId: ['run_id', 'id'],
  estimatedSeconds: [
    'estimated_seconds',
    'estimated_completion_seconds',
    'eta_seconds',
    'estimatedSeconds',
    'eta',
  ],
  riskBand: ['risk_band', 'risk_level', 'risk', 'riskBand', 'riskLevel', 'risk_rating'],
} as const;

/** Reads a run; undefined when the JSON is not one (no id, or a status kycert does not document). */
export function readRun(json: unknown): RunResult | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const run = json as Record<string, unknown>;
  const runId = firstString(run, RUN_FIELD_NAMES.runId);
  const status = readStatus(run.status);
  if (runId === undefined || status === undefined) return undefined;
  const estimate = firstNumber(run, RUN_FIELD_NAMES.estimatedSeconds);
  return {
    runId,
    status,
    // A failed run has no decision, whatever else the object says (kycert: `decision: null`).
    decision: status === RunStatus.failed ? null : (stringOrNull(run.decision) ?? null),
    riskBand: firstString(run, RUN_FIELD_NAMES.riskBand) ?? null,
    completedAt: status === RunStatus.failed ? null : timestamp(run.completed_at),
    failedAt: status === RunStatus.failed ? timestamp(run.failed_at) : null,
    estimatedSeconds: estimate !== undefined && estimate >= 0 ? estimate : null,
  };
}

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

function readStatus(value: unknown): RunStatus | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value.trim().toLowerCase();
  return (Object.values(RunStatus) as string[]).includes(lower) ? (lower as RunStatus) : undefined;
}

function firstString(run: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = stringOrNull(run[name]);
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

function firstNumber(run: Record<string, unknown>, names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = run[name];
    const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
    if (Number.isFinite(number)) return number;
  }
  return undefined;
}

/** A non-empty string of at most 128 characters, without control characters; null for JSON null. */
function stringOrNull(value: unknown): string | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 && trimmed.length <= 128 && !/\p{Cc}/u.test(trimmed) && trimmed.isWellFormed()
    ? trimmed
    : undefined;
}

function timestamp(value: unknown): string | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const ms = typeof value === 'number' ? (value < 1e12 ? value * 1000 : value) : Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
