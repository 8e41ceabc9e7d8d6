/**
 * kycert-queue's CDK side, `import { KycertQueue } from 'kycert-queue'`: the construct, the stack this
 * repository's app deploys, and what their props and outputs are made of. The producer helper is
 * `kycert-queue/producer` (no CDK in it); the message's JSON Schema is `kycert-queue/schema.json`.
 */
export { type ConsumerConcurrency, consumerConcurrencyFor } from './consumerConcurrency.js';
export { InvalidSettingsError } from './errors.js';
export { DEFAULT_SECONDS_PER_RECORD, KycertQueue, type KycertQueueProps } from './kycertQueue.js';
export {
  type AlarmKey,
  AlarmName,
  type AlarmThresholds,
  DEFAULT_ALARM_THRESHOLDS,
} from './kycertQueueMonitoring.js';
export { KycertQueueStack, type KycertQueueStackProps } from './kycertQueueStack.js';
export type { IndexUpgradeStep } from './outcomeStoreTable.js';
export { DEFAULT_STAGE, STAGE_NAME_PATTERN, stackNameFor } from './stackName.js';
export { type StackOutputKey, StackOutputs } from './stackOutputs.js';
export { WebhookReceiverDefaults, type WebhookSettings } from './webhookReceiver.js';
export { WorkerFunctionDefaults } from './workerFunction.js';
export { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from './workerSettings.js';
