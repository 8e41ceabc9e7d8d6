import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ApiKeySource, staticApiKey } from '../functions/kycert-worker/apiKeySource.js';
import { KycertClient, type KycertClientOptions } from '../functions/kycert-worker/kycertClient.js';
import {
  accepted,
  type FakeKycert,
  kycertError,
  RUNS_PATH,
  replayed,
  startFakeKycert,
} from './support/fakeKycert.js';
import { runRequestFactory, VALID_CPF } from './support/runRequestFactory.js';

let kycert: FakeKycert;
let client: KycertClient | undefined;

/** A client against the fake server; its clock advances 250 ms per reading, so latencyMs is known. */
function kycertClient(overrides: Partial<KycertClientOptions> = {}): KycertClient {
  let clockMs = Date.parse('2026-11-23T12:00:00.000Z');
  client = new KycertClient({
    baseUrl: kycert.baseUrl,
    apiKey: staticApiKey('sk_test_current'),
    connectTimeoutMs: 1_000,
    timeoutMs: 5_000,
    nowMs: () => {
      const now = clockMs;
      clockMs += 250;
      return now;
    },
    ...overrides,
  });
  return client;
}

/** An ApiKeySource that serves `current` until refresh() is called, then `rotated`. */
function rotatingApiKey(
  current: string,
  rotated: string,
): ApiKeySource & { refresh: ReturnType<typeof vi.fn> } {
  let key = current;
  return {
    get: async () => key,
    refresh: vi.fn(async () => {
      key = rotated;
      return key;
    }),
  };
}

beforeAll(async () => {
  kycert = await startFakeKycert();
});

afterAll(async () => {
  await kycert.close();
});

beforeEach(() => {
  kycert.reset();
});

afterEach(async () => {
  await client?.close();
  client = undefined;
});

describe('the request', () => {
  it('POSTs to /bureau/runs with the API key, the idempotency key and JSON headers', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));

    // Act
    await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(kycert.requests).toHaveLength(1);
    const [request] = kycert.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe(RUNS_PATH);
    expect(request?.headers).toMatchObject({
      'x-api-key': 'sk_test_current',
      'idempotency-key': 'idem-0001-aaaaaaaa',
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'kycert-queue/0.1 (+undici)',
    });
    expect(request?.headers).not.toHaveProperty('x-kycert-api-version');
  });

  it('sends x-kycert-api-version when a version is pinned', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));

    // Act
    await kycertClient({ apiVersion: '2026-10-01' }).createRun(runRequestFactory());

    // Assess
    expect(kycert.requests[0]?.headers['x-kycert-api-version']).toBe('2026-10-01');
  });

  it('sends the body with a fixed key order and the metadata keys sorted', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));
    const request = runRequestFactory({ metadata: { zeta: '3', alpha: '1', Beta: '2', 'a-b': '4' } });

    // Act
    await kycertClient().createRun(request);

    // Assess
    expect(kycert.requests[0]?.body).toBe(
      `{"template_id":"tpl_onboarding_pf","subject":{"type":"pf","doc":"${VALID_CPF}"},` +
        '"external_id":"customer-0001","metadata":{"Beta":"2","a-b":"4","alpha":"1","zeta":"3"}}',
    );
  });

  it('leaves out external_id and metadata when the request has none', async () => {
    // Prepare
    kycert.reply(accepted('run_0001'));

    // Act
    await kycertClient().createRun(runRequestFactory({ externalId: undefined, metadata: undefined }));

    // Assess
    expect(kycert.requests[0]?.body).toBe(
      `{"template_id":"tpl_onboarding_pf","subject":{"type":"pf","doc":"${VALID_CPF}"}}`,
    );
  });
});

