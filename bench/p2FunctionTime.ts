import { type FaultScript, type KycertSandbox, startKycertSandbox } from '../local/sandbox/index.js';
import { benchMessages } from './benchMessages.js';
import { type BenchCounters, type MeasuredPipeline, startMeasuredPipeline } from './measuredPipeline.js';
import { type CostPerSuccess, costPerSuccess } from './p5Cost.js';
import { median, ratio, sum } from './stats.js';

export interface P2Config {
  label: string;
  /** Records per invocation, for ours and the reference alike. */
  batchSize: number;
  /**
   * Concurrent invocations of the reference, each in an execution environment of its own. Ours runs one at
   * a time in one environment: its time is mostly its own work, and several at once would share this
   * machine's two cores with each other. The reference's durations are its sleeps; running its invocations
   * side by side adds milliseconds to seconds and saves the bench minutes.
   */
  referenceConcurrency: number;
}

export interface P2Options {
  /** Event-source settings to compare under; the first is the target's. */
  configs: readonly P2Config[];
  /** Messages per measured run and per side: half get a 429, half two 5xx, before succeeding. */
  messagesPerRun: number;
  runs: number;
  /** Fault-free messages each side works before anything is measured (cold clients, JIT, connections). */
  warmUpMessages: number;
  /** Fault-free messages of P5's measured set (worker side only, first config). */
  p5Messages: number;
  /** `Retry-After` of the scripted 429s. */
  retryAfterSeconds: number;
}

export interface P2Run {
  oursBusySecondsPerMessage: number;
  referenceBusySecondsPerMessage: number;
  oursInvocations: number;
  referenceInvocations: number;
  wallSeconds: number;
}

export interface P2ConfigResult {
  config: P2Config;
  runs: P2Run[];
  /** Medians over runs. */
  oursBusySecondsPerMessage: number;
  referenceBusySecondsPerMessage: number;
  /** Median over runs of ours / reference within the run. */
  busyRatio: number;
  /** The worker's AWS calls per delivered message under the fault mix (all runs together). */
  oursCostUnderFaults: CostPerSuccess;
}

export interface P2Result {
  /** One per config, in the order given; the first is the target's. */
  configs: P2ConfigResult[];
  /** P5: the worker's AWS calls per successful message without faults. */
  p5: CostPerSuccess;
}

/** Scripted faults: `…-rl-…` messages get one 429 (Retry-After from the sandbox's faults), `…-5xx-…` two 503s. */
export const p2FaultScript: FaultScript = ({ externalId, postNumber }) => {
  if (externalId?.includes('-rl-')) return postNumber === 1 ? 'rateLimit' : undefined;
  if (externalId?.includes('-5xx-')) return postNumber <= 2 ? 'serverError' : undefined;
  return undefined;
};

const SETTLE_TIMEOUT_MS = 120_000;

/**
 * P2 (and P5 on the way): function-busy seconds per delivered message, ours against the in-function retry
 * loop, both behind the same event-source poller settings and the same sandbox, with the same scripted mix,
 * run at the same time. Busy time is what Lambda bills: the sum of invocation durations as each execution
 * environment timed them. Delivered = the sandbox created the message's run.
 */
export async function measureP2FunctionTime(options: P2Options): Promise<P2Result> {
  const sandbox = await startKycertSandbox({
    rateLimitPerMinute: Number.MAX_SAFE_INTEGER,
    faults: { retryAfterSeconds: options.retryAfterSeconds },
    faultScript: p2FaultScript,
  });
  try {
    const configs: P2ConfigResult[] = [];
    let p5: CostPerSuccess | undefined;
    for (const [index, config] of options.configs.entries()) {
      const measured = await measureConfig(sandbox, config, `c${index}`, options, index === 0);
      configs.push(measured.result);
      p5 ??= measured.p5;
    }
    if (p5 === undefined) throw new RangeError('P2 needs at least one config');
    return { configs, p5 };
  } finally {
    await sandbox.close();
  }
}

