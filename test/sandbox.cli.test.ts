import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../functions/kycert-webhook/webhookSignature.js';
import { startKycertSandbox } from '../local/sandbox/index.js';

// `npm run sandbox`: local/sandbox/main.ts run as a process, the way a developer runs it.

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Cli {
  child: ChildProcessByStdio<null, Readable, Readable>;
  output: () => { stdout: string; stderr: string };
  /** Resolves with stdout so far once it matches `pattern`. */
  stdoutMatching: (pattern: RegExp) => Promise<RegExpMatchArray>;
  exit: Promise<number | null>;
}

function runCli(args: string[]): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/sandbox/main.ts', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output: () => ({ stdout, stderr }),
    exit,
    stdoutMatching: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = stdout.match(pattern);
          if (match !== null) {
            child.stdout.off('data', check);
            resolve(match);
          }
        };
        child.stdout.on('data', check);
        exit.then(() => reject(new Error(`exited before printing ${pattern}: ${stdout}${stderr}`)));
        check();
      }),
  };
}

describe('npm run sandbox', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'serves with the flags given, prints how to use it and stops on %s',
    async (signal) => {
      // Prepare
      const cli = runCli(['--port', '0', '--api-key', 'sk_test_cli', '--rate-limit', '5', '--quiet']);
      const [, baseUrl] = await cli.stdoutMatching(/listening on (http:\/\/127\.0\.0\.1:\d+\/api\/v1)\n/);

      // Act
      const response = await request(`${baseUrl}/bureau/runs`, {
        method: 'POST',
        headers: { 'x-api-key': 'sk_test_cli', 'content-type': 'application/json' },
        body: JSON.stringify({ template_id: 'tpl_x', subject: { type: 'pf', doc: '52998224725' } }),
      });
      await response.body.dump();
      cli.child.kill(signal);

      // Assess
      expect(response.statusCode).toBe(202);
      expect(response.headers['x-ratelimit-limit']).toBe('5');
      expect(await cli.exit).toBe(0);
      expect(cli.output().stdout).toContain(`KYCERT_BASE_URL=${baseUrl} KYCERT_API_KEY=sk_test_cli`);
    },
  );

  it('logs one masked JSON line per request unless --quiet', async () => {
    const cli = runCli(['--port', '0']);
    const [, baseUrl] = await cli.stdoutMatching(/listening on (\S+)\n/);

    const response = await request(`${baseUrl}/bureau/runs`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk_test_local' },
      body: JSON.stringify({ template_id: 'tpl_x', subject: { type: 'pf', doc: '529.982.247-25' } }),
    });
    await response.body.dump();
    const [line] = await cli.stdoutMatching(/\{.*"status":202.*\}/);
    cli.child.kill('SIGTERM');
    await cli.exit;

    expect(JSON.parse(line)).toMatchObject({ method: 'POST', status: 202, doc: '*********25' });
    expect(cli.output().stdout).not.toContain('529.982');
  });

  describe.concurrent('refuses bad flags with the usage hint and a non-zero exit code', () => {
    it.each([
      [['--bogus'], "unknown option '--bogus'"],
      [['--error-rate', '2'], 'expected a number in [0, 1]'],
      [['--port', 'http'], 'expected an integer in [0, 65535]'],
      [['--retry-after-format', 'iso'], 'Allowed choices are seconds, http-date'],
      [['--run-failure-rate', '1.5'], 'expected a number in [0, 1]'],
    ])('%j', async (args, message) => {
      const cli = runCli(args);

      const code = await cli.exit;

      expect(code).not.toBe(0);
      expect(cli.output().stderr).toContain(message);
      expect(cli.output().stderr).toContain('--help');
    });
  });

  it('sends signed webhooks to --webhook-url with --webhook-secret in --webhook-signature-header', async () => {
    // Prepare
    const deliveries: { headers: Record<string, unknown>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        deliveries.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const cli = runCli([
      ...['--port', '0', '--quiet', '--estimated-seconds', '0', '--webhook-url', url],
      ...['--webhook-secret', 'whsec_cli_one', '--webhook-signature-header', 'x-signature'],
    ]);
    const [, baseUrl] = await cli.stdoutMatching(/listening on (\S+)\n/);

    // Act
    const response = await request(`${baseUrl}/bureau/runs`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk_test_local' },
      body: JSON.stringify({ template_id: 'tpl_fails', subject: { type: 'pf', doc: '529.982.247-25' } }),
    });
    await response.body.dump();
    await expect.poll(() => deliveries.length, { timeout: 5_000, interval: 20 }).toBe(1);
    cli.child.kill('SIGTERM');
    await cli.exit;
    await new Promise((resolve) => receiver.close(resolve));

    // Assess
    const [delivery] = deliveries as [{ headers: Record<string, unknown>; body: string }];
    expect(JSON.parse(delivery.body)).toMatchObject({
      event: 'run.failed',
      data: { object: { status: 'failed' } },
    });
    expect(
      verifyWebhookSignature({
        header: delivery.headers['x-signature'] as string,
        rawBody: delivery.body,
        secrets: ['whsec_cli_one'],
        nowMs: Date.now(),
      }),
    ).toMatchObject({ ok: true });
    expect(cli.output().stdout).toContain(`webhooks: ${url}, signed in x-signature with 1 secret(s)`);
    expect(cli.output().stdout).not.toContain('whsec_cli_one');
  });

  it('explains a webhook secret of the wrong shape', async () => {
    const cli = runCli(['--port', '0', '--webhook-secret', 'secret']);

    expect(await cli.exit).toBe(2);
    expect(cli.output().stderr).toContain('webhook secrets must look like whsec_… (letters, digits, _)');
  });

  it('explains an API key of the wrong shape', async () => {
    const cli = runCli(['--port', '0', '--api-key', 'local']);

    expect(await cli.exit).toBe(2);
    expect(cli.output().stderr).toContain('must look like sk_test_… or sk_live_…');
  });

  it('explains a port already in use and exits non-zero', async () => {
    // Prepare
    const occupant = await startKycertSandbox();

    // Act
    const cli = runCli(['--port', String(occupant.port)]);
    const code = await cli.exit;
    await occupant.close();

    // Assess
    expect(code).toBe(2);
    expect(cli.output().stderr).toContain(`port ${occupant.port} on 127.0.0.1 is already in use`);
  });
});
