import { Agent, errors, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type KycertSandbox,
  type KycertSandboxOptions,
  SandboxConfigError,
  seededRandom,
  startKycertSandbox,
} from '../local/sandbox/index.js';

// Who may call (keys, scopes), how often (rate limit, credits), and the server-side faults.

/** 15 s into a one-minute window (windows are aligned on whole minutes). */
const WINDOW_START_MS = Date.UTC(2026, 0, 5, 12, 0, 0);
const T0_MS = WINDOW_START_MS + 15_000;
let nowMs: number;
let sandbox: KycertSandbox;
let agent: Agent;

async function start(options: KycertSandboxOptions = {}) {
  sandbox = await startKycertSandbox({ clock: () => nowMs, ...options });
}

beforeEach(() => {
  nowMs = T0_MS;
  agent = new Agent();
});
afterEach(async () => {
  await sandbox.close();
  await agent.close();
});

const BODY = JSON.stringify({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc: '52998224725' },
});

async function send(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string) {
  const response = await request(`${sandbox.baseUrl}${path}`, { method, headers, body, dispatcher: agent });
  const json = (await response.body.json()) as { run_id?: string; error?: Record<string, unknown> };
  return { status: response.statusCode, headers: response.headers, json };
}
const post = (key = 'sk_test_local', extraHeaders: Record<string, string> = {}) =>
  send('POST', '/bureau/runs', { 'x-api-key': key, ...extraHeaders }, BODY);
const getRun = (runId: string, key = 'sk_test_local') =>
  send('GET', `/bureau/runs/${runId}`, { 'x-api-key': key });

describe('authentication and scopes', () => {
  it.each([
    ['no key', {}],
    ['an unknown key', { 'x-api-key': 'sk_test_nobody' }],
    ['an unknown bearer token', { authorization: 'Bearer sk_test_nobody' }],
    ['a key of the wrong shape', { 'x-api-key': 'pk_test_local' }],
  ])('answers %s with 401 invalid_api_key', async (_name, headers) => {
    await start();

    const { status, json } = await send('POST', '/bureau/runs', headers, BODY);

    expect(status).toBe(401);
    expect(json).toEqual({
      error: {
        type: 'authentication_error',
        code: 'invalid_api_key',
        message: expect.any(String),
        param: null,
      },
    });
  });

  it('takes the key from x-api-key or from Authorization: Bearer', async () => {
    await start();

    const direct = await send('POST', '/bureau/runs', { 'x-api-key': 'sk_test_local' }, BODY);
    const bearer = await send('POST', '/bureau/runs', { authorization: 'Bearer sk_test_local' }, BODY);

    expect([direct.status, bearer.status]).toEqual([202, 202]);
  });

  it('answers 403 missing_scope to a key without the scope the route needs', async () => {
    // Prepare
    await start({
      apiKeys: [
        { key: 'sk_test_writer', scopes: ['runs:write'] },
        { key: 'sk_test_reader', scopes: ['runs:read'] },
      ],
    });

    // Act
    const created = await post('sk_test_writer');
    const readByWriter = await getRun(created.json.run_id as string, 'sk_test_writer');
    const readByReader = await getRun(created.json.run_id as string, 'sk_test_reader');
    const postByReader = await post('sk_test_reader');

    // Assess
    expect(created.status).toBe(202);
    expect(readByWriter.status).toBe(403);
    expect(readByWriter.json.error).toEqual({
      type: 'permission_error',
      code: 'missing_scope',
      message: expect.stringContaining('runs:read'),
      param: null,
    });
    expect(readByReader.status).toBe(200);
    expect(postByReader.status).toBe(403);
  });

  it('rotates keys at run time: the old key gets 401, the refreshed one is accepted', async () => {
    await start({ apiKeys: ['sk_test_before'] });

    sandbox.setValidApiKeys(['sk_test_after']);
    const stale = await post('sk_test_before');
    const refreshed = await post('sk_test_after');

    expect(stale.status).toBe(401);
    expect(refreshed.status).toBe(202);
  });

  it('refuses at start-up a key that does not look like a kycert key', async () => {
    await start();

    await expect(startKycertSandbox({ apiKeys: ['local'] })).rejects.toThrow(
      new SandboxConfigError('API key "local" must look like sk_test_… or sk_live_… (letters, digits, _)'),
    );
    expect(() => sandbox.setValidApiKeys(['sk_prod_x'])).toThrow(SandboxConfigError);
  });
});

