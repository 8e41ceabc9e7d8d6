import { PolicyStatement } from 'aws-cdk-lib/aws-iam';

/** The resources the worker touches, as they appear in IAM. */
export interface WorkerPermissionTargets {
  readonly queueArn: string;
  readonly deadLetterQueueArn: string;
  /** The status checks' queue; absent when runs are not followed. */
  readonly statusCheckQueueArn?: string | undefined;
  readonly tableArn: string;
  /** The API key secret's ARN; for a secret imported by name, ending in `-??????`. */
  readonly apiKeySecretArn: string;
  /** The customer-managed KMS key the secret is encrypted with. @default none: the `aws/secretsmanager` key */
  readonly apiKeyEncryptionKeyArn?: string | undefined;
  /** The stack's region, for the `kms:ViaService` condition. */
  readonly region: string;
  /** The EventBridge bus decisions are published on; absent when no decision is ever published. */
  readonly decisionEventBusArn?: string | undefined;
}

/**
 * Every AWS call the worker makes, and nothing more: one entry per resource, naming the module that makes
 * the call. A new call is one new line here, and one in the exact-set test (test/stack.test.ts). The log
 * group's write permission and X-Ray's come from the log group and the tracing setting (workerFunction.ts).
 */
export function workerPermissions(targets: WorkerPermissionTargets): PolicyStatement[] {
  const grants: Array<{ actions: string[]; resource: string; conditions?: Record<string, unknown> }> = [
    // The event source mapping polls with the function's role; messageVisibility.ts schedules retries.
    {
      actions: [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ChangeMessageVisibility',
      ],
      resource: targets.queueArn,
    },
    ...(targets.statusCheckQueueArn === undefined
      ? []
      : [
          // The second event source; statusCheckQueue.ts sends a run's first check; processStatusCheck.ts
          // waits for the next one through the visibility timeout.
          {
            actions: [
              'sqs:ReceiveMessage',
              'sqs:DeleteMessage',
              'sqs:GetQueueAttributes',
              'sqs:ChangeMessageVisibility',
              'sqs:SendMessage',
            ],
            resource: targets.statusCheckQueueArn,
          },
        ]),
    // deadLetterQueue.ts: SendMessage with the reason attributes.
    { actions: ['sqs:SendMessage'], resource: targets.deadLetterQueueArn },
    // outcomeStore.ts and sharedFlowControl.ts (the rate schedule and breaker item): GetItem, conditional UpdateItems.
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resource: targets.tableArn },
    // apiKeySource.ts, through Powertools' SecretsProvider.
    { actions: ['secretsmanager:GetSecretValue'], resource: targets.apiKeySecretArn },
    // decisionPublisher.ts: one event per terminal run, on that bus only.
    ...(targets.decisionEventBusArn === undefined
      ? []
      : [{ actions: ['events:PutEvents'], resource: targets.decisionEventBusArn }]),
  ];
  if (targets.apiKeyEncryptionKeyArn !== undefined) {
    // Secrets Manager decrypts a secret under a customer-managed key with the caller's permission, and
    // only through Secrets Manager: the key cannot be used directly.
    grants.push({
      actions: ['kms:Decrypt'],
      resource: targets.apiKeyEncryptionKeyArn,
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${targets.region}.amazonaws.com` } },
    });
  }
  return grants.map(
    ({ actions, resource, conditions }) =>
      new PolicyStatement({ actions, resources: [resource], ...(conditions ? { conditions } : {}) }),
  );
}
