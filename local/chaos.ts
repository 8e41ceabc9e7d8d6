/**
 * `npm run chaos`: the pipeline under every kycert fault at once, with duplicates and invalid messages, then
 * the invariants of test/support/invariants.ts. See docs/faults.md.
 * Exit codes: 0 every invariant held · 1 an invariant broke, or the queue did not drain · 2 bad usage ·
 * 3 could not run (the pipeline did not start).
 */
import { Command, InvalidArgumentError } from 'commander';
import { printChaosReport } from './chaos/printChaosReport.js';
import { runChaos } from './chaos/runChaos.js';

const integer = (name: string, min: number, max: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
  }
  return parsed;
};
const rate = (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 0.5) {
    throw new InvalidArgumentError('--fault-rate must be a number from 0 to 0.5.');
  }
  return parsed;
};

const program = new Command('npm run chaos --')
  .description(
    'Run many messages through the local pipeline while kycert fails in every way it can (5xx, 429 storms, ' +
      'resets and slow answers after the run was created, 409, latency), with duplicate and invalid messages; ' +
      'then check that nothing was lost and no background check was bought twice.',
  )
  .option('--messages <n>', 'messages to send', integer('--messages', 1, 1_000_000), 1_000)
  .option('--seed <n>', 'seed of the message mix and of the faults', integer('--seed', 0, 2 ** 31 - 1), 1)
  .option('--concurrency <n>', 'concurrent invocations', integer('--concurrency', 1, 1_000), 8)
  .option(
    '--environments <n>',
    "the worker's execution environments, each a process of its own (default: --concurrency)",
    integer('--environments', 1, 64),
  )
  .option('--batch-size <n>', 'records per invocation', integer('--batch-size', 1, 10), 10)
  .option('--fault-rate <r>', 'base rate of kycert faults per POST (0–0.5)', rate, 0.1)
  .option('--max-attempts <n>', 'POSTs allowed per key', integer('--max-attempts', 1, 100), 6)
  .option(
    '--rate-limit <n>',
    "kycert's rate limit, requests per second",
    integer('--rate-limit', 1, 100_000),
    250,
  )
  .option(
    '--timeout <seconds>',
    'give up (exit 1) if the queue has not drained by then',
    integer('--timeout', 1, 86_400),
    600,
  )
  .option('--json', 'print the result as JSON instead of tables', false)
  .showHelpAfterError()
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : 2);
  });

program.parse();
const flags = program.opts<{
  messages: number;
  seed: number;
  concurrency: number;
  environments?: number;
  batchSize: number;
  faultRate: number;
  maxAttempts: number;
  rateLimit: number;
  timeout: number;
  json: boolean;
}>();
const command = `npm run chaos -- ${process.argv.slice(2).join(' ')}`.trim();

if (!flags.json) {
  console.log(
    `chaos: ${flags.messages} messages, seed ${flags.seed}, concurrency ${flags.concurrency}, ` +
      `${flags.environments ?? flags.concurrency} environments, batch ${flags.batchSize}, ` +
      `fault rate ${flags.faultRate}, max attempts ${flags.maxAttempts}, kycert limit ${flags.rateLimit}/s`,
  );
}
let lastReportMs = 0;
let result: Awaited<ReturnType<typeof runChaos>>;
try {
  result = await runChaos({
    messages: flags.messages,
    seed: flags.seed,
    concurrency: flags.concurrency,
    environments: flags.environments,
    batchSize: flags.batchSize,
    faultRate: flags.faultRate,
    maxAttempts: flags.maxAttempts,
    rateLimitPerSecond: flags.rateLimit,
    timeoutSeconds: flags.timeout,
    onProgress: ({ snapshot, elapsedMs }) => {
      if (elapsedMs - lastReportMs < 5_000) return;
      lastReportMs = elapsedMs;
      const done = snapshot.enqueued - snapshot.pending;
      console.error(
        `chaos: ${(elapsedMs / 1000).toFixed(0)} s · ${done}/${snapshot.enqueued} done · ${snapshot.pending} pending · ${snapshot.deadLettered} in DLQ`,
      );
    },
  });
} catch (error) {
  console.error(`chaos: could not run: ${(error as Error).stack ?? error}`);
  process.exit(3);
}

if (flags.json) {
  console.log(
    JSON.stringify(
      {
        command,
        date: new Date().toISOString(),
        settings: flags,
        passed: result.passed,
        settled: result.settled,
        durationMs: result.durationMs,
        messagesPerSecond: result.messagesPerSecond,
        mix: result.mix,
        counts: result.counts,
        violationCount: result.violations.length,
        violations: result.violations.slice(0, 100),
      },
      null,
      2,
    ),
  );
} else {
  printChaosReport(result, command);
}
process.exit(result.passed ? 0 : 1);