async function measureConfig(
  sandbox: KycertSandbox,
  config: P2Config,
  tag: string,
  options: P2Options,
  withP5: boolean,
): Promise<{ result: P2ConfigResult; p5: CostPerSuccess | undefined }> {
  const kycert = { baseUrl: sandbox.baseUrl, apiKey: sandbox.apiKey };
  const started: MeasuredPipeline[] = [];
  try {
    const settings = { kycert, batchSize: config.batchSize, maxAttempts: 4 };
    const [ours, theirs] = await Promise.all([
      startMeasuredPipeline({ ...settings, concurrency: 1 }),
      startMeasuredPipeline({
        ...settings,
        concurrency: config.referenceConcurrency,
        handler: 'reference',
      }),
    ]);
    started.push(ours, theirs);

    await Promise.all([
      work(ours, benchMessages(`p2-${tag}-warm-ours`, options.warmUpMessages)),
      work(theirs, benchMessages(`p2-${tag}-warm-ref`, options.warmUpMessages)),
    ]);

    let p5: CostPerSuccess | undefined;
    if (withP5) {
      ours.resetCounters();
      await work(ours, benchMessages('p5', options.p5Messages));
      p5 = costPerSuccess(ours.counters(), delivered(sandbox, 'p5-', options.p5Messages));
    }

    const runs: P2Run[] = [];
    const oursCounters: BenchCounters[] = [];
    for (let run = 0; run < options.runs; run++) {
      ours.resetCounters();
      theirs.resetCounters();
      const prefix = (side: string) => `p2-${tag}-${run}-${side}`;
      const mix = (side: string) => [
        ...benchMessages(`${prefix(side)}-rl`, Math.ceil(options.messagesPerRun / 2)),
        ...benchMessages(`${prefix(side)}-5xx`, Math.floor(options.messagesPerRun / 2)),
      ];
      const startedAtMs = Date.now();
      await Promise.all([work(ours, mix('ours')), work(theirs, mix('ref'))]);
      const wallSeconds = (Date.now() - startedAtMs) / 1000;
      const oursRun = ours.counters();
      const theirsRun = theirs.counters();
      oursCounters.push(oursRun);
      const oursDelivered = delivered(sandbox, `${prefix('ours')}-`, options.messagesPerRun);
      const referenceDelivered = delivered(sandbox, `${prefix('ref')}-`, options.messagesPerRun);
      runs.push({
        oursBusySecondsPerMessage: busySeconds(oursRun) / oursDelivered,
        referenceBusySecondsPerMessage: busySeconds(theirsRun) / referenceDelivered,
        oursInvocations: oursRun.invocations.length,
        referenceInvocations: theirsRun.invocations.length,
        wallSeconds,
      });
    }
    return {
      result: {
        config,
        runs,
        oursBusySecondsPerMessage: median(runs.map((run) => run.oursBusySecondsPerMessage)),
        referenceBusySecondsPerMessage: median(runs.map((run) => run.referenceBusySecondsPerMessage)),
        busyRatio: median(
          runs.map((run) => ratio(run.oursBusySecondsPerMessage, run.referenceBusySecondsPerMessage)),
        ),
        oursCostUnderFaults: costPerSuccess(
          mergeCounters(oursCounters),
          options.runs * options.messagesPerRun,
        ),
      },
      p5,
    };
  } finally {
    await Promise.all(started.map((pipeline) => pipeline.stop()));
  }
}

async function work(pipeline: MeasuredPipeline, bodies: readonly string[]): Promise<void> {
  await pipeline.enqueue(bodies);
  if (!(await pipeline.waitUntilSettled(SETTLE_TIMEOUT_MS))) {
    throw new Error(`P2: ${bodies.length} messages did not settle within ${SETTLE_TIMEOUT_MS / 1000} s`);
  }
}

function busySeconds(counters: BenchCounters): number {
  return sum(counters.invocations.map((invocation) => invocation.durationMs)) / 1000;
}

/** Messages of the set whose run the sandbox created; every one of them is expected to be. */
function delivered(sandbox: KycertSandbox, externalIdPrefix: string, expected: number): number {
  const count = sandbox.runs().filter((run) => run.externalId?.startsWith(externalIdPrefix)).length;
  if (count !== expected) {
    throw new Error(`P2: ${count} of ${expected} "${externalIdPrefix}" messages created their run`);
  }
  return count;
}

function mergeCounters(all: readonly BenchCounters[]): BenchCounters {
  const workerCalls: Record<string, number> = {};
  for (const counters of all) {
    for (const [command, count] of Object.entries(counters.workerCalls)) {
      workerCalls[command] = (workerCalls[command] ?? 0) + count;
    }
  }
  return {
    invocations: all.flatMap((counters) => counters.invocations),
    workerCalls,
    eventSourceCalls: {
      receiveMessage: sum(all.map((counters) => counters.eventSourceCalls.receiveMessage)),
      deleteMessageBatch: sum(all.map((counters) => counters.eventSourceCalls.deleteMessageBatch)),
    },
    recordsReceived: sum(all.map((counters) => counters.recordsReceived)),
  };
}
