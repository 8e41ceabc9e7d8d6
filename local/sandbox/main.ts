/**
 * `npm run sandbox -- [options]`: the kycert sandbox on its own, for trying the worker or kycert's API by hand.
 * See docs/sandbox.md.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  type ApiKeyInput,
  type KycertSandboxOptions,
  SandboxConfigError,
  type SandboxFaults,
} from './options.js';
import { seededRandom } from './seededRandom.js';
import { startKycertSandbox } from './startKycertSandbox.js';

const DEFAULT_PORT = 8787;

function number(min: number, max: number, integer = false): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (
      value.trim() === '' ||
      !Number.isFinite(parsed) ||
      parsed < min ||
      parsed > max ||
      (integer && !Number.isInteger(parsed))
    ) {
      throw new InvalidArgumentError(`expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
    }
    return parsed;
  };
}

const rate = number(0, 1);
const collect = (value: string, previous: string[]): string[] => [...previous, value];
const milliseconds = number(0, 3_600_000, true);

const program = new Command('sandbox')
  .description('kycert sandbox: a local stand-in for the kycert bureau API (POST/GET /api/v1/bureau/runs).')
  .option('--port <port>', 'port to listen on (0: any free port)', number(0, 65_535, true), DEFAULT_PORT)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .addOption(
    new Option('--api-key <key>', 'a valid API key (sk_test_… or sk_live_…); repeat for several')
      .argParser(collect)
      .default([], 'sk_test_local'),
  )
  .option(
    '--rate-limit <perWindow>',
    'requests allowed per API key per window',
    number(1, 1_000_000, true),
    600,
  )
  .option(
    '--rate-limit-window-ms <ms>',
    'length of the rate-limit window',
    number(1, 3_600_000, true),
    60_000,
  )
  .option(
    '--credits <n>',
    'runs that may be created before 402 (default: unlimited)',
    number(0, 1_000_000_000, true),
  )
  .option('--estimated-seconds <s>', 'how long a run stays queued', number(0, 86_400), 5)
  .addOption(
    new Option('--template <id>', 'a known template besides any tpl_…; repeatable')
      .argParser(collect)
      .default([], 'none'),
  )
  .option('--strict-templates', 'know only the --template ids, not every tpl_…', false)
  .option('--error-rate <0..1>', 'share of requests answered with a 5xx', rate)
  .addOption(
    new Option('--error-status <status>', 'the 5xx sent by --error-rate').choices(['500', '502', '503']),
  )
  .option('--latency-ms <ms>', 'processing time added to every admitted request', milliseconds)
  .option('--reset-rate <0..1>', 'share of created runs whose socket is destroyed unanswered', rate)
  .option('--slow-after-create-ms <ms>', 'hold the answer to a created run this long', milliseconds)
  .option('--slow-rate <0..1>', 'share of created runs held by --slow-after-create-ms (default 1)', rate)
  .option('--in-progress-rate <0..1>', 'share of POSTs answered 409 idempotency_in_progress', rate)
  .option('--storm-rate <0..1>', 'share of requests answered 429 whatever the budget', rate)
  .option('--retry-after-seconds <s>', 'Retry-After of an injected 429', number(0, 86_400, true))
  .addOption(
    new Option('--retry-after-format <format>', 'how every 429 writes Retry-After').choices([
      'seconds',
      'http-date',
    ]),
  )
  .option('--run-failure-rate <0..1>', 'share of created runs that end failed (run.failed)', rate)
  .option('--never-finish-rate <0..1>', 'share of created runs that stay queued for ever', rate)
  .option('--webhook-url <url>', 'send signed webhooks here for runs created without webhook_url')
  .addOption(
    new Option('--webhook-secret <whsec>', 'a secret that signs every webhook; repeat for a rotation')
      .argParser(collect)
      .default([], 'whsec_sandbox_local'),
  )
  .option('--webhook-signature-header <name>', 'the header the signature goes in', 'kycert-signature')
  .option('--seed <n>', 'seed the fault draws, to replay a run exactly', number(0, 2 ** 32 - 1, true))
  .option('--quiet', 'no request log', false)
  .showHelpAfterError('Usage: npm run sandbox -- [options]   (--help lists every option)');

interface CliOptions {
  port: number;
  host: string;
  apiKey: string[];
  rateLimit: number;
  rateLimitWindowMs: number;
  credits?: number;
  estimatedSeconds: number;
  template: string[];
  strictTemplates: boolean;
  errorRate?: number;
  errorStatus?: '500' | '502' | '503';
  latencyMs?: number;
  resetRate?: number;
  slowAfterCreateMs?: number;
  slowRate?: number;
  inProgressRate?: number;
  stormRate?: number;
  retryAfterSeconds?: number;
  retryAfterFormat?: 'seconds' | 'http-date';
  runFailureRate?: number;
  neverFinishRate?: number;
  webhookUrl?: string;
  webhookSecret: string[];
  webhookSignatureHeader: string;
  seed?: number;
  quiet: boolean;
}

function toSandboxOptions(cli: CliOptions): KycertSandboxOptions {
  const faults: Partial<SandboxFaults> = {
    serverErrorRate: cli.errorRate,
    serverErrorStatus:
      cli.errorStatus === undefined ? undefined : (Number(cli.errorStatus) as 500 | 502 | 503),
    latencyMs: cli.latencyMs,
    resetAfterCreateRate: cli.resetRate,
    slowAfterCreateMs: cli.slowAfterCreateMs,
    slowAfterCreateRate: cli.slowRate,
    inProgressRate: cli.inProgressRate,
    rateLimitStormRate: cli.stormRate,
    retryAfterSeconds: cli.retryAfterSeconds,
    retryAfterFormat: cli.retryAfterFormat,
    runFailureRate: cli.runFailureRate,
    neverFinishRate: cli.neverFinishRate,
  };
  const apiKeys: ApiKeyInput[] | undefined = cli.apiKey.length > 0 ? cli.apiKey : undefined;
  return {
    port: cli.port,
    host: cli.host,
    ...(apiKeys === undefined ? {} : { apiKeys }),
    ...(cli.credits === undefined ? {} : { credits: cli.credits }),
    rateLimitPerMinute: cli.rateLimit,
    rateLimitWindowMs: cli.rateLimitWindowMs,
    estimatedSeconds: cli.estimatedSeconds,
    templates: cli.template,
    strictTemplates: cli.strictTemplates,
    faults,
    webhooks: {
      ...(cli.webhookUrl === undefined ? {} : { url: cli.webhookUrl }),
      ...(cli.webhookSecret.length > 0 ? { secrets: cli.webhookSecret } : {}),
      signatureHeaderName: cli.webhookSignatureHeader,
    },
    ...(cli.seed === undefined ? {} : { random: seededRandom(cli.seed) }),
    log: !cli.quiet,
  };
}

async function main(): Promise<void> {
  program.parse();
  const cli = program.opts<CliOptions>();
  let sandbox: Awaited<ReturnType<typeof startKycertSandbox>>;
  try {
    sandbox = await startKycertSandbox(toSandboxOptions(cli));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      console.error(
        `kycert sandbox: port ${cli.port} on ${cli.host} is already in use. Stop what holds it, or pass --port <other> (0 picks a free port).`,
      );
    } else if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      console.error(`kycert sandbox: cannot listen on ${cli.host}:${cli.port} (${code}).`);
    } else if (error instanceof SandboxConfigError) {
      console.error(`kycert sandbox: ${error.message}`);
    } else {
      throw error;
    }
    process.exitCode = 2;
    return;
  }

  const faults = Object.entries(sandbox.faults()).filter(([name, value]) =>
    name.endsWith('Rate') ? value > 0 && name !== 'slowAfterCreateRate' : name.endsWith('Ms') && value > 0,
  );
  console.log(`kycert sandbox listening on ${sandbox.baseUrl}`);
  console.log(`  API key: ${sandbox.apiKey}`);
  console.log(`  for the worker: KYCERT_BASE_URL=${sandbox.baseUrl} KYCERT_API_KEY=${sandbox.apiKey}`);
  console.log(
    `  rate limit: ${cli.rateLimit} per ${cli.rateLimitWindowMs} ms; credits: ${cli.credits ?? 'unlimited'}`,
  );
  if (faults.length > 0)
    console.log(`  faults: ${faults.map(([name, value]) => `${name}=${value}`).join(' ')}`);
  console.log(
    `  webhooks: ${cli.webhookUrl ?? "only to a POST's webhook_url"}, signed in ${cli.webhookSignatureHeader} with ` +
      `${cli.webhookSecret.length > 0 ? `${cli.webhookSecret.length} secret(s)` : 'whsec_sandbox_local'}`,
  );
  console.log('  Ctrl-C to stop');

  const stop = (signal: NodeJS.Signals) => {
    console.log(`kycert sandbox: ${signal}, stopping`);
    sandbox.close().then(
      () => {
        process.exitCode = 0;
      },
      (error: unknown) => {
        console.error('kycert sandbox: error while stopping', error);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
