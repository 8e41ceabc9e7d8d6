import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../functions/kycert-worker/config.js';
import { createWorkerDeps } from '../../functions/kycert-worker/createWorkerDeps.js';
import type { WorkerDeps } from '../../functions/kycert-worker/processRecord.js';
import { LOCAL_CREDENTIALS } from '../../local/aws/createLocalClients.js';
import {
  type LocalPipeline,
  type LocalPipelineOptions,
  rateLimitEnv,
  startLocalPipeline,
} from '../../local/pipeline/startLocalPipeline.js';
import {
  type KycertSandbox,
  type KycertSandboxOptions,
  startKycertSandbox,
} from '../../local/sandbox/index.js';
import { checkInvariants, type InvariantViolation, type RunEvidence } from './invariants.js';

export interface FaultPipelineOptions
  extends Omit<LocalPipelineOptions, 'kycert' | 'sandbox' | 'sqsPort' | 'dynamodbPort' | 'workerOverrides'> {
  sandbox?: KycertSandboxOptions;
  /**
   * Replace or wrap parts of the worker. `deps` already talks to this pipeline's own emulators; `sandbox` is
   * this pipeline's kycert (running by then, so a fault script may reach it).
   */
  workerOverrides?: (deps: WorkerDeps, sandbox: KycertSandbox) => Partial<WorkerDeps>;
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
 * scenarios run side by side in one test process.
 *
 * startLocalPipeline configures the worker through `process.env`, as Lambda does, and the AWS SDK reads its
 * endpoint from there lazily, at the first request: two pipelines in one process would send each other's
 * DynamoDB and SQS calls to whichever emulators were started last. So the worker's AWS parts are rebuilt
 * here on clients pinned to this pipeline's endpoints, read from the environment at the one moment it is
 * this pipeline's (startLocalPipeline calls `workerOverrides` synchronously after setting it).
 */
export async function startFaultPipeline(options: FaultPipelineOptions = {}): Promise<FaultPipeline> {
  const { sandbox: sandboxOptions, workerOverrides, ...pipelineOptions } = options;
  const sandbox = await startKycertSandbox({ port: 0, ...sandboxOptions });
  const toClose: Array<() => Promise<void> | void> = [() => sandbox.close()];
  const maxAttempts = options.maxAttempts ?? 4;
  let pipeline: LocalPipeline;
  try {
    pipeline = await startLocalPipeline({
      logLevel: 'SILENT',
      ...pipelineOptions,
      maxAttempts,
      sqsPort: 0,
      dynamodbPort: 0,
      kycert: { baseUrl: sandbox.baseUrl, apiKey: sandbox.apiKey },
      workerEnv: { ...rateLimitEnv(sandbox), ...pipelineOptions.workerEnv },
      workerOverrides: (deps) => {
        const pinned = pinnedAwsParts(toClose);
        const overrides = workerOverrides?.({ ...deps, ...pinned }, sandbox) ?? {};
        const kycert = overrides.kycert as { close?: () => Promise<void> } | undefined;
        if (kycert?.close !== undefined) toClose.push(() => kycert.close?.());
        return { ...pinned, ...overrides };
      },
    });
  } catch (error) {
    for (const close of toClose.reverse()) await close();
    throw error;
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
      for (const close of toClose.reverse()) await close();
    },
  };
}

/**
 * The worker's AWS parts (outcome store, DLQ, visibility, shared flow control), on clients bound to the
 * endpoints in `process.env` now.
 */
function pinnedAwsParts(
  toClose: Array<() => Promise<void> | void>,
): Pick<WorkerDeps, 'outcomeStore' | 'deadLetterQueue' | 'visibility' | 'flowControl'> {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const sqs = new SQSClient({
    endpoint: process.env.AWS_ENDPOINT_URL_SQS,
    region,
    credentials: LOCAL_CREDENTIALS,
    useQueueUrlAsEndpoint: false,
  });
  const dynamodb = new DynamoDBClient({
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
    region,
    credentials: LOCAL_CREDENTIALS,
  });
  toClose.push(() => {
    sqs.destroy();
    dynamodb.destroy();
  });
  const { outcomeStore, deadLetterQueue, visibility, flowControl, kycert } = createWorkerDeps(
    loadConfig(process.env),
    {},
    { sqs, dynamodb },
  );
  toClose.push(() => (kycert as { close?: () => Promise<void> }).close?.());
  return { outcomeStore, deadLetterQueue, visibility, flowControl };
}
