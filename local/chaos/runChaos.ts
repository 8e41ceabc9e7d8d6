import { performance } from 'node:perf_hooks';
import { startFaultPipeline } from '../../test/support/faultPipeline.js';
import {
  checkInvariants,
  countRun,
  type InvariantViolation,
  type RunCounts,
} from '../../test/support/invariants.js';
import type { PipelineSnapshot } from '../pipeline/startLocalPipeline.js';
import { type ChaosMix, createChaosMessages } from './chaosMessages.js';
import { type ChaosSettings, chaosPipelineOptions } from './chaosPipelineOptions.js';

export interface ChaosOptions extends ChaosSettings {
  messages: number;
  /** Give up waiting after this long. @default 600 s */
  timeoutSeconds?: number;
  onProgress?: (progress: { snapshot: PipelineSnapshot; elapsedMs: number }) => void;
}

export interface ChaosResult {
  passed: boolean;
  settled: boolean;
  mix: Omit<ChaosMix, 'bodies'>;
  counts: RunCounts;
  violations: InvariantViolation[];
  /** From the first enqueue until the queue was empty. */
  durationMs: number;
  messagesPerSecond: number;
}

/** One chaos run: a fresh pipeline, the mix of messages, every fault at once, then the invariants. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const mix = createChaosMessages({ count: options.messages, seed: options.seed + 2 });
  const pipeline = await startFaultPipeline(chaosPipelineOptions(options));
  try {
    const startedAtMs = performance.now();
    await pipeline.enqueue(mix.bodies);
    const settled = await pipeline.pipeline.waitUntilSettled({
      timeoutMs: (options.timeoutSeconds ?? 600) * 1000,
      pollMs: 1_000,
      onProgress: (snapshot) =>
        options.onProgress?.({ snapshot, elapsedMs: performance.now() - startedAtMs }),
    });
    const durationMs = performance.now() - startedAtMs;
    const evidence = await pipeline.evidence();
    const violations = checkInvariants(evidence);
    const { bodies: _bodies, ...mixCounts } = mix;
    return {
      passed: settled && violations.length === 0,
      settled,
      mix: mixCounts,
      counts: countRun(evidence),
      violations,
      durationMs: Math.round(durationMs),
      messagesPerSecond: Math.round((mix.bodies.length / durationMs) * 1000 * 10) / 10,
    };
  } finally {
    await pipeline.stop();
  }
}
