import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { secretsManagerApiKey, staticApiKey } from './apiKeySource.js';
import type { WorkerConfig } from './config.js';
import { DeadLetterQueue } from './deadLetterQueue.js';
import { DecisionPublisher } from './decisionPublisher.js';
import { slotIntervalMs } from './flowControl.js';
import { KycertClient } from './kycertClient.js';
import { lazily } from './lazyClient.js';
import { MessageVisibility } from './messageVisibility.js';
import { METRICS_NAMESPACE, SERVICE_NAME, STAGE_DIMENSION } from './metricNames.js';
import { OutcomeStore } from './outcomeStore.js';
import type { WorkerDeps } from './processRecord.js';
import { RateLimitGovernor } from './rateLimitGovernor.js';
import { SharedFlowControl } from './sharedFlowControl.js';
import { StatusCheckQueue } from './statusCheckQueue.js';

/**
 * A booked slot is come back for a second early: visibility timeouts are whole seconds (rounded down), and a
 * delivery that is slow to come back (a cold start, a busy event source) still finds its slot ahead. 250 ms
 * cut P3's billed ms by a quarter but left status checks coming back after their slots (BENCHMARKS.md, P3).
 */
const DEFER_LEAD_MS = 1_000;
/**
 * A booked slot stays the message's for one rate-limit window after its time, however late the message came
 * back. Given up sooner, it is wasted, and the message books again at the back of a busy schedule, where it can
 * be late again: 600 followed runs at 30 per 3 s, whose checks came back ~2 s late, had 126 checks done in 9 min
 * with 500 ms. A slot used late can only move a call into the next kycert window, where the environment's view
 * of `X-RateLimit-Remaining` (RateLimitGovernor) holds calls back, and a 429 costs no attempt.
 */
const maxLateMs = (windowSeconds: number) => Math.max(500, windowSeconds * 1000);

/**
 * Builds the real dependencies once per execution environment, so clients, connection pools and the cached
 * API key survive across invocations. AWS clients honour AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS /
 * AWS_ENDPOINT_URL_DYNAMODB, which is how the same code runs against the local emulators.
 */
export function createWorkerDeps(
  config: WorkerConfig,
  overrides: Partial<WorkerDeps> = {},
  /** Clients bound to given endpoints, for a process that runs several pipelines (the fault suite). */
  clients: { sqs?: SQSClient; dynamodb?: DynamoDBClient; eventBridge?: EventBridgeClient } = {},
): WorkerDeps {
  // With an endpoint override the SDK would otherwise send QueueUrl calls to the URL's own host.
  // SQS and EventBridge are off the success path (retries, dead letters, status checks, decisions): made on
  // first use, their code loaded then (lazyClient.ts). DynamoDB is on every message's path.
  const sqs =
    clients.sqs ??
    lazily(async () => {
      const { SQSClient } = await import('@aws-sdk/client-sqs');
      return new SQSClient({ useQueueUrlAsEndpoint: false });
    });
  const dynamodb = clients.dynamodb ?? new DynamoDBClient({});
  const governor =
    config.throttleThreshold > 0
      ? new RateLimitGovernor(config.throttleThreshold, config.maxRateLimitResetSeconds)
      : undefined;
  const { limitPerWindow, windowSeconds, headroom } = config.rateLimit;
  const apiKey =
    config.apiKey.kind === 'env'
      ? staticApiKey(config.apiKey.value)
      : secretsManagerApiKey({ secretId: config.apiKey.secretId, maxAgeSeconds: config.apiKeyCacheSeconds });
  return {
    policy: {
      maxAttempts: config.maxAttempts,
      maxReceiveCount: config.maxReceiveCount,
      backoffBaseSeconds: config.backoffBaseSeconds,
      backoffMaxSeconds: config.backoffMaxSeconds,
      idempotencyWindowSeconds: config.idempotencyWindowSeconds,
      rateLimitedSpendsAttempt: config.rateLimitedSpendsAttempt,
      maxRateLimitResetSeconds: config.maxRateLimitResetSeconds,
      queueRetentionSeconds: config.queueRetentionSeconds,
    },
    apiKey,
    queueVisibilityTimeoutSeconds: config.queueVisibilityTimeoutSeconds,
    kycert: new KycertClient({
      baseUrl: config.kycertBaseUrl,
      apiKey,
      apiVersion: config.kycertApiVersion,
      connectTimeoutMs: config.httpConnectTimeoutMs,
      timeoutMs: config.httpTimeoutMs,
    }),
    outcomeStore: new OutcomeStore({
      client: dynamodb,
      tableName: config.outcomeTableName,
      ttlSeconds: config.outcomeTtlSeconds,
    }),
    deadLetterQueue: new DeadLetterQueue({ client: sqs, queueUrl: config.deadLetterQueueUrl }),
    statusChecks:
      config.statusChecks === undefined
        ? undefined
        : {
            queue: new StatusCheckQueue({ client: sqs, queueUrl: config.statusChecks.queueUrl }),
            visibility: new MessageVisibility({ client: sqs, queueUrl: config.statusChecks.queueUrl }),
            options: {
              defaultFirstDelaySeconds: config.statusChecks.defaultFirstDelaySeconds,
              maxIntervalSeconds: config.statusChecks.maxIntervalSeconds,
              overdueAfterSeconds: config.statusChecks.overdueAfterSeconds,
              webhookGraceSeconds: config.statusChecks.webhooksEnabled
                ? config.statusChecks.webhookGraceSeconds
                : undefined,
            },
            webhooksEnabled: config.statusChecks.webhooksEnabled,
          },
    publisher:
      config.decisionEventBusName === undefined
        ? undefined
        : new DecisionPublisher({
            client:
              clients.eventBridge ??
              lazily(async () => {
                const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
                return new EventBridgeClient({});
              }),
            busName: config.decisionEventBusName,
            stage: config.stage,
          }),
    visibility: new MessageVisibility({ client: sqs, queueUrl: config.queueUrl }),
    logger: new Logger({ serviceName: SERVICE_NAME }),
    // Default dimensions are on every metric, `singleMetric()` ones included: stages never share a series.
    metrics: new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: SERVICE_NAME,
      defaultDimensions: { [STAGE_DIMENSION]: config.stage },
    }),
    rateLimitGovernor: governor,
    flowControl: {
      shared: new SharedFlowControl({
        client: dynamodb,
        tableName: config.outcomeTableName,
        // kycert's own X-RateLimit-Limit, once seen, wins over the configured limit.
        intervalMs: () => slotIntervalMs(governor?.limit() || limitPerWindow, windowSeconds * 1000, headroom),
      }),
      options: {
        maxInFunctionWaitMs: config.flowControl.maxInFunctionWaitMs,
        deferLeadMs: DEFER_LEAD_MS,
        maxLateMs: maxLateMs(windowSeconds),
        pauseBudgetMs: config.flowControl.pauseBudgetMs,
        probeBaseMs: config.flowControl.probeBaseMs,
        probeMaxMs: config.flowControl.probeMaxMs,
      },
      apiKeyPattern: config.flowControl.apiKeyPattern,
    },
    nowMs: Date.now,
    random: Math.random,
    ...overrides,
  };
}
