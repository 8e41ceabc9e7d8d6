import { describe, expect, it } from 'vitest';
import { p2FaultScript } from '../bench/p2FunctionTime.js';
import {
  backlogWindows,
  billedMs,
  countWindows,
  summariseSide,
  tally,
  windowStart,
} from '../bench/p3RateLimit.js';
import { costPerSuccess } from '../bench/p5Cost.js';
import type { BenchResults } from '../bench/report.js';
import { finalLine } from '../bench/report.js';
import { mean, median, ratio, sum, withoutWarmUp } from '../bench/stats.js';

// Correctness of the benchmark's arithmetic only: no timing is asserted anywhere in `npm test`.

describe('stats', () => {
  it.each([
    [[3], 3],
    [[5, 1, 3], 3],
    [[4, 1, 3, 2], 2.5],
    [[2, 2, 9, 2], 2],
  ])('median of %j is %d', (values, expected) => {
    expect(median(values)).toBe(expected);
  });

  it('median leaves its input in order', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });

  it('refuses what has no median, mean or remainder after warm-up', () => {
    expect(() => median([])).toThrow('median of no values');
    expect(() => mean([])).toThrow('mean of no values');
    expect(() => withoutWarmUp([1, 2], 2)).toThrow('2 values leave nothing after 2 warm-up');
  });

  it('drops the warm-up values from the front', () => {
    expect(withoutWarmUp([100, 9, 8, 7], 1)).toEqual([9, 8, 7]);
  });

  it('sums, averages and divides; a ratio over 0 is NaN, not Infinity', () => {
    expect(sum([1, 2, 3])).toBe(6);
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(ratio(1, 4)).toBe(0.25);
    expect(ratio(1, 0)).toBeNaN();
  });
});

describe('P2 fault script', () => {
  it.each([
    ['p2-c0-0-ours-rl-00001', 1, 'rateLimit'],
    ['p2-c0-0-ours-rl-00001', 2, undefined],
    ['p2-c0-0-ref-5xx-00003', 1, 'serverError'],
    ['p2-c0-0-ref-5xx-00003', 2, 'serverError'],
    ['p2-c0-0-ref-5xx-00003', 3, undefined],
    ['p2-c0-warm-ours-00000', 1, undefined],
    ['p5-00007', 1, undefined],
  ])('%s, POST %d: %s', (externalId, postNumber, expected) => {
    expect(p2FaultScript({ idempotencyKey: 'bench-key-0001', externalId, postNumber })).toBe(expected);
  });
});

describe('P3 windows', () => {
  const WINDOW_MS = 10_000;
  const START_MS = 1_795_427_490_000;

  it('aligns windows on multiples of their length, as the sandbox does', () => {
    expect(windowStart(START_MS + 9_999, WINDOW_MS)).toBe(START_MS);
    expect(windowStart(START_MS + 10_000, WINDOW_MS)).toBe(START_MS + WINDOW_MS);
    expect(windowStart(START_MS, WINDOW_MS)).toBe(START_MS);
  });

  it('counts POSTs, runs created and 429s per window, leaving out answers outside the measured span', () => {
    // Prepare
    const answers = [
      { atMs: START_MS - 1, status: 202 as const },
      { atMs: START_MS, status: 202 as const },
      { atMs: START_MS + 5_000, status: 429 as const },
      { atMs: START_MS + 9_999, status: 503 as const },
      { atMs: START_MS + 10_000, status: 202 as const },
      { atMs: START_MS + 19_999, status: 'reset' as const },
      { atMs: START_MS + 20_000, status: 202 as const },
    ];
    // Act
    const windows = countWindows(answers, START_MS, WINDOW_MS, 2);
    // Assess
    expect(windows).toEqual([
      { windowStartMs: START_MS, posts: 3, created: 1, rateLimited: 1 },
      { windowStartMs: START_MS + WINDOW_MS, posts: 2, created: 1, rateLimited: 0 },
    ]);
  });
});

