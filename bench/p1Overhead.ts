import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { UpdateItemCommand, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { Agent, request } from 'undici';
import { createHandler } from '../functions/kycert-worker/handler.js';
import type { WorkerDeps } from '../functions/kycert-worker/processRecord.js';
import { FLOW_CONTROL_KEY } from '../functions/kycert-worker/sharedFlowControl.js';
import { createLambdaContext } from '../local/aws/createLambdaContext.js';
import { type KycertSandbox, startKycertSandbox } from '../local/sandbox/index.js';
import { benchMessages, kycertPostFor } from './benchMessages.js';
import { createInMemoryAwsHandler } from './inMemoryAwsHandler.js';
import { median, ratio, withoutWarmUp } from './stats.js';
import { benchAwsClients, benchWorkerDeps } from './workerDeps.js';

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
 * body to the same sandbox through an Agent with the kycert client's settings. All variants run in every
 * round, in an order that rotates, so drift (GC, the sandbox's growing stores, the machine) lands on each
 * alike; a ratio is formed within a round and the median taken over rounds.
 */
export async function measureP1Overhead(options: P1Options): Promise<P1Result> {
  const sandbox = await startKycertSandbox({ rateLimitPerMinute: Number.MAX_SAFE_INTEGER });
  const slowSandbox = await startKycertSandbox({
    rateLimitPerMinute: Number.MAX_SAFE_INTEGER,
    faults: { latencyMs: options.slowLatencyMs },
  });
  const inMemory = createInMemoryAwsHandler();
  const inMemoryClients = () =>
    benchAwsClients({
      sqsEndpoint: 'http://sqs.in-memory.invalid',
      dynamodbEndpoint: 'http://dynamodb.in-memory.invalid',
      region: REGION,
      requestHandler: inMemory,
    });
  const infoDeps = benchWorkerDeps(workerEnv(sandbox), inMemoryClients());
  const warnDeps = benchWorkerDeps(workerEnv(sandbox), inMemoryClients());
  warnDeps.logger.setLogLevel('WARN');
  const slowDeps = benchWorkerDeps(workerEnv(slowSandbox), inMemoryClients());
  // send() itself stubbed on these client instances: no serialisation, signing or parsing at all.
  const stubbedClients = inMemoryClients();
  mockClient(stubbedClients.dynamodb)
    .on(UpdateItemCommand)
    .callsFake((input: UpdateItemCommandInput) =>
      input.Key?.idempotency_key?.S === FLOW_CONTROL_KEY
        ? // The shared schedule's reservation: a slot now (P1's rate limit spaces nothing).
          { Attributes: { tat_ms: { N: String(Date.now()) } } }
        : { Attributes: { attempts: { N: '1' }, first_attempt_at: { S: new Date().toISOString() } } },
    );
  mockClient(stubbedClients.sqs).resolves({});
  const stubbedDeps = benchWorkerDeps(workerEnv(sandbox), stubbedClients);
  const agent = new Agent({ connect: { timeout: 3_000 }, headersTimeout: 10_000, bodyTimeout: 10_000 });

  const variants: Record<string, Variant> = {
    bare: {
      label: 'bare POST',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => postBare(agent, sandbox, bodies, 1),
    },
    handler: {
      label: 'handler, 1 rec/event, INFO logs, SDK in memory',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(infoDeps, bodies, 1),
    },
    handlerWarn: {
      label: 'handler, 1 rec/event, WARN logs, SDK in memory',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(warnDeps, bodies, 1),
    },
    handlerStubbed: {
      label: 'handler, 1 rec/event, INFO logs, SDK send() stubbed',
      baseline: 'bare',
      messages: 'fast',
      run: (bodies) => throughHandler(stubbedDeps, bodies, 1),
    },
    bare10: {
      label: 'bare POST, 10 at a time',
      baseline: 'bare10',
      messages: 'fast',
      run: (bodies) => postBare(agent, sandbox, bodies, 10),
    },
    handler10: {
      label: 'handler, 10 rec/event, INFO logs, SDK in memory',
      baseline: 'bare10',
      messages: 'fast',
      run: (bodies) => throughHandler(infoDeps, bodies, 10),
    },
    bareSlow: {
      label: `bare POST, sandbox +${options.slowLatencyMs} ms`,
      baseline: 'bareSlow',
      messages: 'slow',
      run: (bodies) => postBare(agent, slowSandbox, bodies, 1),
    },
    handlerSlow: {
      label: `handler, 1 rec/event, INFO logs, sandbox +${options.slowLatencyMs} ms`,
      baseline: 'bareSlow',
      messages: 'slow',
      run: (bodies) => throughHandler(slowDeps, bodies, 1),
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
    await agent.close();
    for (const deps of [infoDeps, warnDeps, slowDeps, stubbedDeps]) {
      await (deps.kycert as { close?: () => Promise<void> }).close?.();
    }
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
      [...inMemory.calls].map(([operation, count]) => [operation, count / inMemoryMessages]),
    ),
  };
}

function workerEnv(sandbox: KycertSandbox): Record<string, string> {
  return {
    KYCERT_BASE_URL: sandbox.baseUrl,
    KYCERT_API_KEY: sandbox.apiKey,
    OUTCOME_TABLE_NAME: 'kycert-outcomes',
    QUEUE_URL,
    DEAD_LETTER_QUEUE_URL: `${QUEUE_URL}-dlq`,
    // The sandbox does not limit P1's POSTs; nor should the shared schedule space them (60 per minute by default).
    KYCERT_RATE_LIMIT_PER_MINUTE: '100000000',
  };
}

/** POSTs each message's kycert body under its key, `parallel` at a time; preparing the bodies is not timed. */
async function postBare(
  agent: Agent,
  sandbox: KycertSandbox,
  bodies: readonly string[],
  parallel: number,
): Promise<number> {
  const posts = bodies.map(kycertPostFor);
  const post = async ({ idempotencyKey, kycertBody }: (typeof posts)[number]) => {
    const response = await request(`${sandbox.baseUrl}/bureau/runs`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': 'kycert-queue-bench',
        'x-api-key': sandbox.apiKey,
        'idempotency-key': idempotencyKey,
      },
      body: kycertBody,
      dispatcher: agent,
    });
    await response.body.text();
    if (response.statusCode !== 202) throw new Error(`bare POST answered ${response.statusCode}`);
  };
  const startedAt = performance.now();
  for (let i = 0; i < posts.length; i += parallel) await Promise.all(posts.slice(i, i + parallel).map(post));
  return performance.now() - startedAt;
}

/** Invokes the real handler with `batchSize` records per event, one invocation after the other. */
async function throughHandler(
  deps: WorkerDeps,
  bodies: readonly string[],
  batchSize: number,
): Promise<number> {
  const handler = createHandler(() => deps);
  // The runtime builds the event and the context; the function's time starts when it is handed them.
  const invocations: { event: SQSEvent; context: Context }[] = [];
  for (let i = 0; i < bodies.length; i += batchSize) {
    invocations.push({
      event: { Records: bodies.slice(i, i + batchSize).map(toRecord) },
      context: createLambdaContext({
        functionName: 'kycert-worker',
        functionTimeoutSeconds: 60,
        region: REGION,
      }),
    });
  }
  const startedAt = performance.now();
  for (const { event, context } of invocations) {
    const response = await handler(event, context);
    if (response.batchItemFailures.length > 0) {
      throw new Error(`the handler failed ${response.batchItemFailures.length} record(s) in P1`);
    }
  }
  return performance.now() - startedAt;
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
