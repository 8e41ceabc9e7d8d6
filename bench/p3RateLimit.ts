import { setTimeout as sleepMs } from 'node:timers/promises';
import { REDRIVE_MAX_RECEIVE_COUNT } from '../functions/kycert-worker/constants.js';
import { type SandboxLogEntry, startKycertSandbox } from '../local/sandbox/index.js';
import { benchMessages } from './benchMessages.js';
import { type MeasuredPipeline, startMeasuredPipeline } from './measuredPipeline.js';
import { type CostPerSuccess, costPerSuccess } from './p5Cost.js';
import { median } from './stats.js';

export interface P3Options {
  /** Requests the sandbox allows per window (its "minute"). */
  limit: number;
  /** The window length; a whole number of seconds, so that `X-RateLimit-Reset` (epoch seconds) is exact. */
  windowMs: number;
  /** Full windows measured, after the partial first one and one full warm-up window. */
  measuredWindows: number;
  /** Concurrent invocations; with `batchSize` records each, far more than `limit` per window could be sent. */
  concurrency: number;
  batchSize: number;
}

/** One POST /bureau/runs as the sandbox answered it. */
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

/** The worker's default (README, "Configuration"): 12 POSTs per key, redrive after 15 receives. */
const MAX_ATTEMPTS = 12;

/** The worker's own account of a POST it sent (its `decision` log entry). */
export interface WorkerDecision {
  atMs: number;
  receiveCount: number;
  httpStatus: number | undefined;
  decision: string;
  reason: string | undefined;
}

export interface P3ModeResult {
  label: string;
  windows: WindowCounts[];
  /** 429s the worker saw in the measured windows, by the receive count of the message that got it. */
  rateLimitedByReceiveCount: Record<string, number>;
  /** Of those, the ones on a message's last two receives, which the throttle no longer defers. */
  rateLimitedOnLastReceives: number;
  /** Dead-letter reasons the worker gave in the measured windows. */
  deadLetterReasons: Record<string, number>;
  /** Runs created over the measured windows / (limit × windows). */
  utilisation: number;
  /** 429s / POSTs over the measured windows. */
  rateLimitedShare: number;
  /** The median window's runs created / limit. */
  medianWindowUtilisation: number;
  /** The worker's AWS calls per run created, over the measured windows. */
  cost: CostPerSuccess;
}

export interface P3Result {
  throttled: P3ModeResult;
  unthrottled: P3ModeResult;
  limit: number;
  windowMs: number;
  /** The backlog each side starts with: more than the measured windows can take. */
  messagesPerMode: number;
}

/**
 * P3: how much of kycert's rate limit the pipeline uses, and how often it runs into it, with the proactive
 * throttle (threshold 0.15, the default) and without (`KYCERT_THROTTLE_THRESHOLD=0`). Both run at the same
 * time against sandboxes of their own with the same limit, over the same windows, each with a backlog that
 * would outlast the measurement if none of it were dead-lettered, so the limit (not the supply of messages) is
 * what bounds them until then.
 */
