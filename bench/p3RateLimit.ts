import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SandboxLogEntry, startKycertSandbox } from '../local/sandbox/index.js';
import { benchMessages } from './benchMessages.js';
import { type MeasuredPipelineOptions, startMeasuredPipeline } from './measuredPipeline.js';
import { P4_BASELINE, unpackP4Baseline } from './p4Baseline.js';

/**
 * P3 (issue 10 items 8 and 3): how much of kycert's rate limit a backlog gets, how often it runs into the
 * limit, and what the flow control costs per message in SQS receives and Lambda-billed milliseconds — 80d7c5d's
 * worker (its exact bundle, the proactive throttle in each environment) beside today's (one GCRA schedule in
 * DynamoDB shared by all environments), at the same time, each with its own sandbox and pipeline. Then today's
 * worker at several `KYCERT_MAX_IN_FUNCTION_WAIT_MS`, side by side, on a smaller backlog.
 */
export interface P3Options {
  /** Requests the sandbox allows per window (its "minute"). */
  limit: number;
  /** The window length; a whole number of seconds, so that `X-RateLimit-Reset` (epoch seconds) is exact. */
  windowMs: number;
  /** The backlog each side starts with, enqueued at once: at least 10 × limit. */
  messages: number;
  /** Concurrent invocations and execution environments (one environment per invocation, as Lambda scales). */
  concurrency: number;
  batchSize: number;
  /** A side that has not drained by then is reported as it stands. */
  timeoutMs: number;
  /** The in-function wait thresholds compared (item 3), each with this backlog. */
  threshold: { waitsMs: readonly number[]; messages: number };
}

/** One request to kycert as the sandbox answered it. */
export interface PostAnswer {
  atMs: number;
  status: number | 'reset' | 'client_gone';
}

export interface WindowCounts {
  windowStartMs: number;
  posts: number;
  created: number;
  rateLimited: number;
}

export interface P3SideResult {
  label: string;
  messages: number;
  /** Whether the main queue emptied before the timeout. */
  drained: boolean;
  /** From the enqueue to the queue empty (or the timeout). */
  drainMs: number;
  /** Every window from the one holding the enqueue to the one holding the last request. */
  windows: WindowCounts[];
  /** Indexes into `windows` of the windows `utilisation` is taken over (see `backlogWindows`). */
  measuredWindows: { first: number; count: number };
  /** Runs created over the measured windows / (limit × their number). */
  utilisation: number;
  /** The same without the first measured window (the start: cold environments, the first bookings). */
  utilisationAfterFirstWindow: number;
  /** 429s / all requests to kycert, over the whole run. */
  rateLimitedShare: number;
  posts: number;
  created: number;
  rateLimited: number;
  /** Messages on the DLQ once drained. */
  deadLettered: number;
  /** Records the event source received / messages: every delivery counts. */
  receivesPerMessage: number;
  /** ReceiveMessage calls (Lambda's poller) / messages; includes empty long polls. */
  receiveCallsPerMessage: number;
  invocationsPerMessage: number;
  /** Sum over invocations of the duration rounded up to the millisecond, as Lambda bills it, / messages. */
  billedMsPerMessage: number;
}

export interface P3Result {
  limit: number;
  windowMs: number;
  concurrency: number;
  batchSize: number;
  baseline: P3SideResult;
  current: P3SideResult;
  /** Today's worker at each threshold, on `threshold.messages` messages each. */
  thresholds: (P3SideResult & { maxInFunctionWaitMs: number })[];
}

/** 80d7c5d's defaults as its stack deployed them: 12 POSTs per key, redrive after maxReceiveCountFor(12) = 15. */
export const BASELINE_MAX_ATTEMPTS = 12;
export const BASELINE_MAX_RECEIVE_COUNT = 15;

interface SideSpec {
  label: string;
  prefix: string;
  messages: number;
  pipeline: Partial<MeasuredPipelineOptions>;
}

