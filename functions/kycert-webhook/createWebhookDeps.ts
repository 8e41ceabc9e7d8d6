import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DecisionPublisher } from '../kycert-worker/decisionPublisher.js';
import { METRICS_NAMESPACE, SERVICE_NAME, STAGE_DIMENSION } from '../kycert-worker/metricNames.js';
import { OutcomeStore } from '../kycert-worker/outcomeStore.js';
import type { WebhookReceiverDeps } from './receiveWebhook.js';
import type { WebhookConfig } from './webhookConfig.js';
import { WebhookEventLedger } from './webhookEventLedger.js';
import { secretsManagerWebhookSecrets, staticWebhookSecrets } from './webhookSecrets.js';

/**
 * The receiver's real dependencies, built once per execution environment (clients, the cached secret). AWS
 * clients honour AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_EVENTBRIDGE / AWS_ENDPOINT_URL_SECRETS_MANAGER,
 * which is how the same code runs against the local emulators. Logs and metrics as the worker's: the same
 * `service`, the `stage` on every metric, and a `component` key on every log line to tell the two apart.
 */
export function createWebhookDeps(
  config: WebhookConfig,
  overrides: Partial<WebhookReceiverDeps> = {},
  clients: { dynamodb?: DynamoDBClient; eventBridge?: EventBridgeClient } = {},
): WebhookReceiverDeps {
  const dynamodb = clients.dynamodb ?? new DynamoDBClient({});
  const publisher =
    config.decisionEventBusName === undefined
      ? undefined
      : new DecisionPublisher({
          client: clients.eventBridge ?? new EventBridgeClient({}),
          busName: config.decisionEventBusName,
          stage: config.stage,
        });
  return {
    outcomeStore: new OutcomeStore({
      client: dynamodb,
      tableName: config.outcomeTableName,
      ttlSeconds: config.outcomeTtlSeconds,
    }),
    ledger: new WebhookEventLedger({ client: dynamodb, tableName: config.outcomeTableName }),
    publisher,
    secrets:
      config.secret.kind === 'env'
        ? staticWebhookSecrets(config.secret.value)
        : secretsManagerWebhookSecrets({
            secretId: config.secret.secretId,
            maxAgeSeconds: config.secretCacheSeconds,
          }),
    logger: new Logger({ serviceName: SERVICE_NAME, persistentKeys: { component: 'webhook-receiver' } }),
    metrics: new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: SERVICE_NAME,
      defaultDimensions: { [STAGE_DIMENSION]: config.stage },
    }),
    signatureHeaderName: config.signatureHeaderName,
    toleranceSeconds: config.toleranceSeconds,
    nowMs: Date.now,
    ...overrides,
  };
}