export async function measureP3RateLimit(options: P3Options): Promise<P3Result> {
  if (options.windowMs % 1000 !== 0) throw new RangeError('windowMs must be whole seconds');
  const messagesPerMode =
    options.limit * (options.measuredWindows + 3) + options.concurrency * options.batchSize;
  const modes = [
    { label: 'with throttle (threshold 0.15)', workerEnv: {} as Record<string, string> },
    { label: 'without throttle', workerEnv: { KYCERT_THROTTLE_THRESHOLD: '0' } },
  ];
  const sides = await Promise.all(
    modes.map(async (mode) => {
      const answers: PostAnswer[] = [];
      const decisions: WorkerDecision[] = [];
      const sandbox = await startKycertSandbox({
        rateLimitPerMinute: options.limit,
        rateLimitWindowMs: options.windowMs,
        log: (entry) => {
          if (isCreateRun(entry)) answers.push({ atMs: Date.parse(entry.time), status: entry.status });
        },
      });
      const pipeline = await startMeasuredPipeline({
        kycert: { baseUrl: sandbox.baseUrl, apiKey: sandbox.apiKey },
        concurrency: options.concurrency,
        // One execution environment per concurrent invocation, as Lambda scales: each its own process,
        // throttle and connection pool, coordinated by nothing but kycert's answers.
        environments: options.concurrency,
        batchSize: options.batchSize,
        // The deployed default; the redrive maxReceiveCount follows from it.
        maxAttempts: MAX_ATTEMPTS,
        workerEnv: mode.workerEnv,
        onDecision: (entry, atMs) =>
          decisions.push({
            atMs,
            receiveCount: Number(entry.receive_count),
            httpStatus: typeof entry.http_status === 'number' ? entry.http_status : undefined,
            decision: String(entry.decision),
            reason: typeof entry.reason === 'string' ? entry.reason : undefined,
          }),
      });
      return { mode, sandbox, pipeline, answers, decisions };
    }),
  );
  try {
    await Promise.all(
      sides.map((side, i) => side.pipeline.enqueue(benchMessages(`p3-${i}`, messagesPerMode))),
    );
    // Skip the window already under way and one full window: the backlog's first burst is not steady state.
    const firstMeasuredMs = windowStart(Date.now(), options.windowMs) + 2 * options.windowMs;
    const endMs = firstMeasuredMs + options.measuredWindows * options.windowMs;
    await sleepMs(firstMeasuredMs - Date.now());
    for (const side of sides) side.pipeline.resetCounters();
    await sleepMs(endMs - Date.now());
    const calls = sides.map((side) => side.pipeline.counters());
    // Answers to requests sent before the end may still be on their way.
    await sleepMs(250);
    const results = sides.map((side, i) => {
      const windows = countWindows(side.answers, firstMeasuredMs, options.windowMs, options.measuredWindows);
      const decisions = side.decisions.filter((entry) => entry.atMs >= firstMeasuredMs && entry.atMs < endMs);
      const rateLimited = decisions.filter((entry) => entry.httpStatus === 429);
      const result: P3ModeResult = {
        ...summarise(
          side.mode.label,
          windows,
          options.limit,
          calls[i] as ReturnType<MeasuredPipeline['counters']>,
        ),
        rateLimitedByReceiveCount: tally(rateLimited.map((entry) => String(entry.receiveCount))),
        rateLimitedOnLastReceives: rateLimited.filter(
          (entry) => entry.receiveCount >= REDRIVE_MAX_RECEIVE_COUNT - 1,
        ).length,
        deadLetterReasons: tally(
          decisions.filter((entry) => entry.decision === 'deadLetter').map((entry) => String(entry.reason)),
        ),
      };
      return result;
    });
    return {
      throttled: results[0] as P3ModeResult,
      unthrottled: results[1] as P3ModeResult,
      limit: options.limit,
      windowMs: options.windowMs,
      messagesPerMode,
    };
  } finally {
    await Promise.all(sides.map((side) => side.pipeline.stop()));
    await Promise.all(sides.map((side) => side.sandbox.close()));
  }
}

function isCreateRun(entry: SandboxLogEntry): boolean {
  return entry.method === 'POST' && entry.path.endsWith('/bureau/runs');
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

function summarise(
  label: string,
  windows: WindowCounts[],
  limit: number,
  calls: ReturnType<MeasuredPipeline['counters']>,
): Omit<P3ModeResult, 'rateLimitedByReceiveCount' | 'rateLimitedOnLastReceives' | 'deadLetterReasons'> {
  const created = windows.reduce((total, window) => total + window.created, 0);
  const posts = windows.reduce((total, window) => total + window.posts, 0);
  const rateLimited = windows.reduce((total, window) => total + window.rateLimited, 0);
  return {
    label,
    windows,
    utilisation: created / (limit * windows.length),
    rateLimitedShare: posts === 0 ? 0 : rateLimited / posts,
    medianWindowUtilisation: median(windows.map((window) => window.created / limit)),
    cost: costPerSuccess(calls, Math.max(created, 1)),
  };
}
