/**
 * `npm start`: the whole pipeline on this machine, then a summary. See README "Running locally".
 * Exit codes: 0 every message terminal · 1 timed out · 2 bad usage · 3 could not start (port taken…).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { jsonLines } from '../tools/jsonLines.js';
import { DEFAULT_LOCAL_STATE_FILE, LOCAL_STATE_ENV_VARIABLE } from '../tools/target.js';
import { DEMO_MESSAGES, demoFaultScript } from './pipeline/demoMessages.js';
import { printSummary } from './pipeline/printSummary.js';
import { createProgressDisplay } from './pipeline/progressDisplay.js';
import { type LocalPipeline, startLocalPipeline } from './pipeline/startLocalPipeline.js';

/** Where a running pipeline says how to reach it; the operator CLI's `--local` reads it. */
const LOCAL_PIPELINE_STATE_FILE = process.env[LOCAL_STATE_ENV_VARIABLE] ?? DEFAULT_LOCAL_STATE_FILE;

const integer = (name: string, min: number, max: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
  }
  return parsed;
};

const program = new Command('npm start --')
  .description(
    'Run kycert-queue locally: kycert sandbox, SQS and DynamoDB emulators, and the real worker handler.',
  )
  .option(
    '--messages <file>',
    'a JSON Lines file: each line enqueued verbatim as one message, instead of the demo set (a pretty-printed JSON array is refused)',
  )
  .option('--report <file>', 'write {"outcomes": [...], "dlq": [...]} as JSON to FILE')
  .option('--concurrency <n>', 'concurrent invocations', integer('--concurrency', 1, 1000), 2)
  .option(
    '--environments <n>',
    "the worker's execution environments, each a process of its own",
    integer('--environments', 1, 64),
    1,
  )
  .option('--batch-size <n>', 'records per invocation', integer('--batch-size', 1, 10), 10)
  .option(
    '--timeout <seconds>',
    'give up (exit 1) if messages are still pending after this long',
    integer('--timeout', 1, 86_400),
    120,
  )
  .option(
    '--keep-running',
    'stay up after the messages are done, so more can be sent (Ctrl-C to stop)',
    false,
  )
  .option('--max-attempts <n>', 'POSTs allowed per key', integer('--max-attempts', 1, 100), 4)
  .option('--backoff-base <seconds>', 'first backoff delay', integer('--backoff-base', 1, 900), 1)
  .option(
    '--backoff-max <seconds>',
    'backoff ceiling, at least --backoff-base',
    integer('--backoff-max', 1, 43_200),
    4,
  )
  .option('--sqs-port <port>', 'SQS emulator port (0: any free port)', integer('--sqs-port', 0, 65_535), 9324)
  .option(
    '--dynamodb-port <port>',
    'DynamoDB emulator port (0: any free port)',
    integer('--dynamodb-port', 0, 65_535),
    8000,
  )
  .option(
    '--sandbox-port <port>',
    'kycert sandbox port (0: any free port)',
    integer('--sandbox-port', 0, 65_535),
    8787,
  )
  .option(
    '--kycert-rate-limit <n>',
    'requests the kycert sandbox allows per window (kycert: per minute)',
    integer('--kycert-rate-limit', 1, 100_000),
    600,
  )
  .option(
    '--kycert-rate-window <seconds>',
    "the sandbox's rate-limit window; the worker is told the same",
    integer('--kycert-rate-window', 1, 3600),
    60,
  )
  .option(
    '--webhooks',
    'kycert sends signed webhooks to the webhook receiver (behind a Function URL stand-in); status checks become the safety net',
    false,
  )
  .option(
    '--no-follow-runs',
    'stop at the accepted runs: no status checks, no decisions (the default follows each run to its decision)',
  )
  .addOption(new Option('--verbose', 'show the worker’s own logs (Powertools, INFO)').default(false))
  .addHelpText(
    'after',
    '\nEnvironment: KYCERT_BASE_URL and KYCERT_API_KEY together call that kycert instead of starting the sandbox.',
  )
  .showHelpAfterError()
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : 2);
  });

program.parse();
const flags = program.opts<{
  messages?: string;
  report?: string;
  concurrency: number;
  environments: number;
  batchSize: number;
  timeout: number;
  keepRunning: boolean;
  maxAttempts: number;
  backoffBase: number;
  backoffMax: number;
  sqsPort: number;
  dynamodbPort: number;
  sandboxPort: number;
  kycertRateLimit: number;
  kycertRateWindow: number;
  followRuns: boolean;
  webhooks: boolean;
  verbose: boolean;
}>();

