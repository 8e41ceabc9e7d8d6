import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { SQSRecord } from 'aws-lambda';
import { createLambdaContext } from '../local/aws/createLambdaContext.js';
import {
  type ExecutionEnvironments,
  startExecutionEnvironments,
} from '../local/lambda/startExecutionEnvironments.js';
import { workerPlugin } from '../local/lambda/WorkerPlugin.js';
import { type KycertSandbox, startKycertSandbox } from '../local/sandbox/index.js';
import { benchMessages, kycertPostFor } from './benchMessages.js';
import type { InMemoryCallsEvent } from './plugins/answerAwsInMemory.js';
import { median, ratio, withoutWarmUp } from './stats.js';

export interface P1Options {
  /** Messages per variant per round. */
  messagesPerRound: number;
  /** Messages per round for the variants against the sandbox with added latency (each costs its latency). */
  slowMessagesPerRound: number;
  /** Latency added by the second sandbox, to show the ratio against a kycert that takes time to answer. */
  slowLatencyMs: number;
  /** Rounds, warm-up included. */
  rounds: number;
  warmUpRounds: number;
}

export interface P1Row {
  label: string;
  /** Median over the measured rounds of the round's mean time per message. */
  msPerMessage: number;
  baselineLabel: string;
  baselineMsPerMessage: number;
  /** Median over the measured rounds of (this variant / its baseline in the same round). */
  ratio: number;
}

export interface P1Result {
  /** The target's row: one record per event, INFO logs as deployed, the whole SDK stack answered in memory. */
  headline: P1Row;
  rows: P1Row[];
  measuredRounds: number;
  /** AWS operations per message the handler sent (in-memory variants). */
  awsCallsPerMessage: Record<string, number>;
}

