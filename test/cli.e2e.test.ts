/**
 * The operator CLI end to end, against the local pipeline (kycert sandbox, SQS and DynamoDB emulators on
 * loopback, the real handler): the CLI's own entry point (`runCli`) with `--local`, reading a state file as
 * `npm start -- --keep-running` writes it, plus the real process for exit codes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveIdempotencyKey } from '../functions/kycert-worker/runRequestMessage.js';
import { type LocalPipeline, startLocalPipeline } from '../local/pipeline/startLocalPipeline.js';
import type { FaultScript } from '../local/sandbox/index.js';
import { runCliCaptured } from './support/runCliCaptured.js';

const execFileAsync = promisify(execFile);

let pipeline: LocalPipeline;
let dir: string;
let stateFile: string;
/** Until a test "fixes kycert", every POST for an external id starting with `flaky-` gets a 503. */
let kycertFixed = false;
const faultScript: FaultScript = ({ externalId }) =>
  !kycertFixed && externalId?.startsWith('flaky-') === true ? 'serverError' : undefined;

beforeAll(async () => {
  pipeline = await startLocalPipeline({
    sqsPort: 0,
    dynamodbPort: 0,
    sandbox: { port: 0, faultScript },
    maxAttempts: 2,
    backoffBaseSeconds: 1,
    backoffMaxSeconds: 1,
  });
  dir = mkdtempSync(join(tmpdir(), 'kycert-queue-cli-'));
  stateFile = join(dir, 'pipeline.json');
  // What local/start.ts writes while it runs: the worker's environment and its pid.
  writeFileSync(
    stateFile,
    JSON.stringify({ pid: process.pid, ...pipeline.workerEnv, KYCERT_API_KEY: undefined }),
  );
});

afterAll(async () => {
  await pipeline?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) =>
  runCliCaptured([...args, '--local', '--local-state', stateFile], { env: process.env, nowMs: Date.now });

async function settle(): Promise<void> {
  expect(await pipeline.waitUntilSettled({ timeoutMs: 20_000, pollMs: 100 })).toBe(true);
}

const request = (externalId: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    template_id: 'tpl_onboarding_pf',
    subject: { type: 'pf', doc: '000.000.001-91' },
    external_id: externalId,
    ...fields,
  });

interface DeadLetterJson {
  message_id: string;
  reason: string | null;
  idempotency_key: string | null;
  body: string;
}