describe('the answer', () => {
  it.each([
    ['202 Accepted', accepted('run_0001'), 202, 'queued'],
    ['200 replay', replayed('run_0001'), 200, 'completed'],
  ] as const)('reads the run_id and the run of a %s', async (_what, reply, httpStatus, status) => {
    // Prepare
    kycert.reply(reply);

    // Act
    const outcome = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(outcome).toEqual({
      result: {
        kind: 'response',
        httpStatus,
        runId: 'run_0001',
        run: {
          runId: 'run_0001',
          status,
          decision: null,
          riskBand: null,
          completedAt: null,
          failedAt: null,
          estimatedSeconds: null,
        },
      },
      latencyMs: 250,
      credentialRefreshed: false,
    });
  });

  it('a status check GETs the run by its id, with the key and no Idempotency-Key, and reads it', async () => {
    // Prepare
    kycert.reply({
      status: 200,
      body: {
        run_id: 'run_0001',
        status: 'BLOCKED',
        decision: 'BLOCKED',
        risk_level: 'CRITICAL',
        completed_at: '2026-11-23T12:00:05Z',
      },
    });

    // Act
    const { result } = await kycertClient().getRun('run_0001');

    // Assess
    expect(kycert.requests[0]).toMatchObject({ method: 'GET', path: '/api/v1/bureau/runs/run_0001' });
    expect(kycert.requests[0]?.headers['idempotency-key']).toBeUndefined();
    expect(kycert.requests[0]?.headers['x-api-key']).toBe('sk_test_current');
    expect(result).toMatchObject({
      kind: 'response',
      httpStatus: 200,
      run: {
        runId: 'run_0001',
        status: 'blocked',
        decision: 'BLOCKED',
        riskBand: 'CRITICAL',
        completedAt: '2026-11-23T12:00:05.000Z',
      },
    });
  });

  it("reads kycert's error envelope", async () => {
    // Prepare
    kycert.reply(kycertError(402, 'insufficient_credits', 'Not enough credits for this template'));

    // Act
    const { result } = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({
      kind: 'response',
      httpStatus: 402,
      errorCode: 'insufficient_credits',
      errorMessage: 'Not enough credits for this template',
    });
  });

  it('reads Retry-After and the X-RateLimit-* headers', async () => {
    // Prepare
    kycert.reply(
      kycertError(429, 'rate_limited', 'Too many requests', {
        'retry-after': '17',
        'x-ratelimit-limit': '600',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '1795435217',
      }),
    );

    // Act
    const { result } = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({
      kind: 'response',
      httpStatus: 429,
      errorCode: 'rate_limited',
      errorMessage: 'Too many requests',
      retryAfter: '17',
      rateLimit: { limit: 600, remaining: 0, resetAtEpochSeconds: 1795435217 },
    });
  });

  it('passes an HTTP-date Retry-After through as text', async () => {
    // Prepare
    kycert.reply({ status: 429, headers: { 'retry-after': 'Mon, 23 Nov 2026 12:01:30 GMT' } });

    // Act
    const { result } = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({
      kind: 'response',
      httpStatus: 429,
      retryAfter: 'Mon, 23 Nov 2026 12:01:30 GMT',
    });
  });

  it.each([
    ['missing a header', { 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '12' }],
    [
      'not numbers',
      { 'x-ratelimit-limit': 'many', 'x-ratelimit-remaining': '12', 'x-ratelimit-reset': '1795435217' },
    ],
    [
      'a zero limit',
      { 'x-ratelimit-limit': '0', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1795435217' },
    ],
  ])('ignores X-RateLimit-* headers %s', async (_what, headers) => {
    // Prepare
    kycert.reply({ status: 202, headers, body: { run_id: 'run_0001' } });

    // Act
    const { result } = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({ kind: 'response', httpStatus: 202, runId: 'run_0001' });
  });

  it.each([
    ['an HTML error page', { status: 502, body: '<html><body>Bad Gateway</body></html>' }, 502],
    ['an empty body', { status: 503 }, 503],
    ['JSON that is not an object', { status: 500, body: '"oops"' }, 500],
    ['a 2xx without run_id', { status: 202, body: { status: 'queued' } }, 202],
    ['a 2xx with an empty run_id', { status: 202, body: { run_id: '' } }, 202],
  ])('reads only the status from %s', async (_what, reply, httpStatus) => {
    // Prepare
    kycert.reply(reply);

    // Act
    const { result } = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({ kind: 'response', httpStatus });
  });
});

describe('network errors', () => {
  it('reports a reset connection as a network error', async () => {
    // Prepare
    kycert.reply({ reset: true });

    // Act
    const { result, credentialRefreshed } = await kycertClient().createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({
      kind: 'networkError',
      errorCode: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET)$/),
      errorMessage: expect.any(String),
    });
    expect(credentialRefreshed).toBe(false);
    expect(kycert.requests).toHaveLength(1);
  });

  it('gives up waiting for the response headers after timeoutMs', async () => {
    // Prepare
    kycert.reply({ hang: true });

    // Act
    const { result } = await kycertClient({ timeoutMs: 200 }).createRun(runRequestFactory());

    // Assess
    expect(result).toEqual({
      kind: 'networkError',
      errorCode: 'UND_ERR_HEADERS_TIMEOUT',
      errorMessage: expect.any(String),
    });
  });

  it('reports a refused connection as a network error', async () => {
    // Prepare: a port that was just listening and is now closed
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));

    // Act
    const { result } = await kycertClient({ baseUrl: `http://127.0.0.1:${port}/api/v1` }).createRun(
      runRequestFactory(),
    );

    // Assess
    expect(result).toEqual({
      kind: 'networkError',
      errorCode: 'ECONNREFUSED',
      errorMessage: expect.any(String),
    });
  });
});

