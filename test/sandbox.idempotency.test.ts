import { Agent, errors, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KycertSandbox, type KycertSandboxOptions, startKycertSandbox } from '../local/sandbox/index.js';

// kycert's Idempotency-Key contract, and the faults that test a client's use of it.

const T0_MS = Date.UTC(2026, 0, 5, 12, 0, 0);
const HOUR_MS = 3_600_000;
let nowMs: number;
let sandbox: KycertSandbox;
let agent: Agent;

/**
 * Stands in for the sandbox's timer: a held request stays in flight until the test releases it, so "while the
 * first request is still being processed" is a fact of the test, not a race against a real delay.
 */
function heldSleep() {
  const held: Array<() => void> = [];
  const waiting: Array<{ count: number; resolve: () => void }> = [];
  return {
    sleep: (_delayMs: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        held.push(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        for (const waiter of waiting.filter((w) => held.length >= w.count)) waiter.resolve();
      }),
    /** Resolves once `count` requests are held. */
    untilHeld: (count: number) =>
      new Promise<void>((resolve) => (held.length >= count ? resolve() : waiting.push({ count, resolve }))),
    releaseAll: () => {
      for (const release of held.splice(0)) release();
    },
  };
}

async function start(options: KycertSandboxOptions = {}) {
  sandbox = await startKycertSandbox({ clock: () => nowMs, ...options });
}

beforeEach(() => {
  nowMs = T0_MS;
  agent = new Agent();
});
afterEach(async () => {
  // The sandbox first: closing it gives up on held requests, which the agent would otherwise wait for.
  await sandbox.close();
  await agent.close();
});

const BODY = JSON.stringify({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc: '52998224725' },
});

async function post(
  idempotencyKey: string | undefined,
  { body = BODY, key = 'sk_test_local', signal }: { body?: string; key?: string; signal?: AbortSignal } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-api-key': key };
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const response = await request(`${sandbox.baseUrl}/bureau/runs`, {
    method: 'POST',
    headers,
    body,
    dispatcher: agent,
    ...(signal === undefined ? {} : { signal }),
  });
  const json = (await response.body.json()) as { run_id?: string; error?: { type: string; code: string } };
  return { status: response.statusCode, headers: response.headers, json };
}

