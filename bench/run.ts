/**
 * `npm run bench [-- --quick] [-- --out results.json] [-- --only p3]`: the performance claims of kycert-queue, measured side
 * by side on this machine in one run (see BENCHMARKS.md). Progress goes to stderr; stdout gets the table and
 * then exactly one JSON line.
 */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { measureP1Overhead, type P1Options } from './p1Overhead.js';
import { measureP2FunctionTime, type P2Options } from './p2FunctionTime.js';
import { P3_CHART_PATH, rateLimitChartSvg } from './p3Chart.js';
import { measureP3RateLimit, type P3Options, type P3Result } from './p3RateLimit.js';
import { buildP4Bundles, measureP4ColdStart, type P4Options } from './p4ColdStart.js';
import { type BenchResults, finalLine, p3FinalLine, p3Rows, renderTable, reportRows } from './report.js';

interface Sizes {
  p1: P1Options;
  p2: P2Options;
  p3: P3Options;
  p4: P4Options;
}

const DEPLOYED_DEFAULT = {
  label: '1 rec/event (stack default at 60/min)',
  batchSize: 1,
  referenceConcurrency: 10,
} as const;
const FULL_BATCH = { label: '10 rec/event', batchSize: 10, referenceConcurrency: 2 } as const;

export const SIZES: Record<'full' | 'quick', Sizes> = {
  full: {
    p1: { messagesPerRound: 200, slowMessagesPerRound: 10, slowLatencyMs: 50, rounds: 10, warmUpRounds: 2 },
    p2: {
      configs: [DEPLOYED_DEFAULT, FULL_BATCH],
      messagesPerRun: 20,
      runs: 3,
      warmUpMessages: 10,
      p5Messages: 40,
      retryAfterSeconds: 2,
    },
    p3: {
      limit: 30,
      windowMs: 3_000,
      messages: 300,
      concurrency: 4,
      batchSize: 10,
      timeoutMs: 150_000,
      threshold: { waitsMs: [0, 300, 1_000, 3_000], messages: 120 },
    },
    p4: { rounds: 21, warmInvocations: 3 },
  },
  quick: {
    p1: { messagesPerRound: 60, slowMessagesPerRound: 4, slowLatencyMs: 50, rounds: 5, warmUpRounds: 1 },
    p2: {
      configs: [DEPLOYED_DEFAULT],
      messagesPerRun: 10,
      runs: 2,
      warmUpMessages: 5,
      p5Messages: 20,
      retryAfterSeconds: 2,
    },
    p3: {
      limit: 30,
      windowMs: 2_000,
      messages: 300,
      concurrency: 4,
      batchSize: 10,
      timeoutMs: 60_000,
      threshold: { waitsMs: [0, 1_000], messages: 60 },
    },
    p4: { rounds: 7, warmInvocations: 3 },
  },
};

const program = new Command('npm run bench --')
  .description('Measure overhead, function time under faults, rate-limit use, cold start and AWS calls.')
  .option('--quick', 'smaller sizes: the whole run in under a minute', false)
  .option('--out <file>', 'also write every measurement (per round, per window…) as JSON to FILE')
  .addOption(new Option('--only <part>', 'measure only this part').choices(['p3']))
  .parse();
const flags = program.opts<{ quick: boolean; out?: string; only?: 'p3' }>();
const sizes = flags.quick ? SIZES.quick : SIZES.full;

const startedAtMs = Date.now();
const progress = (text: string) =>
  process.stderr.write(`[bench ${((Date.now() - startedAtMs) / 1000).toFixed(0).padStart(3)} s] ${text}\n`);

const p3Progress = (p3: P3Options) =>
  `P3 rate limit: L=${p3.limit} per ${p3.windowMs / 1000} s, ${p3.messages} messages per side (80d7c5d and now, ${p3.concurrency} environments each), then thresholds ${p3.threshold.waitsMs.join(', ')} ms on ${p3.threshold.messages} each`;
const writeP3Chart = (p3: P3Result) => {
  writeFileSync(P3_CHART_PATH, rateLimitChartSvg(p3));
  progress(`${P3_CHART_PATH} written`);
};

if (flags.only === 'p3') {
  progress(p3Progress(sizes.p3));
  const p3 = await measureP3RateLimit(sizes.p3);
  writeP3Chart(p3);
  if (flags.out !== undefined) {
    writeFileSync(flags.out, `${JSON.stringify({ quick: flags.quick, sizes, results: { p3 } }, null, 2)}\n`);
    progress(`details written to ${flags.out}`);
  }
  progress(`done in ${((Date.now() - startedAtMs) / 1000).toFixed(0)} s`);
  process.stdout.write(`${renderTable(p3Rows(p3))}\n`);
  process.stdout.write(`${JSON.stringify(p3FinalLine(p3))}\n`);
  process.exit(0);
}

// The worker runs as deployed (INFO logs, EMF metrics) in execution environments of its own, whose stdout
// goes to /dev/null; this process's stdout carries only the table and the final line.
progress(`P1 overhead: ${sizes.p1.rounds} rounds × ${sizes.p1.messagesPerRound} messages per variant`);
const p1 = await measureP1Overhead(sizes.p1);
progress(
  `P2 function time under faults: ${sizes.p2.runs} runs × ${sizes.p2.messagesPerRun} messages per side`,
);
const p2 = await measureP2FunctionTime(sizes.p2);
// P3 mostly waits for rate-limit windows: the bundles are built meanwhile; their cold starts are timed once
// P3 is over.
progress(`${p3Progress(sizes.p3)}; P4 bundles built meanwhile`);
const [p3, bundles] = await Promise.all([measureP3RateLimit(sizes.p3), buildP4Bundles()]);
writeP3Chart(p3);
progress(`P4 cold start: ${sizes.p4.rounds} rounds of a fresh process per bundle, 80d7c5d's and the new one`);
let p4: BenchResults['p4'];
try {
  p4 = await measureP4ColdStart(bundles, sizes.p4);
} finally {
  bundles.remove();
}
const results: BenchResults = { p1, p2, p3, p4 };

if (flags.out !== undefined) {
  writeFileSync(flags.out, `${JSON.stringify({ quick: flags.quick, sizes, results }, null, 2)}\n`);
  progress(`details written to ${flags.out}`);
}
progress(`done in ${((Date.now() - startedAtMs) / 1000).toFixed(0)} s`);
process.stdout.write(`${renderTable(reportRows(results))}\n`);
process.stdout.write(`${JSON.stringify(finalLine(results))}\n`);
// Emulators, sandboxes and pools are closed; exiting here also ends any keep-alive timer left by a library.
process.exit(0);
