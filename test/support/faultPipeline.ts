import {
  type LocalPipeline,
  type LocalPipelineOptions,
  startLocalPipeline,
} from '../../local/pipeline/startLocalPipeline.js';
import type { KycertSandbox, KycertSandboxOptions } from '../../local/sandbox/index.js';
import { checkInvariants, type InvariantViolation, type RunEvidence } from './invariants.js';

/**
 * Execution environments per fault pipeline unless a scenario says otherwise: several, so that copies of a
 * request race from separate processes and each environment keeps its own clients and module state, as in
 * Lambda.
 */
export const FAULT_SUITE_ENVIRONMENTS = 3;

/**
 * For scenarios whose messages never meet, no copy of a request running beside another, where what is
 * checked is what kycert's answer or the input does to one delivery at a time: one execution environment
 * (invocations in flight: min(concurrency, 1)). More would check nothing more, and each costs a process and
 * its cold start (about 0.35 s of CPU and 100 MB), of which the suite starts dozens at once on two cores.
 */
export const SINGLE_ENVIRONMENT = { environments: 1 } as const;

/**
 * The fault suite runs dozens of environments beside its emulators in one process; niced, they cannot
 * starve the emulators that answer them (which would time their invocations out for reasons of this
 * machine, not of the scenario). Measured with two CPU-bound processes beside the suite on two cores:
 * 12 of 89 tests failed at niceness 10, 52 at 0 (and 38 before the environments, all in one process).
 */
const FAULT_SUITE_NICENESS = 10;

export interface FaultPipelineOptions
  extends Omit<LocalPipelineOptions, 'kycert' | 'sandbox' | 'sqsPort' | 'dynamodbPort'> {
  sandbox?: KycertSandboxOptions;
}

export interface FaultPipeline {
  readonly pipeline: LocalPipeline;
  readonly sandbox: KycertSandbox;
  /** Every body enqueued so far, in order, duplicates included. */
  readonly sent: readonly string[];
  enqueue(bodies: readonly string[]): Promise<string[]>;
  /** Waits until the main queue is empty and nothing runs; throws when it is not by `timeoutMs`. */
  settle(timeoutMs?: number): Promise<void>;
  /** The report, kycert's stats and what is left on the queue. */
  evidence(options?: Pick<RunEvidence, 'decisionsMayBeLost'>): Promise<RunEvidence>;
  violations(options?: Pick<RunEvidence, 'decisionsMayBeLost'>): Promise<InvariantViolation[]>;
  stop(): Promise<void>;
}

/**
 * A local pipeline for one fault scenario, all on loopback with ports chosen by the system, so that several
 * scenarios run side by side in one test process. The worker runs in execution environments of its own
 * (`FAULT_SUITE_ENVIRONMENTS` by default), configured through their own process environments; faults are
 * injected there by worker plugins (test/support/plugins), which report back what they did.
 */
export async function startFaultPipeline(options: FaultPipelineOptions = {}): Promise<FaultPipeline> {
  const { sandbox: sandboxOptions, ...pipelineOptions } = options;
  const maxAttempts = options.maxAttempts ?? 4;
  // The pipeline starts the sandbox: it tells the worker the sandbox's rate, and the sandbox where the
  // webhook receiver listens.
  const pipeline = await startLocalPipeline({
    logLevel: 'SILENT',
    environments: FAULT_SUITE_ENVIRONMENTS,
    environmentNiceness: FAULT_SUITE_NICENESS,
    ...pipelineOptions,
    maxAttempts,
    sqsPort: 0,
    dynamodbPort: 0,
    sandbox: { port: 0, ...sandboxOptions },
  });
  const sandbox = pipeline.sandbox;
  if (sandbox === undefined) {
    await pipeline.stop();
    throw new Error('the fault pipeline always runs the kycert sandbox');
  }
  const sent: string[] = [];
  const evidence = async (extra: Pick<RunEvidence, 'decisionsMayBeLost'> = {}): Promise<RunEvidence> => {
    const [report, snapshot] = await Promise.all([pipeline.report(), pipeline.snapshot()]);
    return {
      sent,
      report,
      sandboxStats: sandbox.stats(),
      maxAttempts,
      pendingMessages: snapshot.pending,
      ...extra,
    };
  };
  return {
    pipeline,
    sandbox,
    sent,
    async enqueue(bodies) {
      sent.push(...bodies);
      return pipeline.enqueue(bodies);
    },
    // Generous: on a cold, loaded 2-core CI machine a whole batch may time out and wait out its visibility.
    async settle(timeoutMs = 75_000) {
      if (!(await pipeline.waitUntilSettled({ timeoutMs, pollMs: 100 }))) {
        const snapshot = await pipeline.snapshot();
        throw new Error(`not settled after ${timeoutMs} ms: ${JSON.stringify(snapshot)}`);
      }
    },
    evidence,
    violations: async (extra) => checkInvariants(await evidence(extra)),
    async stop() {
      await pipeline.stop();
    },
  };
}
