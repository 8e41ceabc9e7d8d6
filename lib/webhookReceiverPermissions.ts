import { PolicyStatement } from 'aws-cdk-lib/aws-iam';

/** The resources the webhook receiver touches, as they appear in IAM. */
export interface WebhookReceiverPermissionTargets {
  readonly tableArn: string;
  /** The outcome table's `by-run-id` index name. */
  readonly runIdIndexName: string;
  readonly webhookSecretArn: string;
  /** The customer-managed KMS key the secret is encrypted with. @default none: the `aws/secretsmanager` key */
  readonly webhookSecretEncryptionKeyArn?: string | undefined;
  readonly decisionEventBusArn: string;
  /** The stack's region, for the `kms:ViaService` condition. */
  readonly region: string;
}

/**
 * Every AWS call the webhook receiver makes (functions/kycert-webhook), and nothing more, as workerPermissions.ts
 * does for the worker; test/stack.test.ts pins the exact set. Its log group's and X-Ray's come with them.
 */
export function webhookReceiverPermissions(targets: WebhookReceiverPermissionTargets): PolicyStatement[] {
  const grants: Array<{ actions: string[]; resource: string; conditions?: Record<string, unknown> }> = [
    // outcomeStore.ts keyOfRun: the run's key, through the sparse by-run-id index only.
    { actions: ['dynamodb:Query'], resource: `${targets.tableArn}/index/${targets.runIdIndexName}` },
    // outcomeStore.ts (get, recordRunResult, recordDecisionPublished, parkRunResult) and webhookEventLedger.ts.
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resource: targets.tableArn },
    // webhookSecrets.ts, through Powertools' SecretsProvider.
    { actions: ['secretsmanager:GetSecretValue'], resource: targets.webhookSecretArn },
    // decisionPublisher.ts: the decision event of a run the webhook decided.
    { actions: ['events:PutEvents'], resource: targets.decisionEventBusArn },
  ];
  if (targets.webhookSecretEncryptionKeyArn !== undefined) {
    grants.push({
      actions: ['kms:Decrypt'],
      resource: targets.webhookSecretEncryptionKeyArn,
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${targets.region}.amazonaws.com` } },
    });
  }
  return grants.map(
    ({ actions, resource, conditions }) =>
      new PolicyStatement({ actions, resources: [resource], ...(conditions ? { conditions } : {}) }),
  );
}