export async function measureP3RateLimit(options: P3Options): Promise<P3Result> {
  if (options.windowMs % 1000 !== 0) throw new RangeError('windowMs must be whole seconds');
  const dir = mkdtempSync(join(tmpdir(), 'kycert-p3-'));
  try {
    const bundle = unpackP4Baseline(dir);
    const [baseline, current] = (await runSides(options, [
      {
        label: `80d7c5d (throttle per environment)`,
        prefix: 'p3-old',
        messages: options.messages,
        pipeline: {
          handler: { module: bundle.path, export: 'handler' },
          maxAttempts: BASELINE_MAX_ATTEMPTS,
          maxReceiveCount: BASELINE_MAX_RECEIVE_COUNT,
        },
      },
      { label: 'now (shared schedule)', prefix: 'p3-new', messages: options.messages, pipeline: {} },
    ])) as [P3SideResult, P3SideResult];
    const thresholds = await runSides(
      options,
      options.threshold.waitsMs.map((waitMs) => ({
        label: `now, KYCERT_MAX_IN_FUNCTION_WAIT_MS=${waitMs}`,
        prefix: `p3-wait${waitMs}`,
        messages: options.threshold.messages,
        pipeline: { workerEnv: { KYCERT_MAX_IN_FUNCTION_WAIT_MS: String(waitMs) } },
      })),
    );
    return {
      limit: options.limit,
      windowMs: options.windowMs,
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      baseline,
      current,
      thresholds: thresholds.map((side, i) => ({
        ...side,
        maxInFunctionWaitMs: options.threshold.waitsMs[i] as number,
      })),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each side with its own sandbox and pipeline, all at the same time, each until drained or the timeout. */
async function runSides(options: P3Options, specs: readonly SideSpec[]): Promise<P3SideResult[]> {
  const sides = await Promise.all(
    specs.map(async (spec) => {
      const answers: PostAnswer[] = [];
      const sandbox = await startKycertSandbox({
        rateLimitPerMinute: options.limit,
        rateLimitWindowMs: options.windowMs,
        log: (entry) => {
          if (isKycertCall(entry)) answers.push({ atMs: Date.parse(entry.time), status: entry.status });
        },
      });
      try {
        const pipeline = await startMeasuredPipeline({
          kycert: { baseUrl: sandbox.baseUrl, apiKey: sandbox.apiKey },
          concurrency: options.concurrency,
          environments: options.concurrency,
          batchSize: options.batchSize,
          // Today's default attempt budget; the queue's redrive is the deployed one unless the side says.
          maxAttempts: 12,
          ...spec.pipeline,
          // The sandbox's limit, as `npm start --kycert-rate-limit/--kycert-rate-window` tells the worker
          // (KYCERT_RATE_LIMIT_*); 80d7c5d's worker has no such setting and ignores them.
          workerEnv: {
            KYCERT_RATE_LIMIT_PER_MINUTE: String((options.limit * 60_000) / options.windowMs),
            KYCERT_RATE_LIMIT_WINDOW_SECONDS: String(options.windowMs / 1000),
            ...spec.pipeline.workerEnv,
          },
        });
        return { spec, sandbox, pipeline, answers };
      } catch (error) {
        await sandbox.close();
        throw error;
      }
    }),
  );
  try {
    return await Promise.all(
      sides.map(async ({ spec, pipeline, answers }) => {
        pipeline.resetCounters();
        const enqueuedAtMs = Date.now();
        await pipeline.enqueue(benchMessages(spec.prefix, spec.messages));
        const drained = await pipeline.waitUntilSettled(options.timeoutMs);
        const drainMs = Date.now() - enqueuedAtMs;
        const counters = pipeline.counters();
        const snapshot = await pipeline.pipeline.snapshot();
        return summariseSide({
          label: spec.label,
          messages: spec.messages,
          drained,
          drainMs,
          enqueuedAtMs,
          answers,
          limit: options.limit,
          windowMs: options.windowMs,
          deadLettered: snapshot.deadLettered,
          recordsReceived: counters.recordsReceived,
          receiveCalls: counters.eventSourceCalls.receiveMessage,
          invocationDurationsMs: counters.invocations.map((invocation) => invocation.durationMs),
        });
      }),
    );
  } finally {
    await Promise.all(sides.map((side) => side.pipeline.stop()));
    await Promise.all(sides.map((side) => side.sandbox.close()));
  }
}

export interface SideObservations {
  label: string;
  messages: number;
  drained: boolean;
  drainMs: number;
  enqueuedAtMs: number;
  answers: readonly PostAnswer[];
  limit: number;
  windowMs: number;
  deadLettered: number;
  recordsReceived: number;
  receiveCalls: number;
  invocationDurationsMs: readonly number[];
}

export function summariseSide(observed: SideObservations): P3SideResult {
  const { answers, windowMs, limit, messages } = observed;
  const firstWindowMs = windowStart(observed.enqueuedAtMs, windowMs);
  const lastAtMs = Math.max(observed.enqueuedAtMs, ...answers.map((answer) => answer.atMs));
  const windows = countWindows(
    answers,
    firstWindowMs,
    windowMs,
    Math.floor((windowStart(lastAtMs, windowMs) - firstWindowMs) / windowMs) + 1,
  );
  const measuredWindows = backlogWindows(windows);
  const measured = windows.slice(measuredWindows.first, measuredWindows.first + measuredWindows.count);
  const total = (key: 'posts' | 'created' | 'rateLimited', of: readonly WindowCounts[]) =>
    of.reduce((sum, window) => sum + window[key], 0);
  const posts = total('posts', windows);
  const rateLimited = total('rateLimited', windows);
  return {
    label: observed.label,
    messages,
    drained: observed.drained,
    drainMs: observed.drainMs,
    windows,
    measuredWindows,
    utilisation: measured.length === 0 ? Number.NaN : total('created', measured) / (limit * measured.length),
    utilisationAfterFirstWindow:
      measured.length < 2
        ? Number.NaN
        : total('created', measured.slice(1)) / (limit * (measured.length - 1)),
    rateLimitedShare: posts === 0 ? 0 : rateLimited / posts,
    posts,
    created: total('created', windows),
    rateLimited,
    deadLettered: observed.deadLettered,
    receivesPerMessage: observed.recordsReceived / messages,
    receiveCallsPerMessage: observed.receiveCalls / messages,
    invocationsPerMessage: observed.invocationDurationsMs.length / messages,
    billedMsPerMessage: billedMs(observed.invocationDurationsMs) / messages,
  };
}

/** Lambda bills each invocation's duration rounded up to the millisecond. */
export function billedMs(durationsMs: readonly number[]): number {
  return durationsMs.reduce((sum, durationMs) => sum + Math.ceil(durationMs), 0);
}

/**
 * The windows the limit, not the supply of messages, bounds: every full window after the one the backlog was
 * enqueued in (which the first requests reach only part of) up to, not including, the window of the last run
 * created (in which the backlog runs out part-way). A run with fewer than three windows has none.
 */
export function backlogWindows(windows: readonly WindowCounts[]): { first: number; count: number } {
  let last = -1;
  windows.forEach((window, index) => {
    if (window.created > 0) last = index;
  });
  return { first: 1, count: Math.max(0, last - 1) };
}

function isKycertCall(entry: SandboxLogEntry): boolean {
  return entry.path.includes('/bureau/');
}

/** The start of the fixed window holding `atMs`; windows are aligned on multiples of `windowMs`, as the sandbox's. */
export function windowStart(atMs: number, windowMs: number): number {
  return atMs - (((atMs % windowMs) + windowMs) % windowMs);
}

/** POSTs, runs created (202) and 429s in each of `count` windows from `firstWindowStartMs`; later answers are left out. */
export function countWindows(
  answers: readonly PostAnswer[],
  firstWindowStartMs: number,
  windowMs: number,
  count: number,
): WindowCounts[] {
  const windows: WindowCounts[] = Array.from({ length: count }, (_, i) => ({
    windowStartMs: firstWindowStartMs + i * windowMs,
    posts: 0,
    created: 0,
    rateLimited: 0,
  }));
  for (const answer of answers) {
    const index = Math.floor((answer.atMs - firstWindowStartMs) / windowMs);
    const window = windows[index];
    if (index < 0 || window === undefined) continue;
    window.posts++;
    if (answer.status === 202) window.created++;
    if (answer.status === 429) window.rateLimited++;
  }
  return windows;
}

export function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

export const P3_BASELINE_COMMIT = P4_BASELINE.commit.slice(0, 7);
