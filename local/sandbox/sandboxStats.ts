export const FaultKind = {
  serverError: 'serverError',
  latency: 'latency',
  resetAfterCreate: 'resetAfterCreate',
  slowAfterCreate: 'slowAfterCreate',
  inProgress: 'inProgress',
  rateLimitStorm: 'rateLimitStorm',
} as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/**
 * One `POST /bureau/runs` under an idempotency key, as the sandbox answered it: the fault suite checks from
 * these that a rejected key is never POSTed again, that the attempt budget holds and that no POST comes after
 * the key's window.
 */
export interface SandboxPost {
  /** When the request arrived, by the sandbox's clock. */
  atMs: number;
  /**
   * The HTTP status sent; `'reset'` when the socket was destroyed on purpose; `'client_gone'` when the client
   * hung up before a held response was sent; `'unanswered'` while the request is being handled.
   */
  answer: number | 'reset' | 'client_gone' | 'unanswered';
  /** The answer was replayed from the key (a 2xx replayed as 200, or a kept 4xx). */
  replayed: boolean;
}

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
  /** Idempotency-Key → every POST sent with it, in arrival order, whatever the answer (401s included). */
  postsByIdempotencyKey: Record<string, SandboxPost[]>;
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
  readonly #postsByKey = new Map<string, SandboxPost[]>();

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

  /** Records a POST under `idempotencyKey`; the caller fills in `answer` and `replayed` once it is decided. */
  post(idempotencyKey: string, atMs: number): SandboxPost {
    const post: SandboxPost = { atMs, answer: 'unanswered', replayed: false };
    const posts = this.#postsByKey.get(idempotencyKey) ?? [];
    posts.push(post);
    this.#postsByKey.set(idempotencyKey, posts);
    return post;
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
      postsByIdempotencyKey: Object.fromEntries(
        [...this.#postsByKey].map(([key, posts]) => [key, posts.map((post) => ({ ...post }))]),
      ),
      creditsRemaining,
    };
  }
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
