import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The `npm start` contract as other tools rely on it: flags, report file, exit codes. */
const REPO = join(import.meta.dirname, '..');

function runStart(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kq-start-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, KYCERT_QUEUE_LOCAL_STATE: join(dir, 'pipeline.json'), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const freePorts = ['--sqs-port', '0', '--dynamodb-port', '0', '--sandbox-port', '0'];

describe('npm start', () => {
  it('--messages FILE enqueues each line verbatim and --report FILE writes every outcome and DLQ entry', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'kq-messages-'));
    const valid = JSON.stringify({
      template_id: 'tpl_a',
      subject: { type: 'pf', doc: '000.000.001-91' },
      external_id: 'file-1',
    });
    const lines = [
      valid,
      valid,
      '{"template_id":',
      JSON.stringify({ template_id: 'tpl_a', subject: { type: 'pj', doc: '1' }, external_id: 'file-2' }),
    ];
    writeFileSync(join(dir, 'messages.jsonl'), `${lines.join('\n')}\n`);
    const reportPath = join(dir, 'report.json');

    // Act
    const result = await runStart([
      '--messages',
      join(dir, 'messages.jsonl'),
      '--report',
      reportPath,
      '--timeout',
      '60',
      '--environments',
      '2',
      ...freePorts,
    ]);

    // Assess
    expect(result.stderr).not.toMatch(/npm start:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/· concurrency 2 · environments 2 ·/);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report.outcomes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          external_id: 'file-1',
          status: 'succeeded',
          attempts: 1,
          http_status: 202,
          error_code: null,
          run_id: expect.stringMatching(/^run_/),
        }),
        expect.objectContaining({ external_id: 'file-2', status: 'failed', run_id: null, http_status: null }),
      ]),
    );
    for (const outcome of report.outcomes) {
      expect(Object.keys(outcome)).toEqual(
        expect.arrayContaining([
          'idempotency_key',
          'status',
          'attempts',
          'http_status',
          'run_id',
          'error_code',
          'external_id',
        ]),
      );
    }
    expect(report.dlq).toHaveLength(2);
    expect(report.dlq).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ body: lines[2], reason: 'invalid_message:body:invalid_json' }),
        expect.objectContaining({ body: lines[3], reason: 'invalid_message:subject.doc:invalid_length' }),
      ]),
    );
  }, 60_000);

  it('a bad flag prints the usage and exits 2', async () => {
    const result = await runStart(['--concurrency', 'many']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--concurrency must be a whole number from 1 to 1000.');
    expect(result.stderr).toContain('Usage: npm start --');
  });

  it.each([
    ['0', '--environments must be a whole number from 1 to 64.'],
    ['65', '--environments must be a whole number from 1 to 64.'],
    ['two', '--environments must be a whole number from 1 to 64.'],
  ])('--environments %s is refused in one line, exit 2', async (value, message) => {
    const result = await runStart(['--environments', value]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n').filter((line) => line.startsWith('error:'))).toEqual([
      `error: option '--environments <n>' argument '${value}' is invalid. ${message}`,
    ]);
    expect(result.stderr).toContain('Usage: npm start --');
  });

  it('the startup line names the default of one execution environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kq-default-env-'));
    writeFileSync(join(dir, 'none.jsonl'), '');
    const result = await runStart(['--messages', join(dir, 'none.jsonl'), ...freePorts]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/· concurrency 2 · environments 1 ·/);
  }, 30_000);

  it('an unknown flag prints the usage and exits 2', async () => {
    const result = await runStart(['--mesages', 'x.jsonl']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown option '--mesages'/);
  });

  it('a port that cannot be bound is named, and the exit code is 3', async () => {
    // Prepare: hold a port
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // Act
      const result = await runStart([
        '--sqs-port',
        String(port),
        '--dynamodb-port',
        '0',
        '--sandbox-port',
        '0',
      ]);
      // Assess
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`port ${port}`);
    } finally {
      server.close();
    }
  });

  it('--backoff-base above --backoff-max is refused in one line naming both', async () => {
    const defaultMax = await runStart(['--backoff-base', '10', ...freePorts]);
    const givenMax = await runStart(['--backoff-base', '10', '--backoff-max', '5', ...freePorts]);
    expect(defaultMax.code).toBe(2);
    expect(defaultMax.stderr.trim()).toBe(
      'npm start: --backoff-base (10 s) must not exceed --backoff-max (4 s, the default)',
    );
    expect(givenMax.stderr.trim()).toBe(
      'npm start: --backoff-base (10 s) must not exceed --backoff-max (5 s)',
    );
  });

  it('--messages reads JSON Lines: a pretty-printed array is refused in one line, nothing enqueued', async () => {
    // Prepare
    const file = join(mkdtempSync(join(tmpdir(), 'kq-pretty-')), 'messages.json');
    const message = {
      template_id: 'tpl_a',
      subject: { type: 'pf', doc: '000.000.001-91' },
      external_id: 'p-1',
    };
    writeFileSync(file, JSON.stringify([message, message], null, 2));

    // Act
    const result = await runStart(['--messages', file, ...freePorts]);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(
      /^npm start: --messages reads JSON Lines: .*messages\.json is one JSON array over \d+ lines, not JSON Lines: write one message per line \(jq -c '\.\[\]' .*\)$/,
    );
    expect(result.stdout).not.toContain('Enqueuing');
  });

  it('a second pipeline leaves the first one’s state file alone; a stale one is replaced, then removed', async () => {
    // Prepare: one state file owned by a live process (this one), one by a process that has exited.
    const dir = mkdtempSync(join(tmpdir(), 'kq-state-'));
    const live = join(dir, 'live.json');
    const liveContents = `${JSON.stringify({ pid: process.pid, QUEUE_URL: 'the first pipeline' })}\n`;
    writeFileSync(live, liveContents);
    const stale = join(dir, 'stale.json');
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(stale, JSON.stringify({ pid: exited }));
    const messages = join(dir, 'one.jsonl');
    writeFileSync(
      messages,
      `${JSON.stringify({ template_id: 'tpl_a', subject: { type: 'pf', doc: '000.000.001-91' }, external_id: 's-1' })}\n`,
    );

    // Act
    const second = await runStart(['--messages', messages, ...freePorts], { KYCERT_QUEUE_LOCAL_STATE: live });
    const third = await runStart(['--messages', messages, ...freePorts], { KYCERT_QUEUE_LOCAL_STATE: stale });

    // Assess
    expect(second.code).toBe(0);
    expect(readFileSync(live, 'utf8')).toBe(liveContents);
    expect(second.stdout).toContain(
      `belongs to another running pipeline (pid ${process.pid}), left as it is`,
    );
    expect(third.code).toBe(0);
    expect(third.stdout).not.toContain('belongs to another running pipeline');
    expect(existsSync(stale)).toBe(false);
  }, 60_000);

  it('KYCERT_BASE_URL without KYCERT_API_KEY is refused with a clear message', async () => {
    const result = await runStart(freePorts, { KYCERT_BASE_URL: 'http://127.0.0.1:9/api/v1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('set both KYCERT_BASE_URL and KYCERT_API_KEY');
  });
});
