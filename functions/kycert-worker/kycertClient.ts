import { Agent, type Dispatcher, request } from 'undici';
import type { ApiKeySource } from './apiKeySource.js';
import { kycertRequestBody, type RunRequest } from './runRequestMessage.js';
import { type RunResult, readRun } from './runResult.js';

/** What one `POST /bureau/runs` came to, in the terms the retry policy decides on. */
export type KycertResult =
  | {
      kind: 'response';
      httpStatus: number;
      runId?: string;
      /** kycert's `error.code` and `error.message`, when the body is kycert's error envelope. */
      errorCode?: string;
      errorMessage?: string;
      retryAfter?: string;
      rateLimit?: RateLimitHeaders;
      /** The answer kept under the key, replayed (`idempotent-replayed: true`), not the account's state now. */
      replayed?: boolean;
      /** The run the body describes (the 202's, or a status check's), read tolerantly (runResult.ts). */
      run?: RunResult;
    }
  | {
      /** No HTTP answer (reset, timeout, refused): whether the run was created is unknown. */
      kind: 'networkError';
      errorCode: string;
      errorMessage: string;
    };

export interface RateLimitHeaders {
  limit: number;
  remaining: number;
  resetAtEpochSeconds: number;
}

export interface CreateRunOutcome {
  result: KycertResult;
  latencyMs: number;
  /** A 401 made the client read the API key again and send the request once more. */
  credentialRefreshed: boolean;
}

export interface KycertClientOptions {
  /** e.g. `https://admin.kycert.com.br/api/v1`, without a trailing slash. */
  baseUrl: string;
  apiKey: ApiKeySource;
  /** Sent as `x-kycert-api-version` when set. */
  apiVersion?: string | undefined;
  connectTimeoutMs: number;
  /** For the response headers, and between body chunks. */
  timeoutMs: number;
  /** Tests inject their own; by default one keep-alive pool per client, reused across invocations. */
  dispatcher?: Dispatcher;
  nowMs?: () => number;
}

const USER_AGENT = 'kycert-queue/0.1 (+undici)';
/** An error body larger than this is not kycert's envelope; it is read and dropped. */
const MAX_BODY_BYTES = 64 * 1024;

export class KycertClient {
  readonly #options: KycertClientOptions;
  readonly #dispatcher: Dispatcher;
  readonly #nowMs: () => number;

  constructor(options: KycertClientOptions) {
    this.#options = options;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { timeout: options.connectTimeoutMs },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
  }

  /**
   * POSTs the run request under its idempotency key. The body is rebuilt from the message each time, so it is
   * byte-identical across retries. A 401 first re-reads the credential (it may have been rotated), then
   * retries once; a second 401 is returned as is.
   */
  async createRun(runRequest: RunRequest): Promise<CreateRunOutcome> {
    const body = kycertRequestBody(runRequest);
    return this.#withKey((apiKey) =>
      this.#send('POST', '/bureau/runs', apiKey, { idempotencyKey: runRequest.idempotencyKey, body }),
    );
  }

  /**
   * A status check: `GET /bureau/runs/{id}` (scope `runs:read`), with the same timeouts, headers and 401
   * refresh as the POST. The caller draws it from the same shared rate budget.
   */
  async getRun(runId: string): Promise<CreateRunOutcome> {
    return this.#withKey((apiKey) =>
      this.#send('GET', `/bureau/runs/${encodeURIComponent(runId)}`, apiKey, {}),
    );
  }

  async #withKey(call: (apiKey: string) => Promise<KycertResult>): Promise<CreateRunOutcome> {
    const startedAtMs = this.#nowMs();
    let result = await call(await this.#options.apiKey.get());
    let credentialRefreshed = false;
    if (result.kind === 'response' && result.httpStatus === 401) {
      credentialRefreshed = true;
      result = await call(await this.#options.apiKey.refresh());
    }
    return { result, latencyMs: this.#nowMs() - startedAtMs, credentialRefreshed };
  }

  async close(): Promise<void> {
    if (this.#options.dispatcher === undefined) await this.#dispatcher.close();
  }

  async #send(
    method: 'POST' | 'GET',
    path: string,
    apiKey: string,
    post: { idempotencyKey?: string; body?: string },
  ): Promise<KycertResult> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': USER_AGENT,
      'x-api-key': apiKey,
      ...(post.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(post.idempotencyKey === undefined ? {} : { 'idempotency-key': post.idempotencyKey }),
    };
    if (this.#options.apiVersion !== undefined) headers['x-kycert-api-version'] = this.#options.apiVersion;
    try {
      const response = await request(`${this.#options.baseUrl}${path}`, {
        method,
        headers,
        ...(post.body === undefined ? {} : { body: post.body }),
        dispatcher: this.#dispatcher,
      });
      const text = await readText(response.body);
      return {
        kind: 'response',
        httpStatus: response.statusCode,
        ...readBody(text),
        ...optional('retryAfter', header(response.headers, 'retry-after')),
        ...optional('rateLimit', readRateLimit(response.headers)),
        // Stripe's name for it, which kycert's sandbox uses; kycert's docs do not name the header.
        ...optional(
          'replayed',
          header(response.headers, 'idempotent-replayed') === 'true' ? true : undefined,
        ),
      };
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      return { kind: 'networkError', errorCode: err.code ?? err.name, errorMessage: err.message };
    }
  }
}

async function readText(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += (chunk as Buffer).length;
    if (bytes <= MAX_BODY_BYTES) chunks.push(chunk as Buffer); // read on to free the connection, keep nothing
  }
  // Decoded once, so a character split across two chunks stays whole.
  return bytes <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : '';
}

function readBody(text: string): {
  runId?: string;
  errorCode?: string;
  errorMessage?: string;
  run?: RunResult;
} {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof json !== 'object' || json === null) return {};
  const { run_id: runId, error } = json as {
    run_id?: unknown;
    error?: { code?: unknown; message?: unknown };
  };
  return {
    ...optional('run', error === undefined ? readRun(json) : undefined),
    ...optional('runId', typeof runId === 'string' && runId.length > 0 ? runId : undefined),
    ...optional('errorCode', typeof error?.code === 'string' ? error.code : undefined),
    ...optional('errorMessage', typeof error?.message === 'string' ? error.message : undefined),
  };
}

function readRateLimit(headers: Dispatcher.ResponseData['headers']): RateLimitHeaders | undefined {
  const limit = Number(header(headers, 'x-ratelimit-limit'));
  const remaining = Number(header(headers, 'x-ratelimit-remaining'));
  const resetAtEpochSeconds = Number(header(headers, 'x-ratelimit-reset'));
  if (![limit, remaining, resetAtEpochSeconds].every(Number.isFinite) || limit <= 0) return undefined;
  return { limit, remaining, resetAtEpochSeconds };
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
