import { describe, expect, it } from 'vitest';
import { p2FaultScript } from '../bench/p2FunctionTime.js';
import { countWindows, tally, windowStart } from '../bench/p3RateLimit.js';
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
    const mode = {
      rateLimitedByReceiveCount: {},
      rateLimitedOnLastReceives: 0,
      deadLetterReasons: {},
      label: '',
      windows: [],
      utilisation: 0.95,
      rateLimitedShare: 0.01234,
      medianWindowUtilisation: 1,
      cost,
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
        throttled: mode,
        unthrottled: { ...mode, utilisation: 1 },
        limit: 100,
        windowMs: 10_000,
        messagesPerMode: 1,
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
      p4_bundle_bytes: 123,
      p4_init_ratio: 0.735,
      p4_init_ms: 99.9,
      p5_writes_per_success: 2,
    });
  });
});