function fail(code: number, message: string): never {
  console.error(`npm start: ${message}`);
  process.exit(code);
}

if (flags.backoffBase > flags.backoffMax) {
  fail(
    2,
    `--backoff-base (${flags.backoffBase} s) must not exceed --backoff-max (${flags.backoffMax} s${program.getOptionValueSource('backoffMax') === 'default' ? ', the default' : ''})`,
  );
}

const externalKycert = process.env.KYCERT_BASE_URL ?? process.env.KYCERT_API_KEY;
if (
  externalKycert !== undefined &&
  (process.env.KYCERT_BASE_URL === undefined || process.env.KYCERT_API_KEY === undefined)
) {
  fail(2, 'set both KYCERT_BASE_URL and KYCERT_API_KEY to call a real kycert, or neither to use the sandbox');
}
if (flags.webhooks && !flags.followRuns) {
  fail(2, '--webhooks and --no-follow-runs contradict each other: webhooks report the runs being followed');
}
if (flags.webhooks && externalKycert !== undefined) {
  fail(2, '--webhooks needs the sandbox: a real kycert cannot reach this machine’s receiver');
}
if (
  externalKycert !== undefined &&
  (program.getOptionValueSource('kycertRateLimit') === 'cli' ||
    program.getOptionValueSource('kycertRateWindow') === 'cli')
) {
  fail(2, '--kycert-rate-limit and --kycert-rate-window set the sandbox: with KYCERT_BASE_URL there is none');
}

let bodies: string[];
if (flags.messages !== undefined) {
  let text: string;
  try {
    text = readFileSync(flags.messages, 'utf8');
  } catch (error) {
    fail(2, `cannot read --messages ${flags.messages}: ${(error as Error).message}`);
  }
  try {
    bodies = jsonLines(text, flags.messages).map((line) => line.text);
  } catch (error) {
    fail(2, `--messages reads JSON Lines: ${(error as Error).message}`);
  }
} else {
  bodies = DEMO_MESSAGES.map((m) => m.body);
}

let pipeline: LocalPipeline;
try {
  pipeline = await startLocalPipeline({
    kycert:
      process.env.KYCERT_BASE_URL !== undefined && process.env.KYCERT_API_KEY !== undefined
        ? { baseUrl: process.env.KYCERT_BASE_URL, apiKey: process.env.KYCERT_API_KEY }
        : undefined,
    sandbox: {
      port: flags.sandboxPort,
      rateLimitPerMinute: flags.kycertRateLimit,
      rateLimitWindowMs: flags.kycertRateWindow * 1000,
      // The demo scripts its faults; a file of messages meets a well-behaved sandbox.
      ...(flags.messages === undefined
        ? { faultScript: demoFaultScript, faults: { retryAfterSeconds: 2 } }
        : {}),
    },
    sqsPort: flags.sqsPort,
    dynamodbPort: flags.dynamodbPort,
    concurrency: flags.concurrency,
    environments: flags.environments,
    followRuns: flags.followRuns,
    webhooks: flags.webhooks,
    batchSize: flags.batchSize,
    maxAttempts: flags.maxAttempts,
    backoffBaseSeconds: flags.backoffBase,
    backoffMaxSeconds: flags.backoffMax,
    logLevel: flags.verbose ? 'INFO' : 'ERROR',
  });
} catch (error) {
  fail(3, `could not start the local pipeline: ${(error as Error).message}`);
}

let stopping = false;
let ownsStateFile = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    // Only our own: a state file another pipeline wrote since is its to remove.
    if (ownsStateFile && stateFilePid() === process.pid) rmSync(LOCAL_PIPELINE_STATE_FILE, { force: true });
    await pipeline.stop();
  }
  process.exit(code);
}

