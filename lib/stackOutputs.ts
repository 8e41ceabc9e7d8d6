/**
 * Output keys of the kycert-queue stack. The operator CLI finds the queue, DLQ, table and secret from these
 * outputs (`DescribeStacks` by stack name), so they are a contract: rename one and the CLI breaks.
 * This file imports nothing from aws-cdk-lib, so the CLI can read it without loading the CDK.
 */
export const StackOutputs = {
  queueUrl: 'QueueUrl',
  queueArn: 'QueueArn',
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
  deadLetterQueueArn: 'DeadLetterQueueArn',
  outcomeTableName: 'OutcomeTableName',
  apiKeySecretArn: 'ApiKeySecretArn',
  workerFunctionName: 'WorkerFunctionName',
  alarmTopicArn: 'AlarmTopicArn',
  dashboardName: 'DashboardName',
  producerPolicyArn: 'ProducerPolicyArn',
  /** The bus the decision events go to: producers write their rules on it. */
  decisionEventBusArn: 'DecisionEventBusArn',
  /** Only with webhooks enabled: the URL to give kycert, and the secret to put kycert's whsec_ in. */
  webhookUrl: 'WebhookUrl',
  webhookSecretArn: 'WebhookSecretArn',
} as const;
export type StackOutputKey = (typeof StackOutputs)[keyof typeof StackOutputs];