describe('send → status', () => {
  it('sends a message from flags, the pipeline runs it, and status shows it succeeded with its run id', async () => {
    // Act
    const sent = await cli(
      'send',
      '--template',
      'tpl_onboarding_pf',
      '--doc',
      '000.000.001-91',
      '--external-id',
      'cli-send-1',
      '--json',
    );
    await settle();

    // Assess
    expect(sent.code).toBe(0);
    expect(sent.stderr).toMatch(/^kycert-queue: sending 1 message\(s\) to the local pipeline \(pid \d+\)\n$/);
    const [result] = sent.json<{ results: { ok: boolean; message_id: string; idempotency_key: string }[] }>()
      .results;
    expect(result?.ok).toBe(true);
    expect(result?.message_id).not.toBe('');
    expect(result?.idempotency_key).toBe(deriveIdempotencyKey('tpl_onboarding_pf', 'cli-send-1'));
    const status = await cli('status', result?.idempotency_key ?? '', '--json');
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({ status: 'succeeded', attempts: 1, external_id: 'cli-send-1' });
    expect(status.json<{ run_id: string }>().run_id).toMatch(/^run_/);
    const readable = await cli('status', '--template', 'tpl_onboarding_pf', '--external-id', 'cli-send-1');
    expect(readable.stdout).toMatch(/status\s+succeeded/);
    expect(readable.stdout).toContain(status.json<{ run_id: string }>().run_id);
  });

  it('sends the valid lines of a JSONL file, reports the invalid ones, and exits 1', async () => {
    // Prepare
    const file = join(dir, 'messages.jsonl');
    writeFileSync(
      file,
      [
        request('cli-file-1'),
        request('cli-file-bad', { subject: { type: 'pf', doc: '123.456.789-00' } }),
        '',
        'not json',
        request('cli-file-2'),
      ].join('\n'),
    );

    // Act
    const sent = await cli('send', '--file', file);
    await settle();

    // Assess
    expect(sent.code).toBe(1);
    expect(sent.stdout).toContain('invalid_message:subject.doc:invalid_check_digits');
    expect(sent.stdout).toContain('invalid_message:body:invalid_json');
    expect(sent.stdout).toContain('2 sent, 2 not sent');
    expect(sent.stdout).not.toContain('123.456.789-00');
    for (const externalId of ['cli-file-1', 'cli-file-2']) {
      const status = await cli('status', deriveIdempotencyKey('tpl_onboarding_pf', externalId), '--json');
      expect(status.json()).toMatchObject({ status: 'succeeded' });
    }
    const refused = await cli('status', deriveIdempotencyKey('tpl_onboarding_pf', 'cli-file-bad'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('no outcome for key');
  });

  it('refuses a pretty-printed JSON array for --file, sending none of it', async () => {
    // Prepare
    const file = join(dir, 'messages.json');
    const pretty = JSON.stringify(
      [JSON.parse(request('cli-array-1')), JSON.parse(request('cli-array-2'))],
      null,
      2,
    );
    writeFileSync(file, pretty);

    // Act
    const sent = await cli('send', '--file', file);

    // Assess
    expect(sent.code).toBe(2);
    expect(sent.stderr).toContain(
      `error: --file reads JSON Lines: ${file} is one JSON array over ${pretty.split('\n').length} lines, not JSON Lines: write one message per line (jq -c '.[]' ${file})`,
    );
    const status = await cli('status', deriveIdempotencyKey('tpl_onboarding_pf', 'cli-array-1'));
    expect(status.stderr).toContain('no outcome for key');
  });
});

describe('a DLQ of mixed reasons', () => {
  const badCpfKey = deriveIdempotencyKey('tpl_onboarding_pf', 'cli-bad-cpf');
  const legacyKey = deriveIdempotencyKey('legacy_x', 'cli-legacy');
  const flakyKeys = ['flaky-1', 'flaky-2'].map((id) => deriveIdempotencyKey('tpl_onboarding_pf', id));
  let firstAttempts: Record<string, string>;

  beforeAll(async () => {
    // A producer that skipped validation, a retired template, and kycert failing for two requests.
    await pipeline.enqueue([
      request('cli-bad-cpf', { subject: { type: 'pf', doc: '123.456.789-00' } }),
      request('cli-legacy', { template_id: 'legacy_x' }),
      request('flaky-1'),
      request('flaky-2'),
      'this is not JSON',
    ]);
    await settle();
    firstAttempts = {};
    for (const key of flakyKeys) {
      firstAttempts[key] = (await cli('status', key, '--json')).json<{
        first_attempt_at: string;
      }>().first_attempt_at;
    }
  });

  it('dlq list shows every message with its reason and key, documents masked, and leaves them in the DLQ', async () => {
    // Act
    const listed = await cli('dlq', 'list', '--json');
    const table = await cli('dlq', 'list');
    const again = await cli('dlq', 'list', '--json');

    // Assess
    expect(listed.code).toBe(0);
    const messages = listed.json<{ messages: DeadLetterJson[] }>().messages;
    expect(messages.map((m) => [m.reason, m.idempotency_key]).sort()).toEqual(
      [
        ['invalid_message:subject.doc:invalid_check_digits', badCpfKey],
        ['kycert_rejected:template_not_found', legacyKey],
        ['retries_exhausted', flakyKeys[0]],
        ['retries_exhausted', flakyKeys[1]],
        ['invalid_message:body:invalid_json', null],
      ].sort(),
    );
    // --json prints the original body verbatim; the table masks the document.
    expect(messages.find((m) => m.idempotency_key === badCpfKey)?.body).toContain('123.456.789-00');
    expect(table.stdout).toContain('kycert_rejected:template_not_found');
    expect(table.stdout).toContain('*********00');
    expect(table.stdout).not.toMatch(/123\.456\.789-00|12345678900/);
    expect(table.stdout).toContain('They are still in the DLQ');
    expect(again.json<{ messages: DeadLetterJson[] }>().messages).toHaveLength(5);
  });

  it('list --status failed shows the dead-lettered keys, from the sharded list index', async () => {
    const listed = await cli('list', '--status', 'failed', '--since', '1h', '--json');

    expect(listed.code).toBe(0);
    expect(
      listed.json<{ items: { idempotency_key: string }[] }>().items.map((i) => i.idempotency_key),
    ).toEqual(expect.arrayContaining([badCpfKey, legacyKey, ...flakyKeys]));
  });

  it('dlq show prints one message with its body verbatim, and leaves it in the DLQ', async () => {
    // Act
    const shown = await cli('dlq', 'show', badCpfKey);

    // Assess
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/reason\s+invalid_message:subject\.doc:invalid_check_digits/);
    expect(shown.stdout).toContain('"doc":"123.456.789-00"');
    expect(
      (await cli('dlq', 'list', '--key', badCpfKey, '--json')).json<{ messages: unknown[] }>().messages,
    ).toHaveLength(1);
    const missing = await cli('dlq', 'show', 'no-such-message');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no DLQ message with id or idempotency key no-such-message');
  });

  it('refuses to redrive unchanged what would fail again, and leaves it in the DLQ', async () => {
    // Act
    const invalid = await cli('dlq', 'redrive', '--key', badCpfKey, '--json');
    const rejected = await cli('dlq', 'redrive', '--reason', 'kycert_rejected', '--json');

    // Assess
    expect(invalid.code).toBe(1);
    expect(invalid.json()).toMatchObject({
      results: [{ idempotency_key: badCpfKey, action: 'skipped', note: expect.stringContaining('invalid') }],
    });
    expect(rejected.code).toBe(1);
    expect(rejected.json()).toMatchObject({
      results: [
        { idempotency_key: legacyKey, action: 'skipped', note: expect.stringContaining('--fresh-key') },
      ],
    });
    expect((await cli('dlq', 'list', '--json')).json<{ messages: unknown[] }>().messages).toHaveLength(5);
  });

  it('redrives by reason, unchanged: the keys are reopened and the pipeline finishes them once kycert is fixed', async () => {
    // Prepare
    const dryRun = await cli('dlq', 'redrive', '--reason', 'retries_exhausted', '--dry-run', '--json');
    expect(dryRun.json<{ results: { action: string }[] }>().results.map((r) => r.action)).toEqual([
      'would_redrive',
      'would_redrive',
    ]);
    kycertFixed = true;

    // Act
    const redriven = await cli('dlq', 'redrive', '--reason', 'retries_exhausted', '--yes', '--json');
    await settle();

    // Assess
    expect(redriven.code).toBe(0);
    const report = redriven.json<{ method: string; results: { action: string; reopened: boolean }[] }>();
    expect(report.method).toBe('per_message');
    expect(report.results.map((r) => [r.action, r.reopened])).toEqual([
      ['redriven', true],
      ['redriven', true],
    ]);
    for (const key of flakyKeys) {
      const outcome = (await cli('status', key, '--json')).json();
      expect(outcome).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        first_attempt_at: firstAttempts[key],
      });
      expect(outcome.run_id).toMatch(/^run_/);
      expect(outcome.redriven_at).toEqual(expect.any(String));
      expect(outcome.dead_letter_reason).toBeUndefined();
    }
    const left = (await cli('dlq', 'list', '--json')).json<{ messages: DeadLetterJson[] }>().messages;
    expect(left.map((m) => m.reason).sort()).toEqual([
      'invalid_message:body:invalid_json',
      'invalid_message:subject.doc:invalid_check_digits',
      'kycert_rejected:template_not_found',
    ]);
  });

  it('redrives corrected bodies under fresh keys, and the old outcomes record which key superseded them', async () => {
    // Prepare: the CPF fixed (matched by its key), and the template renamed (matched by DLQ message id).
    const dlq = (await cli('dlq', 'list', '--json')).json<{ messages: DeadLetterJson[] }>().messages;
    const legacy = dlq.find((m) => m.idempotency_key === legacyKey);
    const bodies = join(dir, 'corrected.jsonl');
    writeFileSync(
      bodies,
      [
        request('cli-bad-cpf'),
        JSON.stringify({ message_id: legacy?.message_id, body: JSON.parse(request('cli-legacy')) }),
      ].join('\n'),
    );

    // Act
    const redriven = await cli('dlq', 'redrive', '--bodies', bodies, '--yes', '--json');
    await settle();

    // Assess
    expect(redriven.code).toBe(0);
    const results = redriven.json<{
      results: { idempotency_key: string; action: string; new_idempotency_key: string }[];
    }>().results;
    expect(results.map((r) => [r.idempotency_key, r.action]).sort()).toEqual(
      [
        [badCpfKey, 'redriven_fresh_key'],
        [legacyKey, 'redriven_fresh_key'],
      ].sort(),
    );
    for (const result of results) {
      expect(result.new_idempotency_key).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      const fresh = (await cli('status', result.new_idempotency_key, '--json')).json();
      expect(fresh).toMatchObject({ status: 'succeeded', key_source: 'message' });
      const old = await cli('status', result.idempotency_key, '--json');
      expect(old.json()).toMatchObject({ status: 'failed', superseded_by: result.new_idempotency_key });
      expect((await cli('status', result.idempotency_key)).stdout).toContain(
        `kycert-queue status ${result.new_idempotency_key}`,
      );
    }
    const left = (await cli('dlq', 'list', '--json')).json<{ messages: DeadLetterJson[] }>().messages;
    expect(left.map((m) => m.reason)).toEqual(['invalid_message:body:invalid_json']);
  });

  it('redrives "all of them" locally one by one, says so, and leaves what cannot go back', async () => {
    // Act
    const all = await cli('dlq', 'redrive');

    // Assess
    expect(all.code).toBe(1);
    expect(all.stdout).toContain('the local emulator has none');
    expect(all.stdout).toContain('0 redriven, 1 skipped, 0 failed');
    expect((await cli('dlq', 'list', '--json')).json<{ messages: unknown[] }>().messages).toHaveLength(1);
  });
});

describe('the real process', () => {
  const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
  const run = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await execFileAsync(tsx, [
        'tools/cli.ts',
        ...args,
        '--local',
        '--local-state',
        stateFile,
      ]);
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('prints JSON and exits 0, exits 1 with a clear message for an unknown key, and 2 with the usage for a bad flag', async () => {
    // Act
    const known = await run('status', deriveIdempotencyKey('tpl_onboarding_pf', 'cli-send-1'), '--json');
    const unknown = await run('status', 'no-such-key-0001');
    const badFlag = await run('list', '--status', 'failed', '--since', 'yesterday');

    // Assess
    expect(known.code).toBe(0);
    expect(JSON.parse(known.stdout)).toMatchObject({ status: 'succeeded' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no outcome for key no-such-key-0001');
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('--since must be a duration');
    expect(badFlag.stderr).toContain('Usage: kycert-queue list');
  });
});
