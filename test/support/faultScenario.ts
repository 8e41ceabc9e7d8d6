import { type FaultPipeline, type FaultPipelineOptions, startFaultPipeline } from './faultPipeline.js';
import { checkInvariants, type InvariantViolation, type RunEvidence } from './invariants.js';

/**
 * One fault scenario: a pipeline with faults injected, messages driven through it, then the evidence.
 * The fault test files start all their scenarios at once in `beforeAll` (most of a scenario's time is spent
 * waiting out retry delays, so side by side they take hardly longer than the slowest) and assert each in
 * its own `it`.
 */
export interface FaultScenario<Extra = unknown> {
  name: string;
  options: FaultPipelineOptions;
  /** Enqueues the messages (in waves if it likes) and waits until the pipeline settles. */
  drive: (pipeline: FaultPipeline) => Promise<Extra>;
  /** See RunEvidence: set for faults that can lose a delivery's decision. */
  decisionsMayBeLost?: boolean;
}

export interface ScenarioResult<Extra = unknown> {
  evidence: RunEvidence;
  violations: InvariantViolation[];
  extra: Extra;
  /** Wall-clock time from start to stop, for the report (never asserted). */
  durationMs: number;
}

export async function runScenario<Extra>(scenario: FaultScenario<Extra>): Promise<ScenarioResult<Extra>> {
  const startedAtMs = performance.now();
  return driveScenario(scenario, await startFaultPipeline(scenario.options), startedAtMs);
}

async function driveScenario<Extra>(
  scenario: FaultScenario<Extra>,
  pipeline: FaultPipeline,
  startedAtMs: number,
): Promise<ScenarioResult<Extra>> {
  try {
    const extra = await scenario.drive(pipeline);
    const evidence = await pipeline.evidence({ decisionsMayBeLost: scenario.decisionsMayBeLost ?? false });
    const durationMs = Math.round(performance.now() - startedAtMs);
    if (process.env.FAULTS_TIMING === '1') console.log(`scenario "${scenario.name}": ${durationMs} ms`);
    return { evidence, violations: checkInvariants(evidence), extra, durationMs };
  } finally {
    await pipeline.stop();
  }
}

/**
 * Runs every scenario at once; a scenario that throws rejects only its own result. Every pipeline is started
 * (its execution environments through their cold starts) before any scenario sends a message: dozens of
 * processes booting take both cores for a while, and a scenario already running then would see its
 * invocations starved past their function timeouts by other scenarios' cold starts, which is not its fault.
 */
export function runScenarios<S extends Record<string, FaultScenario<unknown>>>(
  scenarios: S,
): { [K in keyof S]: Promise<ScenarioResult<Awaited<ReturnType<S[K]['drive']>>>> } {
  const startedAtMs = performance.now();
  const entries = Object.entries(scenarios);
  const pipelines = entries.map(([, scenario]) => startFaultPipeline(scenario.options));
  const allStarted = Promise.allSettled(pipelines);
  const results = Object.fromEntries(
    entries.map(([name, scenario], i) => {
      const result = allStarted.then(async () =>
        driveScenario(scenario, await (pipelines[i] as Promise<FaultPipeline>), startedAtMs),
      );
      result.catch(() => undefined); // reported by the test that awaits it
      return [name, result];
    }),
  );
  return results as { [K in keyof S]: Promise<ScenarioResult<Awaited<ReturnType<S[K]['drive']>>>> };
}
