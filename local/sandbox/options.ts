import type { SandboxLogEntry } from './requestLog.js';
import type { RetryAfterFormat } from './retryAfter.js';

export const Scope = { runsWrite: 'runs:write', runsRead: 'runs:read' } as const;
export type Scope = (typeof Scope)[keyof typeof Scope];

export interface ApiKeyConfig {
  /** Must start with `sk_test_` or `sk_live_`, as kycert's keys do. */
  readonly key: string;
  /** @default ['runs:write', 'runs:read'] */
  readonly scopes?: readonly Scope[];
  /**
   * The account the key belongs to: idempotency keys and runs are scoped to it. Every key shares one
   * account unless told otherwise, so a key rotated mid-retry still finds the runs and keys of the old one.
   * @default 'acct_sandbox'
   */
  readonly tenant?: string;
}

/** A bare string is a key with both scopes in the default account. */
export type ApiKeyInput = string | ApiKeyConfig;

/**
 * What can go wrong on purpose. Each `…Rate` is the probability, drawn per eligible request from `random`,
 * that the fault happens. All off by default.
 */
export interface SandboxFaults {
  /** Answer 5xx before anything is done (no run, nothing kept under the key). @default 0 */
  serverErrorRate: number;
  /** @default 503 */
  serverErrorStatus: 500 | 502 | 503;
  /**
   * Processing time added to every request that passed authentication and the rate limit. For a POST with an
   * `Idempotency-Key` it elapses while the key is held, so a concurrent request with that key gets a 409.
   * @default 0 ms
   */
  latencyMs: number;
  /** The run is created and its answer kept under the key, then the socket is destroyed unanswered. @default 0 */
  resetAfterCreateRate: number;
  /** The run is created and its answer kept, then the response waits this long (beyond a client's timeout). @default 0 ms */
  slowAfterCreateMs: number;
  /** Share of created runs whose response is held back `slowAfterCreateMs`. @default 1 */
  slowAfterCreateRate: number;
  /** Answer 409 `idempotency_in_progress` to a POST, as if another request with its key were being processed. @default 0 */
  inProgressRate: number;
  /** Answer 429 whatever the remaining budget. @default 0 */
  rateLimitStormRate: number;
  /** `Retry-After` of a storm 429 (a real 429 says when its window ends). @default 1 s */
  retryAfterSeconds: number;
  /** How every 429 writes `Retry-After`. @default 'seconds' */
  retryAfterFormat: RetryAfterFormat;
  /** Share of created runs that end `failed` (`run.failed`, `decision: null`), whatever the document. @default 0 */
  runFailureRate: number;
  /** Share of created runs that stay `queued` for ever (no decision, no webhook). @default 0 */
  neverFinishRate: number;
  /** Share of webhook deliveries signed with a timestamp 10 minutes old (a receiver must refuse them). @default 0 */
  webhookStaleRate: number;
  /** Share of webhook deliveries signed with a secret nobody holds. @default 0 */
  webhookBadSignatureRate: number;
  /** Share of webhook events delivered twice, byte for byte (the second a replay). @default 0 */
  webhookDuplicateRate: number;
}

export const DEFAULT_FAULTS: Readonly<SandboxFaults> = Object.freeze({
  serverErrorRate: 0,
  serverErrorStatus: 503,
  latencyMs: 0,
  resetAfterCreateRate: 0,
  slowAfterCreateMs: 0,
  slowAfterCreateRate: 1,
  inProgressRate: 0,
  rateLimitStormRate: 0,
  retryAfterSeconds: 1,
  retryAfterFormat: 'seconds',
  runFailureRate: 0,
  neverFinishRate: 0,
  webhookStaleRate: 0,
  webhookBadSignatureRate: 0,
  webhookDuplicateRate: 0,
});

/** A fault chosen for one POST by a script rather than by chance. */
export type ScriptedFault = 'rateLimit' | 'serverError' | 'inProgress' | 'resetAfterCreate';

