import { type AttributeValue, paginateScan } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DeadLetterAttribute } from '../../functions/kycert-worker/deadLetterQueue.js';
import type { EventSourcePollerEvent } from '../aws/EventSourcePollerEvent.js';
import { peekQueue } from '../aws/peekQueue.js';
import { type EventBridgeEmulator, startEventBridgeEmulator } from '../aws/startEventBridgeEmulator.js';
import { type EventSourcePoller, startEventSourcePoller } from '../aws/startEventSourcePoller.js';
import { type LocalAws, startLocalAws } from '../aws/startLocalAws.js';
import type { HandlerLocation } from '../lambda/executionEnvironmentProtocol.js';
import type { JumpingClock } from '../lambda/JumpingClock.js';
import {
  type ExecutionEnvironmentEvent,
  type ExecutionEnvironments,
  startExecutionEnvironments,
} from '../lambda/startExecutionEnvironments.js';
import type { WorkerPluginSpec } from '../lambda/WorkerPlugin.js';
import { type KycertSandbox, type KycertSandboxOptions, startKycertSandbox } from '../sandbox/index.js';
import { type LocalWebhookReceiver, startWebhookReceiver } from './startWebhookReceiver.js';

/** The webhook signing secret the sandbox signs with and the local receiver checks, as kycert issues one. */
export const LOCAL_WEBHOOK_SECRET = 'whsec_sandbox_local';

/**
 * The whole product on one machine: a kycert sandbox (or a real kycert), SQS and DynamoDB emulators, the
 * event-source poller, and the worker's own handler running in execution environments that are processes of
 * their own, each configured through its environment exactly as Lambda configures it. `npm start`, the
 * end-to-end tests, the fault suite, the chaos runner and the benchmarks drive it.
 */
export interface LocalPipelineOptions {
  /** Call this kycert instead of starting the sandbox. */
  kycert?: { baseUrl: string; apiKey: string } | undefined;
  sandbox?: KycertSandboxOptions;
  sqsPort?: number;
  dynamodbPort?: number;
  /** Concurrent invocations (the event source's maximum concurrency). @default 2 */
  concurrency?: number;
  /**
   * The worker's execution environments, each an OS process running one invocation at a time: invocations
   * in flight never exceed min(concurrency, environments). @default 1
   */
  environments?: number;
  /** @default 10 */
  batchSize?: number;
  /** @default 30 s */
  functionTimeoutSeconds?: number;
  /** The queue's visibility timeout: when a record whose invocation failed comes back. @default 6 × the function timeout, as deployed */
  visibilityTimeoutSeconds?: number;
  /** @default 4 (short, so a local run ends quickly) */
  maxAttempts?: number;
  /** The main queue's redrive `maxReceiveCount`. @default as deployed (startLocalAws's default) */
  maxReceiveCount?: number;
  /** @default 1 s */
  backoffBaseSeconds?: number;
  /** @default 4 s */
  backoffMaxSeconds?: number;
  /** @default 5000 ms */
  httpTimeoutMs?: number;
  /** Powertools log level of the worker. @default 'ERROR' (the progress display speaks for it) */
  logLevel?: string;
  /**
   * Follow every accepted run to its decision: a status checks queue and a second event source into the same
   * environments, as deployed. The pipeline is settled only once every followed run is decided. @default false
   */
  followRuns?: boolean;
  /**
   * kycert sends webhooks: the webhook receiver (its own handler, in an execution environment of its own)
   * behind a Function URL stand-in, the sandbox POSTing its signed webhooks there, the worker told so.
   * Implies `followRuns`. @default false
   */
  webhooks?: boolean;
  /** Extra worker environment (e.g. KYCERT_THROTTLE_THRESHOLD); it wins over the pipeline's own settings. */
  workerEnv?: Record<string, string>;
  /** The function behind the queue. @default the worker's `handler` export */
  handler?: HandlerLocation;
  /** Imported by every execution environment to change the worker there (faults, probes); see WorkerPlugin.ts. */
  plugins?: readonly WorkerPluginSpec[];
  /** A clock the plugins share with this process (give the same one to the sandbox). */
  clock?: JumpingClock;
  /** Where the worker's stdout (its logs and metrics) goes. @default 'inherit' */
  workerOutput?: 'inherit' | 'ignore';
  /** CPU niceness of the environments (see ExecutionEnvironmentsOptions.niceness). @default 0 */
  environmentNiceness?: number;
  onPollerEvent?: (event: EventSourcePollerEvent) => void;
  /** Environments started, killed, replaced, and what plugins report. */
  onEnvironmentEvent?: (event: ExecutionEnvironmentEvent) => void;
}

export interface PipelineSnapshot {
  enqueued: number;
  /** Messages still on the main queue: waiting, in flight or waiting out a retry delay. */
  pending: number;
  /** Runs still followed (status checks on their queue); 0 when runs are not followed. */
  statusChecksPending: number;
  deadLettered: number;
  invocationsInFlight: number;
}

