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
} as const;
export type StackOutputKey = (typeof StackOutputs)[keyof typeof StackOutputs];