describe('P3 per side', () => {
  const window = (created: number) => ({ windowStartMs: 0, posts: created, created, rateLimited: 0 });

  it('measures the limit over the full windows before the one the backlog ran out in', () => {
    expect(backlogWindows([window(5), window(30), window(30), window(12), window(0)])).toEqual({
      first: 1,
      count: 2,
    });
    expect(backlogWindows([window(5), window(12)])).toEqual({ first: 1, count: 0 });
  });

  it('bills every invocation rounded up to the millisecond', () => {
    expect(billedMs([0.2, 1, 1.01, 250.5])).toBe(1 + 1 + 2 + 251);
  });

  it('counts windows from the enqueue to the last answer, and divides by messages', () => {
    // Prepare: L = 2 per 1 s window; enqueued at 0.5 s; 3 runs, a 429 and a second delivery for one message.
    const answers = [
      { atMs: 600, status: 202 },
      { atMs: 1_100, status: 202 },
      { atMs: 1_200, status: 202 },
      { atMs: 1_300, status: 429 },
      { atMs: 2_100, status: 202 },
    ];
    // Act
    const side = summariseSide({
      label: 'x',
      messages: 4,
      drained: true,
      drainMs: 2_000,
      enqueuedAtMs: 500,
      answers,
      limit: 2,
      windowMs: 1_000,
      deadLettered: 0,
      recordsReceived: 5,
      receiveCalls: 6,
      invocationDurationsMs: [10.2, 20],
    });
    // Assess
    expect(side.windows.map((w) => [w.posts, w.created, w.rateLimited])).toEqual([
      [1, 1, 0],
      [3, 2, 1],
      [1, 1, 0],
    ]);
    expect(side.measuredWindows).toEqual({ first: 1, count: 1 });
    expect(side.utilisation).toBe(1);
    expect(side.utilisationAfterFirstWindow).toBeNaN();
    expect(side.rateLimitedShare).toBe(1 / 5);
    expect(side.receivesPerMessage).toBe(5 / 4);
    expect(side.receiveCallsPerMessage).toBe(6 / 4);
    expect(side.invocationsPerMessage).toBe(2 / 4);
    expect(side.billedMsPerMessage).toBe(31 / 4);
  });
});

describe('P3 tally', () => {
  it('counts each distinct value', () => {
    expect(tally(['14', '15', '14', 'retries_exhausted'])).toEqual({
      '14': 2,
      '15': 1,
      retries_exhausted: 1,
    });
    expect(tally([])).toEqual({});
  });
});

describe('P5 cost per success', () => {
  it('counts DynamoDB writes apart from SQS writes and reads, per successful message', () => {
    // Prepare
    const counters = {
      workerCalls: {
        UpdateItemCommand: 8,
        GetItemCommand: 1,
        ChangeMessageVisibilityCommand: 3,
        SendMessageCommand: 1,
      },
      eventSourceCalls: { receiveMessage: 6, deleteMessageBatch: 2 },
    };
    // Act
    const cost = costPerSuccess(counters, 4);
    // Assess
    expect(cost).toEqual({
      successes: 4,
      callsPerSuccess: 13 / 4,
      dynamodbWritesPerSuccess: 2,
      sqsWritesPerSuccess: 1,
      otherCallsPerSuccess: 0.25,
      byCommand: {
        ChangeMessageVisibilityCommand: 0.75,
        GetItemCommand: 0.25,
        SendMessageCommand: 0.25,
        UpdateItemCommand: 2,
      },
      eventSourceCallsPerSuccess: { receiveMessage: 1.5, deleteMessageBatch: 0.5 },
    });
  });

  it('refuses a set without a success', () => {
    expect(() =>
      costPerSuccess({ workerCalls: {}, eventSourceCalls: { receiveMessage: 0, deleteMessageBatch: 0 } }, 0),
    ).toThrow('cost per success needs at least one success');
  });
});