function stateFilePid(): number | undefined {
  try {
    const { pid } = JSON.parse(readFileSync(LOCAL_PIPELINE_STATE_FILE, 'utf8')) as { pid?: unknown };
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes the state file unless another running pipeline owns it: then that one stays reachable with
 * `--local`, and this one says how to give it a file of its own. A file whose pipeline is gone is replaced.
 */
function claimStateFile(contents: string): boolean {
  mkdirSync(dirname(LOCAL_PIPELINE_STATE_FILE), { recursive: true });
  try {
    writeFileSync(LOCAL_PIPELINE_STATE_FILE, contents, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = stateFilePid();
  if (owner !== undefined && owner !== process.pid && isRunning(owner)) return false;
  writeFileSync(LOCAL_PIPELINE_STATE_FILE, contents);
  return true;
}
process.on('SIGINT', () => void shutdown(flags.keepRunning ? 0 : 130));
process.on('SIGTERM', () => void shutdown(flags.keepRunning ? 0 : 143));

const where =
  pipeline.sandbox === undefined
    ? `kycert at ${pipeline.kycertBaseUrl}`
    : `kycert sandbox at ${pipeline.kycertBaseUrl}`;
console.log(`kycert-queue local pipeline: ${where}`);
console.log(
  `  SQS ${pipeline.aws.sqsEndpoint} · DynamoDB ${pipeline.aws.dynamodbEndpoint} · concurrency ${flags.concurrency} · environments ${flags.environments} · max attempts ${flags.maxAttempts}`,
);
if (pipeline.sandbox !== undefined) {
  const { limit, windowMs } = pipeline.sandbox.rateLimit();
  console.log(`  kycert sandbox allows ${limit} requests per ${windowMs / 1000} s`);
}
ownsStateFile = claimStateFile(
  `${JSON.stringify({ pid: process.pid, ...pipeline.workerEnv, KYCERT_API_KEY: undefined }, null, 2)}\n`,
);
if (!ownsStateFile) {
  console.log(
    `  ${LOCAL_PIPELINE_STATE_FILE} belongs to another running pipeline (pid ${stateFilePid()}), left as it is: ` +
      `--local reaches that one. For this one: ${LOCAL_STATE_ENV_VARIABLE}=.local-data/another.json npm start …, ` +
      'then --local-state .local-data/another.json',
  );
}

console.log(
  `Enqueuing ${bodies.length} message(s)${flags.messages === undefined ? ' (the demo set: every path once)' : ` from ${flags.messages}`}…`,
);
await pipeline.enqueue(bodies);
const progress = createProgressDisplay({ total: bodies.length, tty: process.stdout.isTTY === true });
const settled = await pipeline.waitUntilSettled({
  timeoutMs: flags.timeout * 1000,
  onProgress: (snapshot) => progress.update(snapshot, pipeline.sandbox?.stats()),
});
progress.stop();

const report = await pipeline.report();
printSummary(
  report,
  pipeline.sandbox?.stats(),
  flags.messages === undefined ? DEMO_MESSAGES : undefined,
  pipeline.sandbox?.rateLimit(),
  pipeline.sandbox?.webhookDeliveries(),
);
if (flags.report !== undefined) {
  mkdirSync(dirname(flags.report), { recursive: true });
  writeFileSync(flags.report, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`Report written to ${flags.report}`);
}
if (!settled) {
  const { pending, statusChecksPending } = await pipeline.snapshot();
  console.error(
    `npm start: timed out after ${flags.timeout} s with ${pending} message(s) still pending` +
      `${statusChecksPending > 0 ? ` and ${statusChecksPending} run(s) awaiting a decision` : ''} (raise --timeout?)`,
  );
  await shutdown(1);
}
if (!flags.keepRunning) await shutdown(0);

console.log('\nStill running (--keep-running). Send more messages from another terminal, for example:');
console.log(
  `  AWS_ENDPOINT_URL_SQS=${pipeline.aws.sqsEndpoint} AWS_REGION=${pipeline.aws.region} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\`,
);
console.log(
  `    aws sqs send-message --queue-url ${pipeline.aws.queueUrl} --message-body '{"template_id":"tpl_x","subject":{"type":"pf","doc":"000.000.001-91"},"external_id":"by-hand-1"}'`,
);
console.log(
  ownsStateFile
    ? `or use the operator CLI with --local (it reads ${LOCAL_PIPELINE_STATE_FILE}). Ctrl-C to stop.`
    : 'Ctrl-C to stop.',
);
const live = createProgressDisplay({ total: bodies.length, tty: false });
setInterval(async () => {
  const snapshot = await pipeline.snapshot().catch(() => undefined);
  if (snapshot !== undefined) live.update(snapshot, pipeline.sandbox?.stats());
}, 1_000);