const REGION = 'sa-east-1';
const BARE_POST_HANDLER = {
  module: fileURLToPath(new URL('./barePostHandler.ts', import.meta.url)),
  export: 'handler',
};
const QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/123456789012/kycert-requests`;

interface Variant {
  label: string;
  /** The variant this one is divided by, round by round; a baseline names itself. */
  baseline: string;
  messages: 'fast' | 'slow';
  /** Runs the messages and returns the elapsed milliseconds of the measured part. */
  run(bodies: readonly string[]): Promise<number>;
}

/**
 * P1: time per message through the real handler (Powertools batch processing, schema, throttle, outcome store,
 * policy, kycert client, logs and metrics) with AWS answered in memory, against a bare undici POST of the same
 * body to the same sandbox through an Agent with the kycert client's settings (barePostHandler.ts). Every
 * variant runs in an execution environment of its own (a process, as in Lambda) and is timed there, as the
 * runtime times an invocation; the sandbox is in this process, so every POST crosses between processes.
 * All variants run in every
 * round, in an order that rotates, so drift (GC, the sandbox's growing stores, the machine) lands on each
 * alike; a ratio is formed within a round and the median taken over rounds.
 */
export async function measureP1Overhead(options: P1Options): Promise<P1Result> {
  const sandbox = await startKycertSandbox({ rateLimitPerMinute: Number.MAX_SAFE_INTEGER });
  const slowSandbox = await startKycertSandbox({
    rateLimitPerMinute: Number.MAX_SAFE_INTEGER,
    faults: { latencyMs: options.slowLatencyMs },
  });
  // The worker as deployed (INFO logs, EMF metrics), and the bare POST, each in an execution environment of
  // its own: every side's POSTs cross from a process to the sandbox's, as they cross the network in AWS.
  const operations = new Map<string, number>();
  const environment = (
    sandbox: KycertSandbox,
    mode: 'inMemory' | 'stubbedSend' | 'barePost',
    logLevel = 'INFO',
  ) =>
    startExecutionEnvironments({
      count: 1,
      env: workerEnv(sandbox, logLevel),
      region: REGION,
      output: 'ignore',
      ...(mode === 'barePost'
        ? { handler: BARE_POST_HANDLER }
        : {
            plugins: [
              workerPlugin<typeof import('./plugins/answerAwsInMemory.js').default>(
                new URL('./plugins/answerAwsInMemory.ts', import.meta.url),
                { mode },
              ),
            ],
          }),
      onEvent: (event) => {
        if (event.type !== 'pluginEvent') return;
        for (const [operation, count] of Object.entries((event.data as InMemoryCallsEvent).operations)) {
          operations.set(operation, (operations.get(operation) ?? 0) + count);
        }
      },
    });
  const [info, warn, slow, stubbed, bare, bareSlow] = await Promise.all([
    environment(sandbox, 'inMemory'),
    environment(sandbox, 'inMemory', 'WARN'),
    environment(slowSandbox, 'inMemory'),
    environment(sandbox, 'stubbedSend'),
    environment(sandbox, 'barePost'),
    environment(slowSandbox, 'barePost'),
  ]);
  const environments = [info, warn, slow, stubbed, bare, bareSlow];
  // Preparing the bare POSTs' bodies (the worker's parsing and key derivation) is not the bare call's time.
  const prepared = (bodies: readonly string[]) => bodies.map((body) => JSON.stringify(kycertPostFor(body)));

  const variants: Record<string, Variant> = {
    bare: {
      label: 'bare POST',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(bare, prepared(bodies), 1),
    },
    handler: {
      label: 'handler, 1 rec/event, INFO logs, SDK in memory',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(info, bodies, 1),
    },
    handlerWarn: {
      label: 'handler, 1 rec/event, WARN logs, SDK in memory',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(warn, bodies, 1),
    },
    handlerStubbed: {
      label: 'handler, 1 rec/event, INFO logs, SDK send() stubbed',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(stubbed, bodies, 1),
    },
    bare10: {
      label: 'bare POST, 10 at a time',
      baseline: 'bare10',
      messages: 'fast',
      run: (bodies) => throughHandler(bare, prepared(bodies), 10),
    },
    handler10: {
      label: 'handler, 10 rec/event, INFO logs, SDK in memory',
      baseline: 'bare10',
      messages: 'fast',
      run: (bodies) => throughHandler(info, bodies, 10),
    },
    bareSlow: {
      label: `bare POST, sandbox +${options.slowLatencyMs} ms`,
      baseline: 'bareSlow',
      messages: 'slow',
      run: (bodies) => throughHandler(bareSlow, prepared(bodies), 1),
    },
    handlerSlow: {
      label: `handler, 1 rec/event, INFO logs, sandbox +${options.slowLatencyMs} ms`,
      baseline: 'bareSlow',
      messages: 'slow',
      run: (bodies) => throughHandler(slow, bodies, 1),
    },
  };

  const names = Object.keys(variants);
  const perRound = new Map<string, number[]>(names.map((name) => [name, []]));
  try {
    for (let round = 0; round < options.rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length] as string);
      for (const name of order) {
        const variant = variants[name] as Variant;
        const count = variant.messages === 'fast' ? options.messagesPerRound : options.slowMessagesPerRound;
        const elapsedMs = await variant.run(benchMessages(`p1-r${round}-${name}`, count));
        perRound.get(name)?.push(elapsedMs / count);
      }
    }
  } finally {
    await Promise.all(environments.map((each) => each.stop()));
    await sandbox.close();
    await slowSandbox.close();
  }

  const measured = (name: string) => withoutWarmUp(perRound.get(name) ?? [], options.warmUpRounds);
  const rows = names
    .filter((name) => variants[name]?.baseline !== name)
    .map((name): P1Row => {
      const baseline = variants[name]?.baseline as string;
      const own = measured(name);
      const base = measured(baseline);
      return {
        label: variants[name]?.label as string,
        msPerMessage: median(own),
        baselineLabel: variants[baseline]?.label as string,
        baselineMsPerMessage: median(base),
        ratio: median(own.map((value, i) => ratio(value, base[i] as number))),
      };
    });
  // handler, handlerWarn and handler10 at the fast count, handlerSlow at the slow one.
  const inMemoryMessages = options.rounds * (3 * options.messagesPerRound + options.slowMessagesPerRound);
  return {
    headline: rows[0] as P1Row,
    rows,
    measuredRounds: options.rounds - options.warmUpRounds,
    awsCallsPerMessage: Object.fromEntries(
      [...operations].map(([operation, count]) => [operation, count / inMemoryMessages]),
    ),
  };
}

/** The function's configuration; no AWS endpoint, since the plugin answers every AWS call in memory. */
function workerEnv(sandbox: KycertSandbox, logLevel: string): Record<string, string> {
  return {
    KYCERT_BASE_URL: sandbox.baseUrl,
    KYCERT_API_KEY: sandbox.apiKey,
    OUTCOME_TABLE_NAME: 'kycert-outcomes',
    QUEUE_URL,
    DEAD_LETTER_QUEUE_URL: `${QUEUE_URL}-dlq`,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    POWERTOOLS_SERVICE_NAME: 'kycert-queue',
    POWERTOOLS_LOG_LEVEL: logLevel,
  };
}

/**
 * Invokes the real handler in `environment` with `batchSize` records per event, one invocation after the
 * other; returns the sum of the invocations' durations as the environment measured them (the runtime's
 * hand-over of the event, IPC here, is not the function's time).
 */
async function throughHandler(
  environment: ExecutionEnvironments,
  bodies: readonly string[],
  batchSize: number,
): Promise<number> {
  let elapsedMs = 0;
  for (let i = 0; i < bodies.length; i += batchSize) {
    const reserved = await environment.reserve(new AbortController().signal);
    if (reserved === undefined) throw new Error('P1: the environment was stopped');
    const result = await reserved.invoke(
      { Records: bodies.slice(i, i + batchSize).map(toRecord) },
      createLambdaContext({ functionName: 'kycert-worker', functionTimeoutSeconds: 60, region: REGION }),
      60_000,
    );
    if (result.kind !== 'returned' || result.functionDurationMs === undefined) {
      throw new Error(
        `P1: the handler ${result.kind === 'threw' ? `threw ${String(result.error)}` : result.kind}`,
      );
    }
    const failures = (result.response as { batchItemFailures?: unknown[] } | null)?.batchItemFailures ?? [];
    if (failures.length > 0) throw new Error(`the handler failed ${failures.length} record(s) in P1`);
    elapsedMs += result.functionDurationMs;
  }
  return elapsedMs;
}

function toRecord(body: string): SQSRecord {
  const messageId = randomUUID();
  const nowMs = String(Date.now());
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: nowMs,
      SenderId: 'AIDABENCH',
      ApproximateFirstReceiveTimestamp: nowMs,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${REGION}:123456789012:kycert-requests`,
    awsRegion: REGION,
  };
}