export interface OutcomeReport {
  idempotency_key: string;
  status: string;
  attempts: number | null;
  http_status: number | null;
  run_id: string | null;
  error_code: string | null;
  external_id: string | null;
  template_id: string | null;
  dead_letter_reason: string | null;
  replayed: boolean | null;
  first_attempt_at: string | null;
  updated_at: string | null;
  /** kycert's run, once followed: `queued`, a terminal status, or `decision_overdue`. */
  run_status: string | null;
  decision: string | null;
  risk_band: string | null;
  decided_at: string | null;
  /** `status_check` or `webhook`: how the decision was learnt. */
  decision_source: string | null;
  status_checks: number | null;
}

export interface DeadLetterReport {
  body: string;
  reason: string;
  detail: string | null;
  idempotency_key: string | null;
  source_message_id: string | null;
}

export interface PipelineReport {
  outcomes: OutcomeReport[];
  dlq: DeadLetterReport[];
  /** The decision events published (the EventBridge emulator's), when runs are followed; else empty. */
  decisionEvents: DecisionEventReport[];
}

export interface DecisionEventReport {
  source: string;
  detail_type: string;
  time: string;
  detail: unknown;
}

export interface LocalPipeline {
  readonly aws: LocalAws;
  /** Absent when a real kycert is used. */
  readonly sandbox: KycertSandbox | undefined;
  readonly kycertBaseUrl: string;
  readonly workerEnv: Readonly<Record<string, string>>;
  readonly poller: EventSourcePoller;
  /** The status checks' event source, with `followRuns`. */
  readonly statusCheckPoller: EventSourcePoller | undefined;
  /** Where decisions are published, with `followRuns`. */
  readonly eventBridge: EventBridgeEmulator | undefined;
  /** The webhook receiver behind its Function URL, with `webhooks`. */
  readonly webhookReceiver: LocalWebhookReceiver | undefined;
  readonly environments: ExecutionEnvironments;
  /** Sends each body verbatim as one message; returns the message ids. */
  enqueue(bodies: readonly string[]): Promise<string[]>;
  snapshot(): Promise<PipelineSnapshot>;
  /** Resolves true once the main queue is empty and no invocation runs, false on timeout. */
  waitUntilSettled(options: {
    timeoutMs: number;
    onProgress?: (snapshot: PipelineSnapshot) => void;
    pollMs?: number;
  }): Promise<boolean>;
  report(): Promise<PipelineReport>;
  stop(): Promise<void>;
}

