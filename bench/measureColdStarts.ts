import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { type LocalAws, startLocalAws } from '../local/aws/startLocalAws.js';
import { toSqsRecord } from '../local/aws/toSqsRecord.js';
import { startKycertSandbox } from '../local/sandbox/index.js';
import { benchMessage } from './benchMessages.js';
import { median, ratio, withoutWarmUp } from './stats.js';

const execFileAsync = promisify(execFile);
const PROBE = fileURLToPath(new URL('./p4ColdStartProbe.mjs', import.meta.url));

export interface ColdStartOptions {
  /** Fresh processes per bundle; the bundles take turns, the first to go rotating per round. First round excluded. */
  rounds: number;
  /** Invocations after the first in each process, one record each. */
  warmInvocations: number;
}

export interface ColdStartBundle {
  label: string;
  /** `index.mjs`, its source map beside it. */
  path: string;
}

/** One fresh process: its init, its first invocation, and what its X-Ray subsegments were. */
export interface ColdStartSample {
  initMs: number;
  firstInvocationMs: number;
  /** CPU time of the process (all its threads) during the init and during the first invocation. */
  initCpuMs: number;
  firstInvocationCpuMs: number;
  /** `POST /bureau/runs` to response headers, within the first invocation. */
  firstPostMs: number;
  /** Median of the warm invocations. */
  warmInvocationMs: number;
  warmCpuMs: number;
  /** Subsegments the X-Ray daemon address received for the first invocation's trace, by name. */
  firstTraceSubsegments: Record<string, number>;
}

export interface ColdStartSummary {
  label: string;
  initMs: number;
  firstInvocationMs: number;
  firstPostMs: number;
  /** Init plus the first POST (COLD_START_METRICS). */
  initPlusFirstPostMs: number;
  /** Init plus the whole first invocation: what a message that meets a cold start waits for here. */
  initPlusFirstInvocationMs: number;
  /** Its CPU time: less sensitive than wall time to a busy machine. */
  initPlusFirstInvocationCpuMs: number;
  warmInvocationMs: number;
  warmCpuMs: number;
  /** From the last round. */
  firstTraceSubsegments: Record<string, number>;
  /** Every round's, the first (excluded from the medians) included. */
  samples: ColdStartSample[];
}

export interface ColdStartRun {
  /** In the order given. */
  bundles: ColdStartSummary[];
}

/**
 * What a ratio is formed of. The headline is issue 14's: init plus the first POST (undici compiles its HTTP
 * parser on the first connection, so init alone would miss part of what undici costs). Init plus the whole first
 * invocation adds what the first message does besides that POST: configuration, the worker's dependencies, the
 * first AWS calls (against the emulators here).
 */
export const COLD_START_METRICS = {
  initPlusFirstPost: (sample: ColdStartSample) => sample.initMs + sample.firstPostMs,
  initPlusFirstInvocation: (sample: ColdStartSample) => sample.initMs + sample.firstInvocationMs,
  initPlusFirstInvocationCpu: (sample: ColdStartSample) => sample.initCpuMs + sample.firstInvocationCpuMs,
  init: (sample: ColdStartSample) => sample.initMs,
  initCpu: (sample: ColdStartSample) => sample.initCpuMs,
} as const;

/**
 * `a ÷ b` per round, for samples taken in the same rounds, then the median; the first round (a cold page
 * cache) is left out. Each round's two processes ran one after the other, so a busy spell on the machine
 * weighs on both sides of a ratio.
 */
export function medianRoundRatio(
  a: readonly ColdStartSample[],
  b: readonly ColdStartSample[],
  metric: keyof typeof COLD_START_METRICS,
): number {
  if (a.length !== b.length) throw new RangeError(`${a.length} rounds against ${b.length}`);
  const of = COLD_START_METRICS[metric];
  return median(
    withoutWarmUp(
      a.map((sample, round) => ratio(of(sample), of(b[round] as ColdStartSample))),
      1,
    ),
  );
}

/** Everything the function's environment gets beyond the bench's own values: Lambda's variables. */
export interface ColdStartEnvironment {
  /** The function's literal environment variables from the synthesized template (NODE_OPTIONS included). */
  functionEnvironment: Record<string, string>;
  functionName: string;
  memorySizeMb: number;
  timeoutSeconds: number;
}

