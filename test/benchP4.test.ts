import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metafile } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { bundleComposition, bytesByGroup } from '../bench/bundleComposition.js';
import { type ColdStartSample, medianRoundRatio, subsegmentNames } from '../bench/measureColdStarts.js';
import { P4_BASELINE, sha256, unpackP4Baseline } from '../bench/p4Baseline.js';

// P4's arithmetic and fixture; no timing is asserted.

const sample = (initMs: number, firstPostMs: number, firstInvocationMs = 0): ColdStartSample => ({
  initMs,
  firstPostMs,
  firstInvocationMs,
  initCpuMs: initMs,
  firstInvocationCpuMs: firstInvocationMs,
  warmInvocationMs: 0,
  warmCpuMs: 0,
  firstTraceSubsegments: {},
});

describe('P4 bundle composition', () => {
  it('adds up bytes per npm package, scoped or not, and per local folder, largest first', () => {
    // Prepare
    const metafile = {
      inputs: {},
      outputs: {
        'dist/worker/index.mjs.map': { bytes: 9, inputs: {}, imports: [], exports: [] },
        'dist/worker/index.mjs': {
          bytes: 1000,
          imports: [],
          exports: [],
          inputs: {
            'node_modules/undici/lib/a.js': { bytesInOutput: 300 },
            'node_modules/undici/lib/b.js': { bytesInOutput: 200 },
            '../node_modules/@smithy/core/dist-es/x.js': { bytesInOutput: 250 },
            'functions/kycert-worker/handler.ts': { bytesInOutput: 40 },
            'functions/kycert-worker/config.ts': { bytesInOutput: 10 },
          },
        },
      },
    } as unknown as Metafile;
    // Act
    const composition = bundleComposition(metafile);
    // Assess
    expect(composition).toEqual({
      bytes: 1000,
      initBytes: 1000,
      bySource: [
        { source: 'undici', bytes: 500 },
        { source: '@smithy/core', bytes: 250 },
        { source: 'functions/kycert-worker', bytes: 50 },
      ],
    });
  });

  it('groups packages for the chart, every group present and in order', () => {
    expect(
      bytesByGroup([
        { source: 'undici', bytes: 500 },
        { source: '@smithy/core', bytes: 250 },
        { source: '@aws-sdk/client-sqs', bytes: 50 },
        { source: 'mnemonist', bytes: 5 },
        { source: '@aws-lambda-powertools/logger', bytes: 20 },
        { source: 'aws-xray-sdk-core', bytes: 70 },
        { source: 'cls-hooked', bytes: 8 },
        { source: 'functions/kycert-worker', bytes: 50 },
        { source: 'left-pad', bytes: 1 },
      ]),
    ).toEqual([
      { group: 'undici', bytes: 500 },
      { group: 'zod', bytes: 0 },
      { group: 'AWS SDK + Smithy', bytes: 305 },
      { group: 'Powertools', bytes: 20 },
      { group: 'X-Ray SDK', bytes: 78 },
      { group: 'our code', bytes: 50 },
      { group: 'other', bytes: 1 },
    ]);
  });
});

describe('P4 ratios', () => {
  it('forms the ratio within each round, leaves out the first round, and takes the median', () => {
    // Prepare: round 0 is a cold page cache; the machine is busier in round 2 for both sides.
    const fresh = [sample(500, 50), sample(70, 5), sample(140, 10), sample(80, 5)];
    const old = [sample(900, 90), sample(100, 10), sample(200, 20), sample(100, 10)];
    // Act, Assess: (75 / 110, 150 / 220, 85 / 110)
    expect(medianRoundRatio(fresh, old, 'initPlusFirstPost')).toBeCloseTo(150 / 220, 10);
    expect(medianRoundRatio(fresh, old, 'init')).toBeCloseTo(0.7, 10);
  });

  it('adds the whole first invocation for the init-plus-first-invocation ratio', () => {
    const fresh = [sample(1, 1, 1), sample(60, 5, 40)];
    const old = [sample(1, 1, 1), sample(100, 10, 100)];
    expect(medianRoundRatio(fresh, old, 'initPlusFirstInvocation')).toBe(0.5);
  });

  it('refuses samples from different numbers of rounds', () => {
    expect(() => medianRoundRatio([sample(1, 1)], [sample(1, 1), sample(1, 1)], 'init')).toThrow(
      '1 rounds against 2',
    );
  });
});

describe('P4 X-Ray subsegments', () => {
  const header = '{"format": "json", "version": 1}';
  it("counts the subsegments of one trace by name and AWS operation, nested ones included, others' left out", () => {
    // Prepare
    const datagrams = [
      `${header}\n${JSON.stringify({ name: 'DynamoDB', trace_id: 't1', aws: { operation: 'UpdateItem' } })}`,
      `${header}\n${JSON.stringify({ name: 'DynamoDB', trace_id: 't1', aws: { operation: 'UpdateItem' } })}`,
      `${header}\n${JSON.stringify({
        name: '127.0.0.1',
        trace_id: 't1',
        subsegments: [{ name: 'inner' }],
      })}`,
      `${header}\n${JSON.stringify({ name: 'SQS', trace_id: 't2', aws: { operation: 'SendMessage' } })}`,
      `${header}\nnot json`,
    ];
    // Act
    const names = subsegmentNames(datagrams, 't1');
    // Assess
    expect(names).toEqual({ 'DynamoDB UpdateItem': 2, '127.0.0.1': 1, inner: 1 });
  });
});

describe('P4 baseline fixture', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("unpacks to 80d7c5d's bundle byte for byte, with its source map and composition", () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'kycert-queue-p4-baseline-test-'));
    // Act
    const baseline = unpackP4Baseline(dir);
    // Assess
    const code = readFileSync(baseline.path);
    expect(code.length).toBe(1_638_489);
    expect(sha256(code)).toBe(P4_BASELINE.sha256);
    expect(code.toString('utf8').endsWith('//# sourceMappingURL=index.mjs.map\n')).toBe(true);
    const map = JSON.parse(readFileSync(`${baseline.path}.map`, 'utf8')) as { sourcesContent?: unknown[] };
    expect(map.sourcesContent?.length).toBeGreaterThan(0);
    expect(baseline.composition.reduce((total, { bytes }) => total + bytes, 0)).toBeLessThanOrEqual(
      baseline.bytes,
    );
    expect(baseline.composition[0]).toEqual({ source: 'undici', bytes: 736_052 });
  });
});