describe('authentication', () => {
  it('after a 401, refreshes the key and sends the same request once more', async () => {
    // Prepare
    const apiKey = rotatingApiKey('sk_test_revoked', 'sk_test_rotated');
    kycert.script((request) =>
      request.headers['x-api-key'] === 'sk_test_rotated'
        ? accepted('run_0001')
        : kycertError(401, 'invalid_api_key', 'API key revoked'),
    );

    // Act
    const outcome = await kycertClient({ apiKey }).createRun(runRequestFactory());

    // Assess
    expect(outcome).toEqual({
      result: expect.objectContaining({ kind: 'response', httpStatus: 202, runId: 'run_0001' }),
      latencyMs: 250,
      credentialRefreshed: true,
    });
    expect(apiKey.refresh).toHaveBeenCalledTimes(1);
    const [first, second] = kycert.requests;
    expect([first?.headers['x-api-key'], second?.headers['x-api-key']]).toEqual([
      'sk_test_revoked',
      'sk_test_rotated',
    ]);
    expect(second?.headers['idempotency-key']).toBe(first?.headers['idempotency-key']);
    expect(second?.body).toBe(first?.body);
  });

  it('returns the second 401 as is, without a third request', async () => {
    // Prepare
    const apiKey = rotatingApiKey('sk_test_revoked', 'sk_test_still_revoked');
    kycert.script(() => kycertError(401, 'invalid_api_key', 'API key revoked'));

    // Act
    const outcome = await kycertClient({ apiKey }).createRun(runRequestFactory());

    // Assess
    expect(outcome.result).toEqual({
      kind: 'response',
      httpStatus: 401,
      errorCode: 'invalid_api_key',
      errorMessage: 'API key revoked',
    });
    expect(outcome.credentialRefreshed).toBe(true);
    expect(kycert.requests).toHaveLength(2);
  });

  it.each([403, 500])('does not refresh the key after a %i', async (status) => {
    // Prepare
    const apiKey = rotatingApiKey('sk_test_current', 'sk_test_rotated');
    kycert.reply({ status });

    // Act
    const outcome = await kycertClient({ apiKey }).createRun(runRequestFactory());

    // Assess
    expect(outcome.credentialRefreshed).toBe(false);
    expect(apiKey.refresh).not.toHaveBeenCalled();
    expect(kycert.requests).toHaveLength(1);
  });
});
