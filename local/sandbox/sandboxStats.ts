export const FaultKind = {
  serverError: 'serverError',
  latency: 'latency',
  resetAfterCreate: 'resetAfterCreate',
  slowAfterCreate: 'slowAfterCreate',
  inProgress: 'inProgress',
  rateLimitStorm: 'rateLimitStorm',
} as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/** A snapshot: later requests do not change it. */
export interface SandboxStats {
  /** Every HTTP request, whatever the route or answer. */
  requests: number;
  /** Every `POST /bureau/runs`, whatever the answer. */
  postRuns: number;
  /** Every `GET /bureau/runs/{id}`. */
  getRuns: number;
  runsCreated: number;
  /** Answers replayed from an idempotency key (2xx and 4xx). */
  replays: number;
  /** HTTP status → how many were sent. A destroyed socket counts under `faultsInjected.resetAfterCreate` only. */
  byStatus: Record<string, number>;
  /** kycert `error.code` → how many were sent. */
  byErrorCode: Record<string, number>;
  faultsInjected: Record<FaultKind, number>;
  /** Idempotency-Key → the run ids created under it. More than one means a duplicate run. */
  runsByIdempotencyKey: Record<string, string[]>;
  /** Idempotency-Key → the distinct bodies POSTed with it, whatever the answer. More than one means a client bug. */
  bodiesByIdempotencyKey: Record<string, string[]>;
  /** `Infinity` when credits are unlimited. */
  creditsRemaining: number;
}

export class StatsRecorder {
  requests = 0;
  postRuns = 0;
  getRuns = 0;
  runsCreated = 0;
  replays = 0;
  readonly #byStatus = new Map<string, number>();
  readonly #byErrorCode = new Map<string, number>();
  readonly #faults = new Map<FaultKind, number>();
  readonly #runsByKey = new Map<string, string[]>();
  readonly #bodiesByKey = new Map<string, Set<string>>();

  status(status: number): void {
    increment(this.#byStatus, String(status));
  }

  errorCode(code: string): void {
    increment(this.#byErrorCode, code);
  }

  fault(kind: FaultKind): void {
    increment(this.#faults, kind);
  }

  body(idempotencyKey: string, body: string): void {
    const bodies = this.#bodiesByKey.get(idempotencyKey) ?? new Set<string>();
    bodies.add(body);
    this.#bodiesByKey.set(idempotencyKey, bodies);
  }

  runCreated(runId: string, idempotencyKey: string | undefined): void {
    this.runsCreated += 1;
    if (idempotencyKey === undefined) return;
    const runs = this.#runsByKey.get(idempotencyKey) ?? [];
    runs.push(runId);
    this.#runsByKey.set(idempotencyKey, runs);
  }

  snapshot(creditsRemaining: number): SandboxStats {
    const faultsInjected = Object.fromEntries(
      Object.values(FaultKind).map((kind) => [kind, this.#faults.get(kind) ?? 0]),
    ) as Record<FaultKind, number>;
    return {
      requests: this.requests,
      postRuns: this.postRuns,
      getRuns: this.getRuns,
      runsCreated: this.runsCreated,
      replays: this.replays,
      byStatus: Object.fromEntries(this.#byStatus),
      byErrorCode: Object.fromEntries(this.#byErrorCode),
      faultsInjected,
      runsByIdempotencyKey: Object.fromEntries([...this.#runsByKey].map(([key, runs]) => [key, [...runs]])),
      bodiesByIdempotencyKey: Object.fromEntries(
        [...this.#bodiesByKey].map(([key, bodies]) => [key, [...bodies]]),
      ),
      creditsRemaining,
    };
  }
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