/**
 * Chooses a fault for a POST, deterministically: the demo and the tests script "429 on the first try, then
 * success" for one message without touching the others. `postNumber` counts POSTs under the key, this one included.
 */
export type FaultScript = (post: {
  idempotencyKey: string | undefined;
  externalId: string | undefined;
  postNumber: number;
}) => ScriptedFault | undefined;

export interface KycertSandboxOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default ['sk_test_local'] */
  apiKeys?: readonly ApiKeyInput[];
  /** Runs that may still be created; each created run spends one. @default Infinity */
  credits?: number;
  /**
   * kycert's docs do not say whether an account-level answer (402 out of credits, 403 a missing scope) is kept
   * under the idempotency key like the request's own mistakes. The worker assumes it is not: once the credits
   * are topped up (or the scope granted), the same request under the same key goes through. `true` models the
   * other reading: the answer is kept and replayed, with `idempotent-replayed: true`. @default false
   */
  keepAccountErrors?: boolean;
  /** Requests allowed per API key per window. @default 600 */
  rateLimitPerMinute?: number;
  /** The length of the "minute"; tests and benchmarks shorten it. @default 60 000 ms */
  rateLimitWindowMs?: number;
  faults?: Partial<SandboxFaults>;
  /** Faults by script, checked before the random ones. @default none */
  faultScript?: FaultScript;
  /** The sandbox's notion of now, in ms since the epoch: run completion, key expiry, rate-limit windows. @default Date.now */
  clock?: () => number;
  /** Draws in [0, 1) deciding faults; pass `seededRandom(seed)` to replay a run. @default Math.random */
  random?: () => number;
  /** How long a run stays `queued`, by `clock`, and the `estimated_seconds` it announces. @default 5 s */
  estimatedSeconds?: number;
  /** `estimatedSeconds` for runs of these templates. @default {} */
  estimatedSecondsByTemplate?: Readonly<Record<string, number>>;
  /** Signed webhooks when a run becomes terminal (webhookSender.ts). @default none sent, unless a POST gives `webhook_url` */
  webhooks?: SandboxWebhookOptions;
  /** Template ids known besides any id starting with `tpl_`. @default [] */
  templates?: readonly string[];
  /** Know only the ids in `templates`, not every `tpl_…`. @default false */
  strictTemplates?: boolean;
  /** `true`: one JSON line per request on stdout, documents masked; or a function that receives each entry. @default false */
  log?: boolean | ((entry: SandboxLogEntry) => void);
  /**
   * Waits for `latencyMs` and `slowAfterCreateMs`. Tests pass their own to hold a request in flight for as long
   * as they need without real waiting. Must reject when `signal` aborts (the sandbox is closing).
   * @default a timer
   */
  sleep?: (delayMs: number, signal: AbortSignal) => Promise<void>;
}

/**
 * kycert's webhooks as the sandbox sends them: `POST <url>` with the event envelope, signed with every secret of
 * `secrets` (two during a rotation) in the header `signatureHeaderName`, `t=<unix>,v1=<hex>` (the scheme
 * assumed in functions/kycert-webhook/webhookSignature.ts).
 */
export interface SandboxWebhookOptions {
  /** Where webhooks go for runs created without a `webhook_url`. @default none */
  readonly url?: string;
  /** `whsec_…` secrets; each signs every delivery. @default ['whsec_sandbox_local'] */
  readonly secrets?: readonly string[];
  /** @default 'kycert-signature' */
  readonly signatureHeaderName?: string;
  /** Time from the run becoming terminal to the first delivery, in real time. @default 0 ms */
  readonly delayMs?: number;
  /** Deliveries of one event at most, the first included, until one gets a 2xx. @default 4 */
  readonly maxAttempts?: number;
  /** Wait before the first retry; doubles per retry (1 s, 2 s, 4 s by default), in real time. @default 1000 ms */
  readonly retryBaseMs?: number;
  /** A delivery with no answer by then counts as failed. @default 10 000 ms */
  readonly timeoutMs?: number;
}