describe('final line', () => {
  it('has exactly the keys the issue names, from the target rows', () => {
    // Prepare
    const cost = {
      successes: 10,
      callsPerSuccess: 2,
      dynamodbWritesPerSuccess: 2,
      sqsWritesPerSuccess: 0,
      otherCallsPerSuccess: 0,
      byCommand: {},
      eventSourceCallsPerSuccess: { receiveMessage: 1, deleteMessageBatch: 1 },
    };
    const row = {
      label: 'handler',
      msPerMessage: 2,
      baselineLabel: 'bare',
      baselineMsPerMessage: 1,
      ratio: 2.00049,
    };
    const side = {
      label: '',
      messages: 300,
      drained: true,
      drainMs: 1,
      windows: [],
      measuredWindows: { first: 1, count: 9 },
      utilisation: 0.95,
      utilisationAfterFirstWindow: 0.96,
      rateLimitedShare: 0.01234,
      posts: 1,
      created: 1,
      rateLimited: 0,
      deadLettered: 0,
      receivesPerMessage: 1.23456,
      receiveCallsPerMessage: 1,
      invocationsPerMessage: 1,
      billedMsPerMessage: 45.678,
    };
    const p4Side = {
      bytes: 0,
      sourceMapBytes: 1,
      composition: [],
      byGroup: [],
      initMs: 1,
      firstInvocationMs: 1,
      firstPostMs: 1,
      initPlusFirstPostMs: 2,
      initPlusFirstInvocationMs: 2,
      initPlusFirstInvocationCpuMs: 2,
      warmInvocationMs: 1,
      warmCpuMs: 1,
      firstTraceSubsegments: {},
      samples: [],
    };
    const results = {
      p1: { headline: row, rows: [row], measuredRounds: 1, awsCallsPerMessage: {} },
      p2: {
        configs: [
          {
            config: { label: '', batchSize: 1, referenceConcurrency: 1 },
            runs: [],
            oursBusySecondsPerMessage: 0.02,
            referenceBusySecondsPerMessage: 2,
            busyRatio: 0.01,
            oursCostUnderFaults: cost,
          },
        ],
        p5: cost,
      },
      p3: {
        limit: 30,
        windowMs: 3_000,
        concurrency: 4,
        batchSize: 10,
        baseline: { ...side, utilisation: 1, deadLettered: 7 },
        current: side,
        thresholds: [{ ...side, maxInFunctionWaitMs: 0 }],
      },
      p4: {
        nodeOptions: '--enable-source-maps',
        compositionMatchesSynth: true,
        stackTraceMapped: true,
        rounds: 1,
        current: { ...p4Side, bytes: 123, initMs: 99.94 },
        baseline: { ...p4Side, bytes: 456, commit: '80d7c5d' },
        ratios: {
          initPlusFirstPost: 0.73456,
          initPlusFirstInvocation: 0.9,
          initPlusFirstInvocationCpu: 0.8,
          init: 0.7,
          initCpu: 0.7,
        },
      },
    } satisfies BenchResults;
    // Act
    const line = finalLine(results);
    // Assess
    expect(Object.keys(line)).toEqual([
      'p1_overhead_ratio',
      'p2_busy_ratio',
      'p3_utilisation',
      'p3_429_share',
      'p3_receives_per_message',
      'p3_billed_ms_per_message',
      'p3_dead_lettered',
      'p4_bundle_bytes',
      'p4_init_ratio',
      'p4_init_ms',
      'p5_writes_per_success',
    ]);
    expect(line).toEqual({
      p1_overhead_ratio: 2,
      p2_busy_ratio: 0.01,
      p3_utilisation: 0.95,
      p3_429_share: 0.0123,
      p3_receives_per_message: 1.235,
      p3_billed_ms_per_message: 45.7,
      p3_dead_lettered: 0,
      p4_bundle_bytes: 123,
      p4_init_ratio: 0.735,
      p4_init_ms: 99.9,
      p5_writes_per_success: 2,
    });
  });
});