describe('replays', () => {
  it('answers a retry with the same key and body 200, with the original body, and creates nothing', async () => {
    // Prepare
    await start({ credits: 5 });

    // Act
    const first = await post('key-1');
    const retry = await post('key-1');

    // Assess
    expect(first.status).toBe(202);
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const stats = sandbox.stats();
    expect(stats).toMatchObject({ postRuns: 2, runsCreated: 1, replays: 1, creditsRemaining: 4 });
    expect(stats.runsByIdempotencyKey).toEqual({ 'key-1': [first.json.run_id] });
    expect(stats.bodiesByIdempotencyKey).toEqual({ 'key-1': [BODY] });
  });

  it('refuses the same key with a different body, byte for byte, with 422 idempotency_key_reused', async () => {
    await start();
    const reformatted = JSON.stringify(JSON.parse(BODY), null, 2); // same JSON value, other bytes

    await post('key-1');
    const other = await post('key-1', { body: reformatted });

    expect(other.status).toBe(422);
    expect(other.json.error).toMatchObject({ type: 'idempotency_error', code: 'idempotency_key_reused' });
    expect(sandbox.stats().runsCreated).toBe(1);
    expect(sandbox.stats().bodiesByIdempotencyKey['key-1']).toEqual([BODY, reformatted]);
  });

  it.each([
    ['400 (invalid document)', 400, 'invalid_document', false],
    ['402 (no credits), with keepAccountErrors', 402, 'insufficient_credits', true],
    ['403 (missing scope), with keepAccountErrors', 403, 'missing_scope', true],
    ['404 (unknown template)', 404, 'template_not_found', false],
  ] as const)(
    'keeps a %s under the key and replays it after the cause is gone',
    async (_name, status, code, keepAccountErrors) => {
      // Prepare: each case provokes its error, then removes the cause before the retry.
      const bodies: Record<number, string> = {
        400: JSON.stringify({ template_id: 'tpl_x', subject: { type: 'pf', doc: '52998224724' } }),
        404: JSON.stringify({ template_id: 'custom-template', subject: { type: 'pf', doc: '52998224725' } }),
      };
      const body = bodies[status] ?? BODY;
      await start({
        credits: status === 402 ? 0 : 10,
        apiKeys: [
          { key: 'sk_test_local', scopes: status === 403 ? ['runs:read'] : ['runs:write', 'runs:read'] },
        ],
        templates: [],
        keepAccountErrors,
      });

      // Act
      const first = await post('key-4xx', { body });
      sandbox.setCredits(10);
      sandbox.setValidApiKeys(['sk_test_local']);
      const retry = await post('key-4xx', { body });
      const freshKey = await post('key-fresh', { body: status === 400 || status === 404 ? BODY : body });

      // Assess
      expect(first.status).toBe(status);
      expect(first.json.error?.code).toBe(code);
      expect(retry.status).toBe(status);
      expect(retry.json).toEqual(first.json);
      expect(sandbox.stats().replays).toBe(1);
      expect(freshKey.status).toBe(202); // the cause really is gone
    },
  );

  it.each([
    ['402 (no credits)', 402],
    ['403 (missing scope)', 403],
  ] as const)(
    'by default keeps no %s: once the cause is gone, the same key goes through',
    async (_name, status) => {
      // Prepare
      await start({
        credits: status === 402 ? 0 : 10,
        apiKeys: [
          { key: 'sk_test_local', scopes: status === 403 ? ['runs:read'] : ['runs:write', 'runs:read'] },
        ],
      });

      // Act
      const first = await post('key-account');
      sandbox.setCredits(10);
      sandbox.setValidApiKeys(['sk_test_local']);
      const retry = await post('key-account');

      // Assess
      expect(first.status).toBe(status);
      expect(retry.status).toBe(202);
      expect(sandbox.stats().replays).toBe(0);
    },
  );

  it('forgets a key 24 h after its first use, by the clock', async () => {
    await start();

    const first = await post('key-day');
    nowMs = T0_MS + 24 * HOUR_MS - 1;
    const lastReplay = await post('key-day');
    nowMs = T0_MS + 24 * HOUR_MS;
    const afterExpiry = await post('key-day');

    expect(lastReplay.status).toBe(200);
    expect(lastReplay.json.run_id).toBe(first.json.run_id);
    expect(afterExpiry.status).toBe(202);
    expect(afterExpiry.json.run_id).not.toBe(first.json.run_id);
    expect(sandbox.stats().runsByIdempotencyKey['key-day']).toEqual([
      first.json.run_id,
      afterExpiry.json.run_id,
    ]);
  });

  it('scopes keys to the account: a rotated key still replays, another account does not', async () => {
    // Prepare
    await start({ apiKeys: ['sk_test_old', { key: 'sk_test_elsewhere', tenant: 'acct_other' }] });

    // Act
    const first = await post('key-acct', { key: 'sk_test_old' });
    const otherAccount = await post('key-acct', { key: 'sk_test_elsewhere' });
    sandbox.setValidApiKeys(['sk_test_new']);
    const oldKey = await post('key-acct', { key: 'sk_test_old' });
    const rotated = await post('key-acct', { key: 'sk_test_new' });

    // Assess
    expect(otherAccount.status).toBe(202);
    expect(otherAccount.json.run_id).not.toBe(first.json.run_id);
    expect(oldKey.status).toBe(401);
    expect(rotated.status).toBe(200);
    expect(rotated.json.run_id).toBe(first.json.run_id);
  });

  it('refuses an Idempotency-Key longer than 255 characters with 400, keeping nothing', async () => {
    await start();

    const { status, json } = await post('k'.repeat(256));

    expect(status).toBe(400);
    expect(json.error).toMatchObject({ code: 'invalid_idempotency_key' });
    expect(sandbox.stats().runsCreated).toBe(0);
  });
});