describe('rate limit', () => {
  it('counts down X-RateLimit-Remaining on every response, whatever its status', async () => {
    await start({ rateLimitPerMinute: 3 });

    const responses = [
      await post(),
      await getRun('run_unknown'),
      await send('GET', '/nope', { 'x-api-key': 'sk_test_local' }),
    ];

    expect(responses.map((r) => r.status)).toEqual([202, 404, 404]);
    expect(responses.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0']);
    for (const { headers } of responses) {
      expect(headers['x-ratelimit-limit']).toBe('3');
      expect(headers['x-ratelimit-reset']).toBe(String((WINDOW_START_MS + 60_000) / 1000));
    }
  });

  it('answers 429 rate_limit_exceeded past the limit, with Retry-After until the window ends, then lets requests through', async () => {
    // Prepare
    await start({ rateLimitPerMinute: 2 });
    await post();
    await post();

    // Act
    const limited = await post();
    nowMs = WINDOW_START_MS + 60_000;
    const nextWindow = await post();

    // Assess
    expect(limited.status).toBe(429);
    expect(limited.json.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect(limited.headers['retry-after']).toBe('45');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(nextWindow.status).toBe(202);
    expect(nextWindow.headers['x-ratelimit-remaining']).toBe('1');
    expect(sandbox.stats().runsCreated).toBe(3);
  });

  it('writes Retry-After as an HTTP-date when configured, rounded up to the whole second', async () => {
    nowMs = T0_MS + 400; // 44.6 s before the window ends
    await start({ rateLimitPerMinute: 1, faults: { retryAfterFormat: 'http-date' } });
    await post();

    const limited = await post();

    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('Mon, 05 Jan 2026 12:01:00 GMT');
  });

  it('counts each API key in its own window', async () => {
    await start({ rateLimitPerMinute: 1, apiKeys: ['sk_test_one', 'sk_test_two'] });

    const one = await post('sk_test_one');
    const two = await post('sk_test_two');
    const oneAgain = await post('sk_test_one');

    expect([one.status, two.status, oneAgain.status]).toEqual([202, 202, 429]);
  });

  it('answers an injected 429 storm whatever the budget, with the configured Retry-After in either format', async () => {
    await start({ faults: { rateLimitStormRate: 1, retryAfterSeconds: 7 } });

    const asSeconds = await post();
    sandbox.setFaults({ retryAfterFormat: 'http-date' });
    const asDate = await post();

    expect(asSeconds.status).toBe(429);
    expect(asSeconds.headers['retry-after']).toBe('7');
    expect(asSeconds.headers['x-ratelimit-remaining']).toBe('599');
    expect(asDate.headers['retry-after']).toBe(new Date(T0_MS + 7_000).toUTCString());
    expect(sandbox.stats().faultsInjected.rateLimitStorm).toBe(2);
    expect(sandbox.stats().runsCreated).toBe(0);
  });
});

describe('credits', () => {
  it('answers 402 insufficient_credits once the credits are spent, and resumes when they are topped up', async () => {
    // Prepare
    await start({ credits: 2 });

    // Act
    const statuses = [(await post()).status, (await post()).status];
    const exhausted = await post();
    const remainingWhenExhausted = sandbox.stats().creditsRemaining;
    sandbox.setCredits(1);
    const toppedUp = await post();

    // Assess
    expect(statuses).toEqual([202, 202]);
    expect(exhausted.status).toBe(402);
    expect(exhausted.json.error).toEqual({
      type: 'billing_error',
      code: 'insufficient_credits',
      message: expect.any(String),
      param: null,
    });
    expect(remainingWhenExhausted).toBe(0);
    expect(toppedUp.status).toBe(202);
  });
});

describe('server-side faults', () => {
  it.each([500, 502, 503] as const)(
    'answers %i api_error when serverErrorRate is 1, creating nothing',
    async (status) => {
      await start({ faults: { serverErrorRate: 1, serverErrorStatus: status } });

      const response = await post();

      expect(response.status).toBe(status);
      expect(response.json.error).toMatchObject({ type: 'api_error' });
      expect(sandbox.stats()).toMatchObject({ runsCreated: 0, faultsInjected: { serverError: 1 } });
    },
  );

  it('draws faults from the injected random: the same seed gives the same answers', async () => {
    // Prepare
    const statusesWithSeed = async (seed: number) => {
      await start({ faults: { serverErrorRate: 0.5 }, random: seededRandom(seed) });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await getRun('run_unknown')).status);
      await sandbox.close();
      return statuses;
    };

    // Act
    const first = await statusesWithSeed(7);
    const second = await statusesWithSeed(7);
    await start(); // for afterEach

    // Assess
    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set([404, 503]));
  });

  it('refuses fault settings it could not honour', async () => {
    await start();

    expect(() => sandbox.setFaults({ serverErrorRate: 1.5 })).toThrow(
      new SandboxConfigError('serverErrorRate must be a number in [0, 1], got 1.5'),
    );
    expect(() => sandbox.setFaults({ serverErrorStatus: 504 as 503 })).toThrow(SandboxConfigError);
    expect(sandbox.faults().serverErrorRate).toBe(0);
  });

  it('gives up on a held request when closed: the client sees the socket close', async () => {
    // Prepare: a latency that ends only when the sandbox aborts it.
    let markHeld: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      markHeld = resolve;
    });
    await start({
      faults: { latencyMs: 1_000 },
      sleep: (_delayMs, signal) =>
        new Promise((_resolve, reject) => {
          markHeld();
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    });

    // Act
    const pending = post();
    await held;
    await sandbox.close();

    // Assess
    await expect(pending).rejects.toBeInstanceOf(errors.SocketError);
    await start(); // for afterEach
  });
});

describe('stats', () => {
  it('counts every request, POSTs, statuses and error codes', async () => {
    await start();

    await post();
    await post('sk_test_nobody');
    await getRun('run_unknown');
    await send('GET', '/elsewhere', {});

    expect(sandbox.stats()).toMatchObject({
      requests: 4,
      postRuns: 2,
      getRuns: 1,
      runsCreated: 1,
      byStatus: { '202': 1, '401': 1, '404': 2 },
      byErrorCode: { invalid_api_key: 1, run_not_found: 1, route_not_found: 1 },
      creditsRemaining: Number.POSITIVE_INFINITY,
    });
  });
});