export async function startLocalPipeline(options: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  const functionTimeoutSeconds = options.functionTimeoutSeconds ?? 30;
  const started: { stop(): Promise<void> }[] = [];
  let stopping: Promise<void> | undefined;
  // The poller first (its invocations finish), then the environments, the emulators and the sandbox.
  const stopStarted = () => {
    stopping ??= (async () => {
      for (const part of [...started].reverse()) await part.stop().catch(() => undefined);
    })();
    return stopping;
  };
  try {
    const followRuns = options.followRuns === true || options.webhooks === true;
    const aws = await startLocalAws({
      sqsPort: options.sqsPort,
      dynamodbPort: options.dynamodbPort,
      maxAttempts: options.maxAttempts ?? 4,
      maxReceiveCount: options.maxReceiveCount,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 6 * functionTimeoutSeconds,
      statusChecks: followRuns,
    });
    started.push(aws);

    // Decisions are published as deployed, to the account's default bus: here an emulator that keeps them.
    const eventBridge = followRuns ? await startEventBridgeEmulator() : undefined;
    if (eventBridge !== undefined) started.push(eventBridge);
    const decisionEnv: Record<string, string> =
      eventBridge === undefined
        ? {}
        : { AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint, DECISION_EVENT_BUS_NAME: 'default' };

    const receiver =
      options.webhooks === true
        ? await startWebhookReceiver({
            region: aws.region,
            output: options.workerOutput,
            env: {
              AWS_ENDPOINT_URL_DYNAMODB: aws.env.AWS_ENDPOINT_URL_DYNAMODB,
              AWS_REGION: aws.region,
              AWS_ACCESS_KEY_ID: aws.env.AWS_ACCESS_KEY_ID,
              AWS_SECRET_ACCESS_KEY: aws.env.AWS_SECRET_ACCESS_KEY,
              OUTCOME_TABLE_NAME: aws.tableName,
              // Locally the signing secret itself, as the worker gets its API key (KYCERT_API_KEY).
              KYCERT_WEBHOOK_SECRET: LOCAL_WEBHOOK_SECRET,
              POWERTOOLS_SERVICE_NAME: 'kycert-queue',
              POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'ERROR',
              POWERTOOLS_METRICS_DISABLED: 'true',
              ...decisionEnv,
            },
          })
        : undefined;
    if (receiver !== undefined) started.push(receiver);

    const sandbox =
      options.kycert === undefined
        ? await startKycertSandbox({
            ...options.sandbox,
            ...(receiver === undefined
              ? {}
              : {
                  webhooks: {
                    url: receiver.url,
                    secrets: [LOCAL_WEBHOOK_SECRET],
                    ...options.sandbox?.webhooks,
                  },
                }),
          })
        : undefined;
    if (sandbox !== undefined) started.push({ stop: () => sandbox.close() });
    const kycert = options.kycert ?? { baseUrl: sandbox?.baseUrl ?? '', apiKey: sandbox?.apiKey ?? '' };

    // Each environment reads its configuration and its AWS endpoints from its own environment, as in Lambda.
    const workerEnv: Record<string, string> = {
      ...aws.env,
      KYCERT_BASE_URL: kycert.baseUrl,
      KYCERT_API_KEY: kycert.apiKey,
      ...rateLimitEnv(sandbox),
      // Locally a blocked account is probed within seconds, not minutes.
      KYCERT_PROBE_BASE_SECONDS: '1',
      KYCERT_PROBE_MAX_SECONDS: '5',
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(aws.visibilityTimeoutSeconds),
      // Locally a run is checked on every few seconds, not every 15 minutes at most.
      STATUS_CHECK_MAX_INTERVAL_SECONDS: '4',
      ...decisionEnv,
      // kycert's webhook comes within seconds of a run's end here, not 5–30 s.
      ...(receiver === undefined
        ? {}
        : { KYCERT_WEBHOOKS_ENABLED: 'true', STATUS_CHECK_WEBHOOK_GRACE_SECONDS: '3' }),
      BACKOFF_BASE_SECONDS: String(options.backoffBaseSeconds ?? 1),
      BACKOFF_MAX_SECONDS: String(options.backoffMaxSeconds ?? 4),
      HTTP_TIMEOUT_MS: String(options.httpTimeoutMs ?? 5_000),
      POWERTOOLS_SERVICE_NAME: 'kycert-queue',
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...options.workerEnv,
    };
    const environments = await startExecutionEnvironments({
      count: options.environments ?? 1,
      env: workerEnv,
      region: aws.region,
      handler: options.handler,
      plugins: options.plugins,
      clock: options.clock,
      output: options.workerOutput,
      niceness: options.environmentNiceness,
      onEvent: options.onEnvironmentEvent,
    });
    started.push(environments);

    const poller = await startEventSourcePoller({
      sqs: aws.clients.sqs,
      queueUrl: aws.queueUrl,
      invoker: environments,
      functionTimeoutSeconds,
      batchSize: options.batchSize ?? 10,
      concurrency: options.concurrency ?? 2,
      waitTimeSeconds: 1,
      onEvent: options.onPollerEvent,
    });
    started.push(poller);
    const statusCheckQueue = aws.statusCheckQueue;
    const statusCheckPoller =
      statusCheckQueue === undefined
        ? undefined
        : await startEventSourcePoller({
            sqs: aws.clients.sqs,
            queueUrl: statusCheckQueue.queueUrl,
            invoker: environments,
            functionTimeoutSeconds,
            batchSize: options.batchSize ?? 10,
            concurrency: options.concurrency ?? 2,
            waitTimeSeconds: 1,
            // Its empty long polls must not hold an environment the requests queue could use.
            reserveEnvironment: 'afterReceive',
            onEvent: options.onPollerEvent,
          });
    if (statusCheckPoller !== undefined) started.push(statusCheckPoller);

    let enqueued = 0;
    const pipeline: LocalPipeline = {
      aws,
      sandbox,
      kycertBaseUrl: kycert.baseUrl,
      workerEnv,
      poller,
      statusCheckPoller,
      eventBridge,
      webhookReceiver: receiver,
      environments,
      async enqueue(bodies) {
        const ids: string[] = [];
        for (let start = 0; start < bodies.length; start += 10) {
          const chunk = bodies.slice(start, start + 10);
          const { Successful = [], Failed = [] } = await aws.clients.sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: aws.queueUrl,
              Entries: chunk.map((body, i) => ({ Id: String(start + i), MessageBody: body })),
            }),
          );
          if (Failed.length > 0) {
            throw new Error(
              `SQS refused ${Failed.length} message(s): ${Failed.map((f) => `#${f.Id} ${f.Code}: ${f.Message}`).join('; ')}`,
            );
          }
          ids.push(...Successful.map((s) => s.MessageId ?? ''));
        }
        enqueued += ids.length;
        return ids;
      },
      async snapshot() {
        const [main, dlq, checks] = await Promise.all([
          queueDepth(aws.clients.sqs, aws.queueUrl),
          queueDepth(aws.clients.sqs, aws.deadLetterQueueUrl),
          statusCheckQueue === undefined ? 0 : queueDepth(aws.clients.sqs, statusCheckQueue.queueUrl),
        ]);
        return {
          enqueued,
          pending: main,
          statusChecksPending: checks,
          deadLettered: dlq,
          invocationsInFlight:
            poller.stats().invocationsInFlight +
            (statusCheckPoller?.stats().invocationsInFlight ?? 0) +
            (receiver?.invocationsInFlight() ?? 0),
        };
      },
      async waitUntilSettled({ timeoutMs, onProgress, pollMs = 250 }) {
        const deadlineMs = Date.now() + timeoutMs;
        for (;;) {
          const snapshot = await pipeline.snapshot();
          onProgress?.(snapshot);
          if (
            snapshot.pending === 0 &&
            snapshot.statusChecksPending === 0 &&
            snapshot.invocationsInFlight === 0
          )
            return true;
          if (Date.now() >= deadlineMs) return false;
          await new Promise((resolve) => setTimeout(resolve, pollMs));
        }
      },
      async report() {
        return {
          outcomes: await scanOutcomes(aws),
          dlq: await peekDeadLetters(aws),
          decisionEvents: (eventBridge?.events() ?? []).map((event) => ({
            source: event.source,
            detail_type: event.detailType,
            time: event.time,
            detail: event.detail,
          })),
        };
      },
      stop: stopStarted,
    };
    return pipeline;
  } catch (error) {
    await stopStarted();
    throw error;
  }
}