/**
 * Cold starts of each bundle, side by side: a kycert sandbox and the AWS emulators (in this process) on
 * loopback, then per round and per bundle a fresh Node process (`p4ColdStartProbe.mjs`) that imports the
 * bundle and invokes its handler with real SQS records, one per invocation. The process gets the function's
 * environment as deployed (NODE_OPTIONS included) with the local endpoints, and Lambda's own variables, the
 * X-Ray daemon address among them: a UDP socket here receives the segments the function sends.
 */
export async function measureColdStarts(
  bundles: readonly ColdStartBundle[],
  environment: ColdStartEnvironment,
  options: ColdStartOptions,
): Promise<ColdStartRun> {
  if (bundles.length === 0) throw new RangeError('no bundle to measure');
  // No 429: the probes measure a cold start, not the rate limit.
  const sandbox = await startKycertSandbox({ rateLimitPerMinute: 1_000_000 });
  // The emulators in this process: each probe is a process of its own, timed inside itself.
  const aws = await startLocalAws({ visibilityTimeoutSeconds: 300 });
  const xray = createSocket('udp4');
  const datagrams: string[] = [];
  xray.on('message', (message) => datagrams.push(message.toString('utf8')));
  await new Promise<void>((resolve) => xray.bind(0, '127.0.0.1', resolve));
  try {
    const { Attributes } = await aws.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: aws.queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const eventSource = { eventSourceArn: Attributes?.QueueArn ?? '', awsRegion: aws.region };
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      ...environment.functionEnvironment,
      ...aws.env,
      KYCERT_BASE_URL: sandbox.baseUrl,
      KYCERT_API_KEY: sandbox.apiKey,
      // The shared schedule would space the probes' POSTs a second apart (60 per minute by default).
      KYCERT_RATE_LIMIT_PER_MINUTE: '1000000',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_LAMBDA_FUNCTION_NAME: environment.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(environment.memorySizeMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${(xray.address() as AddressInfo).port}`,
      AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
      TZ: ':UTC',
    };
    const samples = bundles.map((): ColdStartSample[] => []);
    for (let round = 0; round < options.rounds; round++) {
      for (let turn = 0; turn < bundles.length; turn++) {
        const index = (round + turn) % bundles.length;
        const bundle = bundles[index] as ColdStartBundle;
        const messages = await receiveMessages(aws, `p4-${round}-${index}`, 1 + options.warmInvocations);
        datagrams.length = 0;
        const probe = await runProbe(
          bundle,
          { ...env, LAMBDA_TASK_ROOT: dirname(bundle.path) },
          {
            records: messages.map((message) => toSqsRecord(message, eventSource)),
            functionName: environment.functionName,
            memorySizeMb: environment.memorySizeMb,
            timeoutSeconds: environment.timeoutSeconds,
          },
        );
        // As the event source mapping does with the records of a successful batch.
        for (let start = 0; start < messages.length; start += 10) {
          await aws.clients.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: aws.queueUrl,
              Entries: messages
                .slice(start, start + 10)
                .map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
            }),
          );
        }
        (samples[index] as ColdStartSample[]).push(toSample(probe, datagrams));
      }
    }
    return {
      bundles: bundles.map((bundle, index) => {
        const all = samples[index] as ColdStartSample[];
        const own = withoutWarmUp(all, 1);
        const medianOf = (metric: (sample: ColdStartSample) => number) => median(own.map(metric));
        return {
          label: bundle.label,
          initMs: medianOf((sample) => sample.initMs),
          firstInvocationMs: medianOf((sample) => sample.firstInvocationMs),
          firstPostMs: medianOf((sample) => sample.firstPostMs),
          initPlusFirstPostMs: medianOf(COLD_START_METRICS.initPlusFirstPost),
          initPlusFirstInvocationMs: medianOf(COLD_START_METRICS.initPlusFirstInvocation),
          initPlusFirstInvocationCpuMs: medianOf(COLD_START_METRICS.initPlusFirstInvocationCpu),
          warmInvocationMs: medianOf((sample) => sample.warmInvocationMs),
          warmCpuMs: medianOf((sample) => sample.warmCpuMs),
          firstTraceSubsegments: own.at(-1)?.firstTraceSubsegments ?? {},
          samples: all,
        };
      }),
    };
  } finally {
    xray.close();
    await aws.stop();
    await sandbox.close();
  }
}

interface ProbeOutput {
  initMs: number;
  initCpuMs: number;
  invocations: { ms: number; cpuMs: number; failedRecords: number; traceId: string }[];
  postMs: number[];
}

async function runProbe(
  bundle: ColdStartBundle,
  env: Record<string, string>,
  input: { records: SQSRecord[]; functionName: string; memorySizeMb: number; timeoutSeconds: number },
): Promise<ProbeOutput> {
  const { stdout } = await execFileAsync(process.execPath, [PROBE, bundle.path, JSON.stringify(input)], {
    cwd: dirname(bundle.path),
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = stdout
    .split('\n')
    .findLast((text) => text.startsWith('P4PROBE '))
    ?.slice('P4PROBE '.length);
  if (line === undefined)
    throw new Error(`the ${bundle.label} probe printed no result:\n${stdout.slice(-2000)}`);
  const output = JSON.parse(line) as ProbeOutput;
  const failed = output.invocations.filter((invocation) => invocation.failedRecords !== 0);
  if (failed.length > 0 || output.postMs.length !== input.records.length) {
    throw new Error(
      `the ${bundle.label} bundle did not process every record at once (${failed.length} invocations with failures, ` +
        `${output.postMs.length} POSTs for ${input.records.length} records):\n${stdout.slice(-4000)}`,
    );
  }
  return output;
}

function toSample(probe: ProbeOutput, datagrams: readonly string[]): ColdStartSample {
  const [first, ...warm] = probe.invocations;
  if (first === undefined) throw new Error('the probe made no invocation');
  return {
    initMs: probe.initMs,
    firstInvocationMs: first.ms,
    initCpuMs: probe.initCpuMs,
    firstInvocationCpuMs: first.cpuMs,
    firstPostMs: probe.postMs[0] ?? Number.NaN,
    warmInvocationMs: warm.length > 0 ? median(warm.map((invocation) => invocation.ms)) : Number.NaN,
    warmCpuMs: warm.length > 0 ? median(warm.map((invocation) => invocation.cpuMs)) : Number.NaN,
    firstTraceSubsegments: subsegmentNames(datagrams, first.traceId),
  };
}

/** X-Ray daemon datagrams: a JSON header line, then the (sub)segment document. */
export function subsegmentNames(datagrams: readonly string[], traceId: string): Record<string, number> {
  const names: Record<string, number> = {};
  const count = (document: XRayDocument) => {
    const operation = document.aws?.operation;
    const name = operation === undefined ? document.name : `${document.name} ${operation}`;
    names[name] = (names[name] ?? 0) + 1;
    for (const child of document.subsegments ?? []) count(child);
  };
  for (const datagram of datagrams) {
    const body = datagram.slice(datagram.indexOf('\n') + 1);
    let document: XRayDocument;
    try {
      document = JSON.parse(body) as XRayDocument;
    } catch {
      continue;
    }
    if (document.trace_id === traceId) count(document);
  }
  return names;
}

interface XRayDocument {
  name: string;
  trace_id?: string;
  aws?: { operation?: string };
  subsegments?: XRayDocument[];
}

/** Fresh messages on the queue, received as the event source mapping receives them (all attributes). */
async function receiveMessages(aws: LocalAws, prefix: string, count: number): Promise<Message[]> {
  const bodies = Array.from({ length: count }, (_, i) => benchMessage(`${prefix}-${i}`));
  for (let start = 0; start < bodies.length; start += 10) {
    await aws.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: aws.queueUrl,
        Entries: bodies.slice(start, start + 10).map((body, i) => ({ Id: String(i), MessageBody: body })),
      }),
    );
  }
  const received: Message[] = [];
  while (received.length < count) {
    const { Messages = [] } = await aws.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: aws.queueUrl,
        MaxNumberOfMessages: Math.min(10, count - received.length),
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    received.push(...Messages);
  }
  return received;
}
