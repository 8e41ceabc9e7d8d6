import { App, Aspects, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { KycertQueueProps } from '../lib/kycertQueue.js';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';

interface NagSuppression {
  id: string;
  reason: string;
  applies_to?: unknown[];
}

function stackWithNag(props: KycertQueueProps): Stack {
  // Bundling is skipped: cdk-nag reads the template, not the code (stack.test.ts bundles the real handler).
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new KycertQueueStack(app, 'nag', { kycertQueue: props });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  return stack;
}

function formatFindings(findings: ReturnType<Annotations['findError']>): string[] {
  return findings.map((finding) => `${finding.id}: ${String(finding.entry.data).split('\n')[0]}`);
}

describe.each<[string, KycertQueueProps, string[]]>([
  // The last column: the findings reviewed and suppressed for that stack, each with its reason.
  ['defaults', {}, ['AwsSolutions-SMG4']],
  [
    'an existing secret and an alarm e-mail',
    { apiKeySecretName: 'team/kycert-api-key', alarmEmail: 'oncall@example.com' },
    [],
  ],
  [
    'a secret by ARN under a customer-managed KMS key, stage staging',
    {
      stageName: 'staging',
      apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf',
      apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    },
    [],
  ],
  // X-Ray's grants are on "*": reviewed and suppressed only when tracing is on.
  ['active tracing', { tracing: Tracing.ACTIVE }, ['AwsSolutions-IAM5', 'AwsSolutions-SMG4']],
  [
    'webhooks on and a bus of its own',
    { webhooks: { enabled: true }, createDecisionEventBus: true },
    ['AwsSolutions-SMG4'],
  ],
  [
    'webhooks on, secrets under a customer-managed KMS key, runs not followed',
    {
      webhooks: { enabled: true, reservedConcurrency: 5 },
      followRuns: false,
      apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    },
    ['AwsSolutions-SMG4'],
  ],
  [
    'webhooks on with active tracing',
    { webhooks: { enabled: true }, tracing: Tracing.ACTIVE },
    ['AwsSolutions-IAM5', 'AwsSolutions-SMG4'],
  ],
])('cdk-nag AwsSolutions with %s', (_name, props, suppressed) => {
  const stack = stackWithNag(props);
  const annotations = Annotations.fromStack(stack);

  it('reports no unsuppressed error', () => {
    const errors = annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    expect(formatFindings(errors)).toEqual([]);
  });

  it('reports no unsuppressed warning', () => {
    const warnings = annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    expect(formatFindings(warnings)).toEqual([]);
  });

  it('suppresses only the reviewed findings, and every suppression says why', () => {
    const suppressions = Object.values(
      Template.fromStack(stack).toJSON().Resources as Record<string, Resource>,
    ).flatMap((resource) => resource.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    expect([...new Set(suppressions.map((suppression) => suppression.id))].sort()).toEqual(suppressed);
    for (const suppression of suppressions) {
      expect(suppression.id).toMatch(/^AwsSolutions-/);
      expect(suppression.reason.length, `reason of ${suppression.id}`).toBeGreaterThanOrEqual(60);
    }
  });
});

interface Resource {
  Metadata?: { cdk_nag?: { rules_to_suppress?: NagSuppression[] } };
}