/**
 * The sandbox's rate limit, told to the worker as the stack tells it kycert's: the shared schedule is seeded
 * with it (and corrected by kycert's X-RateLimit-Limit). A real kycert: the worker's defaults.
 */
export function rateLimitEnv(sandbox: KycertSandbox | undefined): Record<string, string> {
  if (sandbox === undefined) return {};
  const { limit, windowMs } = sandbox.rateLimit();
  return {
    KYCERT_RATE_LIMIT_PER_MINUTE: String((limit * 60_000) / windowMs),
    KYCERT_RATE_LIMIT_WINDOW_SECONDS: String(windowMs / 1000),
  };
}

/** Messages on a queue, visible, in flight or delayed: zero means every message there is done with. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

async function scanOutcomes(aws: LocalAws): Promise<OutcomeReport[]> {
  const outcomes: OutcomeReport[] = [];
  for await (const page of paginateScan(
    { client: aws.clients.dynamodb },
    { TableName: aws.tableName, ConsistentRead: true },
  )) {
    // The flow-control item shares the table and has no status; a key that only holds a booked slot has none yet.
    for (const item of page.Items ?? []) if (item.status !== undefined) outcomes.push(toOutcomeReport(item));
  }
  return outcomes.sort(
    (a, b) =>
      (a.first_attempt_at ?? '').localeCompare(b.first_attempt_at ?? '') ||
      a.idempotency_key.localeCompare(b.idempotency_key),
  );
}

export function toOutcomeReport(item: Record<string, AttributeValue>): OutcomeReport {
  const text = (name: string) => item[name]?.S ?? null;
  const num = (name: string) => (item[name]?.N === undefined ? null : Number(item[name]?.N));
  return {
    idempotency_key: text('idempotency_key') ?? '',
    status: text('status') ?? 'unknown',
    attempts: num('attempts'),
    http_status: num('last_http_status'),
    run_id: text('run_id'),
    error_code: text('last_error_code'),
    external_id: text('external_id'),
    template_id: text('template_id'),
    dead_letter_reason: text('dead_letter_reason'),
    replayed: item.replayed?.BOOL ?? null,
    first_attempt_at: text('first_attempt_at'),
    updated_at: text('updated_at'),
    run_status: text('run_status'),
    decision: text('decision'),
    risk_band: text('risk_band'),
    decided_at: text('decided_at'),
    decision_source: text('decision_source'),
    status_checks: num('status_checks'),
  };
}

async function peekDeadLetters(aws: LocalAws): Promise<DeadLetterReport[]> {
  const messages = await peekQueue(aws.clients.sqs, aws.deadLetterQueueUrl, { maxMessages: 100_000 });
  return messages.map((message) => {
    const attribute = (name: string) => message.messageAttributes[name]?.StringValue ?? null;
    return {
      body: message.body,
      // A message without our reason was moved by the redrive policy: the worker never got to decide.
      reason: attribute(DeadLetterAttribute.reason) ?? 'max_receive_count_exceeded',
      detail: attribute(DeadLetterAttribute.detail),
      idempotency_key: attribute(DeadLetterAttribute.idempotencyKey),
      source_message_id: attribute(DeadLetterAttribute.sourceMessageId),
    };
  });
}