export const SANDBOX_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  apiKey: 'sk_test_local',
  tenant: 'acct_sandbox',
  rateLimitPerMinute: 600,
  rateLimitWindowMs: 60_000,
  estimatedSeconds: 5,
  webhookSecret: 'whsec_sandbox_local',
  webhookSignatureHeaderName: 'kycert-signature',
  webhookMaxAttempts: 4,
  webhookRetryBaseMs: 1_000,
  webhookTimeoutMs: 10_000,
  /** kycert keeps an idempotency key for 24 h. */
  idempotencyTtlMs: 24 * 60 * 60 * 1000,
} as const;

export class SandboxConfigError extends Error {
  override readonly name = 'SandboxConfigError';
}

export interface ResolvedApiKey {
  key: string;
  scopes: ReadonlySet<Scope>;
  tenant: string;
}

const KEY_PATTERN = /^sk_(test|live)_[A-Za-z0-9_]+$/;
const ALL_SCOPES: readonly Scope[] = [Scope.runsWrite, Scope.runsRead];

export function resolveApiKeys(inputs: readonly ApiKeyInput[]): Map<string, ResolvedApiKey> {
  const keys = new Map<string, ResolvedApiKey>();
  for (const input of inputs) {
    const config: ApiKeyConfig = typeof input === 'string' ? { key: input } : input;
    if (!KEY_PATTERN.test(config.key)) {
      throw new SandboxConfigError(
        `API key "${config.key}" must look like sk_test_… or sk_live_… (letters, digits, _)`,
      );
    }
    const scopes = config.scopes ?? ALL_SCOPES;
    const unknown = scopes.find((scope) => !ALL_SCOPES.includes(scope));
    if (unknown !== undefined)
      throw new SandboxConfigError(`unknown scope "${unknown}"; known: ${ALL_SCOPES.join(', ')}`);
    keys.set(config.key, {
      key: config.key,
      scopes: new Set(scopes),
      tenant: config.tenant ?? SANDBOX_DEFAULTS.tenant,
    });
  }
  return keys;
}

/** Merges `partial` over `base` and refuses values the sandbox could not honour. */
export function mergeFaults(base: Readonly<SandboxFaults>, partial: Partial<SandboxFaults>): SandboxFaults {
  const merged: SandboxFaults = { ...base, ...stripUndefined(partial) };
  for (const name of [
    'serverErrorRate',
    'resetAfterCreateRate',
    'slowAfterCreateRate',
    'inProgressRate',
    'rateLimitStormRate',
    'runFailureRate',
    'neverFinishRate',
    'webhookStaleRate',
    'webhookBadSignatureRate',
    'webhookDuplicateRate',
  ] as const) {
    requireInRange(name, merged[name], 0, 1);
  }
  for (const name of ['latencyMs', 'slowAfterCreateMs', 'retryAfterSeconds'] as const) {
    requireInRange(name, merged[name], 0, Number.MAX_SAFE_INTEGER);
  }
  if (![500, 502, 503].includes(merged.serverErrorStatus)) {
    throw new SandboxConfigError(
      `serverErrorStatus must be 500, 502 or 503, got ${merged.serverErrorStatus}`,
    );
  }
  if (merged.retryAfterFormat !== 'seconds' && merged.retryAfterFormat !== 'http-date') {
    throw new SandboxConfigError(
      `retryAfterFormat must be "seconds" or "http-date", got "${merged.retryAfterFormat}"`,
    );
  }
  return merged;
}

export function requireInRange(name: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    throw new SandboxConfigError(`${name} must be a number in [${min}, ${max}], got ${value}`);
  }
}

function stripUndefined<T extends object>(partial: T): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, value]) => value !== undefined)) as Partial<T>;
}
