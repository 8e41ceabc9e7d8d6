import Table from 'cli-table3';
import type { P1Result } from './p1Overhead.js';
import type { P2Result } from './p2FunctionTime.js';
import { P3_BASELINE_COMMIT, type P3Result, type P3SideResult } from './p3RateLimit.js';
import type { P4Result } from './p4ColdStart.js';

export interface BenchResults {
  p1: P1Result;
  p2: P2Result;
  p3: P3Result;
  p4: P4Result;
}

/** The targets, each with its unit. */
export const TARGETS = {
  p1MaxOverheadRatio: 1.1,
  p2MaxBusyRatio: 1 / 20,
  /** Issue 10 item 8: of the limit, over the windows a backlog remained (p3RateLimit.ts's backlogWindows). */
  p3MinUtilisation: 0.95,
  /** 429s / all calls to kycert. */
  p3Max429Share: 0.01,
  p3MaxDeadLettered: 0,
  /** Deliveries (records the event source received) / messages. */
  p3MaxReceivesPerMessage: 3,
  /** Issue 14: 1.25 MB, read as 10^6 bytes per MB, the stricter reading. */
  p4MaxBundleBytes: 1_250_000,
  /** Issue 14: init + first POST of the new bundle ÷ 80d7c5d's, in one run. */
  p4MaxInitRatio: 0.75,
  p5MaxWritesPerSuccess: 2,
} as const;

/** The final line: exactly these keys, in this order. */
export interface FinalLine {
  p1_overhead_ratio: number;
  p2_busy_ratio: number;
  p3_utilisation: number;
  p3_429_share: number;
  p3_receives_per_message: number;
  p3_billed_ms_per_message: number;
  p3_dead_lettered: number;
  p4_bundle_bytes: number;
  p4_init_ratio: number;
  p4_init_ms: number;
  p5_writes_per_success: number;
}