describe('answers that are not kept under the key', () => {
  it.each([
    ['a 429 from the rate limit', { rateLimitPerMinute: 1 }, 429],
    ['an injected 429 storm', { faults: { rateLimitStormRate: 1 } }, 429],
    ['an injected 503', { faults: { serverErrorRate: 1 } }, 503],
    ['an injected 409', { faults: { inProgressRate: 1 } }, 409],
  ] as const)('%s: the retry with the same key creates the run', async (_name, options, status) => {
    // Prepare: the rate-limit case spends its one request of the window first.
    await start(options);
    if ('rateLimitPerMinute' in options) await post(undefined);

    // Act
    const refused = await post('key-transient');
    sandbox.setFaults({ rateLimitStormRate: 0, serverErrorRate: 0, inProgressRate: 0 });
    nowMs = T0_MS + 60_000; // a new rate-limit window
    const retry = await post('key-transient');

    // Assess
    expect(refused.status).toBe(status);
    expect(retry.status).toBe(202);
    expect(sandbox.stats().runsByIdempotencyKey['key-transient']).toEqual([retry.json.run_id]);
  });

  it('a 401: the retry with a valid key creates the run', async () => {
    await start();

    const refused = await post('key-401', { key: 'sk_test_unknown' });
    const retry = await post('key-401');

    expect(refused.status).toBe(401);
    expect(retry.status).toBe(202);
  });
});

describe('concurrency and faults around creation', () => {
  it('answers 409 idempotency_in_progress while the first request with the key is being processed', async () => {
    // Prepare
    const held = heldSleep();
    await start({ faults: { latencyMs: 1_000 }, sleep: held.sleep });

    // Act
    const first = post('key-busy');
    await held.untilHeld(1);
    const concurrent = await post('key-busy');
    held.releaseAll();
    const created = await first;
    sandbox.setFaults({ latencyMs: 0 }); // a replay takes processing time too; the test holds none
    const later = await post('key-busy');

    // Assess
    expect(concurrent.status).toBe(409);
    expect(concurrent.json.error).toMatchObject({
      type: 'idempotency_error',
      code: 'idempotency_in_progress',
    });
    expect(created.status).toBe(202);
    expect(later.status).toBe(200);
    expect(later.json.run_id).toBe(created.json.run_id);
    expect(sandbox.stats().runsCreated).toBe(1);
  });

  it('reset after create: the client sees a socket error, the run exists, the retry replays it', async () => {
    // Prepare
    await start({ faults: { resetAfterCreateRate: 1 } });

    // Act
    const lost = post('key-reset');
    await expect(lost).rejects.toBeInstanceOf(errors.SocketError);
    const afterReset = sandbox.stats();
    const retry = await post('key-reset');

    // Assess
    expect(afterReset.runsCreated).toBe(1);
    expect(afterReset.faultsInjected.resetAfterCreate).toBe(1);
    expect(retry.status).toBe(200);
    expect(retry.json.run_id).toBe(afterReset.runsByIdempotencyKey['key-reset']?.[0]);
    expect(sandbox.stats().runsCreated).toBe(1);
  });

  it('slow after create: a client that gives up and retries gets the run already created', async () => {
    // Prepare
    const held = heldSleep();
    await start({ faults: { slowAfterCreateMs: 60_000 }, sleep: held.sleep });
    const clientTimeout = new AbortController();

    // Act
    const slow = post('key-slow', { signal: clientTimeout.signal });
    await held.untilHeld(1);
    clientTimeout.abort();
    await expect(slow).rejects.toThrow();
    const retry = await post('key-slow');
    held.releaseAll();

    // Assess
    expect(retry.status).toBe(200);
    expect(retry.json.run_id).toBe(sandbox.runs()[0]?.runId);
    expect(sandbox.stats()).toMatchObject({
      runsCreated: 1,
      replays: 1,
      faultsInjected: { slowAfterCreate: 1 },
    });
  });
});
