import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type KycertSandbox, startKycertSandbox } from '../local/sandbox/index.js';

// The sandbox's per-key POST record, which the fault suite's invariants read (test/support/invariants.ts).

const T0_MS = Date.UTC(2026, 0, 5, 12, 0, 0);
const BODY = JSON.stringify({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc: '52998224725' },
});

let sandbox: KycertSandbox | undefined;
const agent = new Agent();
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function post(
  idempotencyKey: string,
  apiKey = 'sk_test_local',
  body = BODY,
): Promise<number | 'reset'> {
  if (sandbox === undefined) throw new Error('no sandbox');
  try {
    const response = await request(`${sandbox.baseUrl}/bureau/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey, 'idempotency-key': idempotencyKey },
      body,
      dispatcher: agent,
    });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return 'reset';
  }
}

describe('sandbox stats: postsByIdempotencyKey', () => {
  it('records every POST under its key with the time it arrived, its answer and whether it was a replay', async () => {
    // Prepare
    let nowMs = T0_MS;
    sandbox = await startKycertSandbox({
      clock: () => nowMs,
      // postNumber counts a key's authenticated POSTs only
      faultScript: ({ idempotencyKey, postNumber }) =>
        idempotencyKey !== 'key-a'
          ? undefined
          : postNumber === 1
            ? 'serverError'
            : postNumber === 2
              ? 'resetAfterCreate'
              : undefined,
    });

    // Act
    const answers: Array<number | 'reset'> = [];
    answers.push(await post('key-a', 'sk_test_unknown')); // 401: counted, never reaches the key
    nowMs += 1_000;
    answers.push(await post('key-a')); // scripted 503
    nowMs += 1_000;
    answers.push(await post('key-a')); // created, then the socket is destroyed
    nowMs += 1_000;
    answers.push(await post('key-a')); // replay of the created run
    answers.push(await post('key-b', 'sk_test_local', BODY.replace('tpl_onboarding_pf', 'unknown_template')));

    // Assess
    expect(answers).toEqual([401, 503, 'reset', 200, 404]);
    const stats = sandbox.stats();
    expect(stats.postsByIdempotencyKey).toEqual({
      'key-a': [
        { atMs: T0_MS, answer: 401, replayed: false },
        { atMs: T0_MS + 1_000, answer: 503, replayed: false },
        { atMs: T0_MS + 2_000, answer: 'reset', replayed: false },
        { atMs: T0_MS + 3_000, answer: 200, replayed: true },
      ],
      'key-b': [{ atMs: T0_MS + 3_000, answer: 404, replayed: false }],
    });
    expect(stats.runsByIdempotencyKey['key-a']).toHaveLength(1);
  });

  it('hands out a snapshot: later POSTs do not change it', async () => {
    // Prepare
    sandbox = await startKycertSandbox();
    await post('key-c');
    const before = sandbox.stats();

    // Act
    await post('key-c');

    // Assess
    expect(before.postsByIdempotencyKey['key-c']).toHaveLength(1);
    expect(sandbox.stats().postsByIdempotencyKey['key-c']).toHaveLength(2);
  });
});