export interface ReportRow {
  metric: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  /** `yes` / `no` for a target; empty for a row that only explains another. */
  met: '' | 'yes' | 'no';
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

export function finalLine(results: BenchResults): FinalLine {
  const p2 = results.p2.configs[0];
  if (p2 === undefined) throw new Error('P2 has no result');
  return {
    p1_overhead_ratio: round(results.p1.headline.ratio, 3),
    p2_busy_ratio: round(p2.busyRatio, 4),
    ...p3FinalLine(results.p3),
    p4_bundle_bytes: results.p4.current.bytes,
    p4_init_ratio: round(results.p4.ratios.initPlusFirstPost, 3),
    p4_init_ms: round(results.p4.current.initMs, 1),
    p5_writes_per_success: round(results.p2.p5.dynamodbWritesPerSuccess, 3),
  };
}

/** P3's keys of the final line (today's worker), also the whole line of `--only p3`. */
export function p3FinalLine(
  p3: P3Result,
): Pick<
  FinalLine,
  | 'p3_utilisation'
  | 'p3_429_share'
  | 'p3_receives_per_message'
  | 'p3_billed_ms_per_message'
  | 'p3_dead_lettered'
> {
  return {
    p3_utilisation: round(p3.current.utilisation, 3),
    p3_429_share: round(p3.current.rateLimitedShare, 4),
    p3_receives_per_message: round(p3.current.receivesPerMessage, 3),
    p3_billed_ms_per_message: round(p3.current.billedMsPerMessage, 1),
    p3_dead_lettered: p3.current.deadLettered,
  };
}
const met = (ok: boolean): 'yes' | 'no' => (ok ? 'yes' : 'no');
const ms = (value: number) => `${value.toFixed(3)} ms`;
const seconds = (value: number) => `${value.toFixed(4)} s`;
const share = (value: number) => `${(value * 100).toFixed(1)} %`;
const times = (value: number) => `${value.toFixed(3)}×`;
const bytes = (value: number) => `${value.toLocaleString('en-US')} B`;

export function reportRows(results: BenchResults): ReportRow[] {
  const line = finalLine(results);
  const { p1, p2, p3, p4 } = results;
  const rows: ReportRow[] = [];
  for (const [index, row] of p1.rows.entries()) {
    const headline = index === 0;
    rows.push({
      metric: headline ? `P1 time/message: ${row.label}` : `P1 · ${row.label}`,
      ours: ms(row.msPerMessage),
      baseline: `${ms(row.baselineMsPerMessage)} ${row.baselineLabel}`,
      ratio: times(row.ratio),
      target: headline ? `≤ ${TARGETS.p1MaxOverheadRatio}×` : '',
      met: headline ? met(line.p1_overhead_ratio <= TARGETS.p1MaxOverheadRatio) : '',
    });
  }
  for (const [index, config] of p2.configs.entries()) {
    const headline = index === 0;
    rows.push({
      metric: headline
        ? `P2 busy s/delivered message: ${config.config.label}`
        : `P2 · ${config.config.label}`,
      ours: seconds(config.oursBusySecondsPerMessage),
      baseline: `${seconds(config.referenceBusySecondsPerMessage)} in-function retry loop`,
      ratio: `${times(config.busyRatio)} (1/${(1 / config.busyRatio).toFixed(0)})`,
      target: headline ? '≤ 1/20' : '',
      met: headline ? met(line.p2_busy_ratio <= TARGETS.p2MaxBusyRatio) : '',
    });
  }
  rows.push(...p3Rows(p3));
  rows.push(
    {
      metric: 'P4 bundle size (index.mjs and its chunks, as the package ships them)',
      ours: bytes(p4.current.bytes),
      baseline: `${bytes(p4.baseline.bytes)} at 80d7c5d`,
      ratio: times(p4.current.bytes / p4.baseline.bytes),
      target: `≤ ${bytes(TARGETS.p4MaxBundleBytes)}`,
      met: met(line.p4_bundle_bytes <= TARGETS.p4MaxBundleBytes),
    },
    {
      metric: `P4 cold start: init + first POST, fresh process, NODE_OPTIONS=${p4.nodeOptions || '(none)'} as deployed`,
      ours: ms(p4.current.initPlusFirstPostMs),
      baseline: `${ms(p4.baseline.initPlusFirstPostMs)} at 80d7c5d`,
      ratio: times(p4.ratios.initPlusFirstPost),
      target: `≤ ${TARGETS.p4MaxInitRatio}×`,
      met: met(line.p4_init_ratio <= TARGETS.p4MaxInitRatio),
    },
    {
      metric: 'P4 · module init',
      ours: ms(p4.current.initMs),
      baseline: `${ms(p4.baseline.initMs)} at 80d7c5d`,
      ratio: times(p4.ratios.init),
      target: '',
      met: '',
    },
    {
      metric: 'P4 · first POST (connect, HTTP parser compiled, answer)',
      ours: ms(p4.current.firstPostMs),
      baseline: `${ms(p4.baseline.firstPostMs)} at 80d7c5d`,
      ratio: '',
      target: '',
      met: '',
    },
    {
      metric: 'P4 · init + whole first invocation (AWS calls to the emulators)',
      ours: ms(p4.current.initPlusFirstInvocationMs),
      baseline: `${ms(p4.baseline.initPlusFirstInvocationMs)} at 80d7c5d`,
      ratio: `${times(p4.ratios.initPlusFirstInvocation)} (CPU ${times(p4.ratios.initPlusFirstInvocationCpu)})`,
      target: '',
      met: '',
    },
    {
      metric: 'P4 · next invocations (2nd and later) of the same process',
      ours: ms(p4.current.warmInvocationMs),
      baseline: `${ms(p4.baseline.warmInvocationMs)} at 80d7c5d`,
      ratio: '',
      target: '',
      met: '',
    },
    {
      metric: 'P4 · source maps beside index.mjs and its chunks',
      ours: bytes(p4.current.sourceMapBytes),
      baseline: `${bytes(p4.baseline.sourceMapBytes)} at 80d7c5d`,
      ratio: '',
      target: '',
      met: '',
    },
    {
      metric: 'P4 · stack traces mapped to TypeScript with the deployed NODE_OPTIONS',
      ours: p4.stackTraceMapped ? 'yes' : 'no',
      baseline: '',
      ratio: '',
      target: '',
      met: '',
    },
    {
      metric: 'P5 DynamoDB writes per successful message (no faults)',
      ours: p2.p5.dynamodbWritesPerSuccess.toFixed(2),
      baseline: '',
      ratio: '',
      target: `≤ ${TARGETS.p5MaxWritesPerSuccess}`,
      met: met(line.p5_writes_per_success <= TARGETS.p5MaxWritesPerSuccess),
    },
    {
      metric: 'P5 · all AWS calls by the function / SQS writes, per success',
      ours: `${p2.p5.callsPerSuccess.toFixed(2)} / ${p2.p5.sqsWritesPerSuccess.toFixed(2)}`,
      baseline: '',
      ratio: '',
      target: '',
      met: '',
    },
    {
      metric: "P5 · event source (Lambda's) ReceiveMessage / DeleteMessageBatch, per success",
      ours: `${p2.p5.eventSourceCallsPerSuccess.receiveMessage.toFixed(2)} / ${p2.p5.eventSourceCallsPerSuccess.deleteMessageBatch.toFixed(2)}`,
      baseline: '',
      ratio: '',
      target: '',
      met: '',
    },
  );
  const faults = p2.configs[0]?.oursCostUnderFaults;
  if (faults !== undefined) {
    rows.push({
      metric: 'P5 · under the P2 fault mix: DynamoDB writes / all calls, per delivered message',
      ours: `${faults.dynamodbWritesPerSuccess.toFixed(2)} / ${faults.callsPerSuccess.toFixed(2)}`,
      baseline: '',
      ratio: '',
      target: '',
      met: '',
    });
  }
  return rows;
}

export function renderTable(rows: readonly ReportRow[]): string {
  const table = new Table({
    head: ['metric', 'ours', 'baseline', 'ratio', 'target', 'met?'],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [50, 13, 30, 15, 13, 6],
  });
  for (const row of rows) table.push([row.metric, row.ours, row.baseline, row.ratio, row.target, row.met]);
  return table.toString();
}

/** P3's rows: today's worker against the targets, 80d7c5d's beside it, then the thresholds compared. */
export function p3Rows(p3: P3Result): ReportRow[] {
  const line = p3FinalLine(p3);
  const old = `${P3_BASELINE_COMMIT}:`;
  const drained = (side: P3SideResult) => (side.drained ? '' : ' (not drained)');
  const rows: ReportRow[] = [
    {
      metric: `P3 runs created / L over the backlog's windows (L=${p3.limit} per ${p3.windowMs / 1000} s, ${p3.current.messages} messages, ${p3.concurrency} environments)`,
      ours: share(p3.current.utilisation),
      baseline: `${old} ${share(p3.baseline.utilisation)}`,
      ratio: '',
      target: `≥ ${share(TARGETS.p3MinUtilisation)}`,
      met: met(line.p3_utilisation >= TARGETS.p3MinUtilisation),
    },
    {
      metric: 'P3 · the same from the second measured window on (the start left out)',
      ours: share(p3.current.utilisationAfterFirstWindow),
      baseline: `${old} ${share(p3.baseline.utilisationAfterFirstWindow)}`,
      ratio: '',
      target: '',
      met: '',
    },
    {
      metric: 'P3 share of calls to kycert answered 429',
      ours: share(p3.current.rateLimitedShare),
      baseline: `${old} ${share(p3.baseline.rateLimitedShare)}`,
      ratio: '',
      target: `≤ ${share(TARGETS.p3Max429Share)}`,
      met: met(line.p3_429_share <= TARGETS.p3Max429Share),
    },
    {
      metric: 'P3 messages dead-lettered',
      ours: `${p3.current.deadLettered}${drained(p3.current)}`,
      baseline: `${old} ${p3.baseline.deadLettered}${drained(p3.baseline)}`,
      ratio: '',
      target: `${TARGETS.p3MaxDeadLettered}`,
      met: met(p3.current.drained && line.p3_dead_lettered <= TARGETS.p3MaxDeadLettered),
    },
    {
      metric: 'P3 SQS receives per message (deliveries / messages)',
      ours: p3.current.receivesPerMessage.toFixed(2),
      baseline: `${old} ${p3.baseline.receivesPerMessage.toFixed(2)}`,
      ratio: '',
      target: `≤ ${TARGETS.p3MaxReceivesPerMessage}`,
      met: met(line.p3_receives_per_message <= TARGETS.p3MaxReceivesPerMessage),
    },
    {
      metric: 'P3 Lambda-billed ms per message (durations rounded up to 1 ms)',
      ours: `${p3.current.billedMsPerMessage.toFixed(1)} ms`,
      baseline: `${old} ${p3.baseline.billedMsPerMessage.toFixed(1)} ms`,
      ratio: times(p3.current.billedMsPerMessage / p3.baseline.billedMsPerMessage),
      target: 'reported',
      met: '',
    },
    {
      metric: 'P3 · time to drain the backlog',
      ours: `${(p3.current.drainMs / 1000).toFixed(1)} s`,
      baseline: `${old} ${(p3.baseline.drainMs / 1000).toFixed(1)} s`,
      ratio: '',
      target: '',
      met: '',
    },
  ];
  for (const side of p3.thresholds) {
    rows.push({
      metric: `P3 · threshold ${side.maxInFunctionWaitMs} ms (${side.messages} messages): billed ms / receives / invocations per message`,
      ours: `${side.billedMsPerMessage.toFixed(1)} / ${side.receivesPerMessage.toFixed(2)} / ${side.invocationsPerMessage.toFixed(2)}`,
      baseline: `${share(side.utilisation)} of L, ${share(side.rateLimitedShare)} 429${drained(side)}`,
      ratio: '',
      target: '',
      met: '',
    });
  }
  return rows;
}
