import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidSettingsError } from '../lib/errors.js';
import type { KycertQueueProps } from '../lib/kycertQueue.js';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';

/**
 * The stack with webhooks on and a bus of its own (with the real bundles): the receiver, its Function URL,
 * secret and exact grants, the worker's PutEvents on that bus only, the webhook alarms and outputs. Literal
 * values throughout, as in stack.test.ts.
 */
let outdir: string;
let template: Template;

const synth = (props: KycertQueueProps, id = 'kycert-queue-webhooks') => {
  const app = new App({ outdir });
  return Template.fromStack(new KycertQueueStack(app, id, { kycertQueue: props }));
};

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'kycert-queue-webhooks-'));
  template = synth({ webhooks: { enabled: true }, createDecisionEventBus: true });
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

type Resource = { Properties: Record<string, unknown> } & Record<string, unknown>;
const logicalIdOf = (type: string, properties: Record<string, unknown>): string => {
  const ids = Object.keys(template.findResources(type, { Properties: properties }));
  expect(ids, `exactly one ${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0] as string;
};
const receiverId = () =>
  logicalIdOf('AWS::Lambda::Function', {
    Description: 'kycert-queue: receives kycert webhooks, records run decisions',
  });
const workerId = () =>
  logicalIdOf('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ QUEUE_URL: Match.anyValue() }) },
  });
const tableId = () => logicalIdOf('AWS::DynamoDB::Table', {});
const busId = () => logicalIdOf('AWS::Events::EventBus', {});
const webhookSecretId = () =>
  logicalIdOf('AWS::SecretsManager::Secret', {
    Description: Match.stringLikeRegexp('webhook signing secret'),
  });
const roleId = (description: string) =>
  logicalIdOf('AWS::IAM::Role', { Description: Match.stringLikeRegexp(description) });

/** Resource (as JSON) → the actions granted on it, over every inline policy attached to the role. */
function grantsOf(role: string): Record<string, string[]> {
  const grants: Record<string, string[]> = {};
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy')) as Resource[]) {
    if (!JSON.stringify(policy.Properties.Roles).includes(role)) continue;
    const statements = (policy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> })
      .Statement;
    for (const statement of statements) {
      for (const resource of [statement.Resource].flat()) {
        const key = JSON.stringify(resource);
        grants[key] = [...(grants[key] ?? []), ...[statement.Action].flat().map(String)].sort();
      }
    }
  }
  return grants;
}
const arnOf = (logicalId: string) => JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const refOf = (logicalId: string) => JSON.stringify({ Ref: logicalId });

describe('the receiver', () => {
  it('runs nodejs24.x on arm64, 256 MB, 10 s, untraced like the worker by default, from the pre-built bundle', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'kycert-queue: receives kycert webhooks, records run decisions',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 10,
      Handler: 'index.handler',
      TracingConfig: Match.absent(),
    });
  });

  it('is told its table, secret, header, tolerance, bus and stage, and never a secret value', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'kycert-queue: receives kycert webhooks, records run decisions',
      Environment: {
        Variables: {
          OUTCOME_TABLE_NAME: { Ref: tableId() },
          OUTCOME_TTL_DAYS: '30',
          KYCERT_WEBHOOK_SECRET_ID: { Ref: webhookSecretId() },
          KYCERT_WEBHOOK_SIGNATURE_HEADER: 'kycert-signature',
          KYCERT_WEBHOOK_TOLERANCE_SECONDS: '300',
          DECISION_EVENT_BUS_NAME: { 'Fn::GetAtt': [busId(), 'Arn'] },
          KYCERT_QUEUE_STAGE: 'dev',
          POWERTOOLS_SERVICE_NAME: 'kycert-queue',
          POWERTOOLS_METRICS_NAMESPACE: 'KycertQueue',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('is behind a Function URL with auth NONE: the webhook signature is the authentication', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [receiverId(), 'Arn'] },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      FunctionName: { 'Fn::GetAtt': [receiverId(), 'Arn'] },
      Principal: '*',
      FunctionUrlAuthType: 'NONE',
    });
  });

  it('reads a secret of its own, created with a placeholder and retained', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      Properties: {
        Description: Match.stringLikeRegexp('whsec_'),
        GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true },
        SecretString: Match.absent(),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('holds exactly the calls it makes: Query on by-run-id, GetItem and UpdateItem, its secret, PutEvents on the bus', () => {
    const logGroup = (template.toJSON().Resources[receiverId()] as Resource).Properties.LoggingConfig as {
      LogGroup: { Ref: string };
    };
    expect(grantsOf(roleId('webhook receiver'))).toEqual({
      [JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId(), 'Arn'] }, '/index/by-run-id']] })]: [
        'dynamodb:Query',
      ],
      [arnOf(tableId())]: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      [refOf(webhookSecretId())]: ['secretsmanager:GetSecretValue'],
      [arnOf(busId())]: ['events:PutEvents'],
      [arnOf(logGroup.LogGroup.Ref)]: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    });
  });
});

describe('the decision bus', () => {
  it('is created and named after the stage when asked', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'kycert-queue-dev-decisions' });
  });

  it('is the only bus the worker may put events on, and its ARN is in the worker’s environment', () => {
    const grants = Object.entries(grantsOf(roleId('worker'))).filter(([, actions]) =>
      actions.includes('events:PutEvents'),
    );
    expect(grants).toEqual([[arnOf(busId()), ['events:PutEvents']]]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          QUEUE_URL: Match.anyValue(),
          DECISION_EVENT_BUS_NAME: { 'Fn::GetAtt': [busId(), 'Arn'] },
          KYCERT_WEBHOOKS_ENABLED: 'true',
        }),
      },
    });
    expect(workerId()).not.toBe(receiverId());
  });

  it('is the one given when the app passes its own, and none is created', () => {
    const app = new App({ outdir });
    const stack = new KycertQueueStack(app, 'kycert-queue-own-bus');
    const given = new EventBus(stack, 'ProducersBus', { eventBusName: 'producers' });
    const other = new KycertQueueStack(app, 'kycert-queue-given-bus', {
      env: undefined,
      kycertQueue: { decisionEventBus: EventBus.fromEventBusArn(stack, 'Imported', given.eventBusArn) },
    });
    const own = Template.fromStack(other);
    own.resourceCountIs('AWS::Events::EventBus', 0);
    expect(JSON.stringify(own.findResources('AWS::IAM::Policy'))).toContain('events:PutEvents');
  });

  it('refuses a given bus and createDecisionEventBus together', () => {
    const app = new App({ outdir });
    const stack = new KycertQueueStack(app, 'kycert-queue-bus-source');
    expect(
      () =>
        new KycertQueueStack(app, 'kycert-queue-both-buses', {
          kycertQueue: {
            decisionEventBus: EventBus.fromEventBusName(stack, 'Named', 'producers'),
            createDecisionEventBus: true,
          },
        }),
    ).toThrow(new InvalidSettingsError(['set decisionEventBus or createDecisionEventBus, not both']));
  });
});

describe('alarms and outputs', () => {
  const alarm = (name: string) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm')).find(
      (resource) => resource.Properties.AlarmName === `kycert-queue-dev-${name}`,
    )?.Properties as Record<string, unknown> | undefined;

  it.each([
    ['webhooks-rejected', 'WebhooksRejected', 5, 1, 1],
    ['webhooks-unmatched', 'WebhooksUnmatched', 1, 3, 2],
  ])(
    '%s reads this stage’s %s: threshold %s, %s period(s), %s to alarm',
    (name, metricName, threshold, periods, toAlarm) => {
      expect(alarm(name)).toMatchObject({
        Namespace: 'KycertQueue',
        MetricName: metricName,
        Dimensions: [
          { Name: 'service', Value: 'kycert-queue' },
          { Name: 'stage', Value: 'dev' },
        ],
        Statistic: 'Sum',
        Period: 300,
        Threshold: threshold,
        EvaluationPeriods: periods,
        DatapointsToAlarm: toAlarm,
        TreatMissingData: 'notBreaching',
        AlarmDescription: expect.stringMatching(new RegExp(`Runbook: docs/operations\\.md#${name}$`)),
      });
    },
  );

  it('webhook-receiver-errors reads the receiver’s Errors', () => {
    expect(alarm('webhook-receiver-errors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: receiverId() } }],
      Threshold: 1,
    });
  });

  it('exports the URL to give kycert and the secret to put its whsec_ in', () => {
    expect(template.findOutputs('WebhookUrl').WebhookUrl?.Value).toEqual({
      'Fn::GetAtt': [logicalIdOf('AWS::Lambda::Url', {}), 'FunctionUrl'],
    });
    expect(template.findOutputs('WebhookSecretArn').WebhookSecretArn?.Value).toEqual({
      Ref: webhookSecretId(),
    });
    expect(template.findOutputs('DecisionEventBusArn').DecisionEventBusArn?.Value).toEqual({
      'Fn::GetAtt': [busId(), 'Arn'],
    });
  });
});

describe('settings', () => {
  it('carries a signature header name of its own and a reserved concurrency', () => {
    const custom = synth(
      {
        webhooks: {
          enabled: true,
          signatureHeaderName: 'X-Kycert-Signature',
          toleranceSeconds: 120,
          reservedConcurrency: 5,
        },
      },
      'kycert-queue-webhook-settings',
    );
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'kycert-queue: receives kycert webhooks, records run decisions',
      ReservedConcurrentExecutions: 5,
      Environment: {
        Variables: Match.objectLike({
          KYCERT_WEBHOOK_SIGNATURE_HEADER: 'X-Kycert-Signature',
          KYCERT_WEBHOOK_TOLERANCE_SECONDS: '120',
        }),
      },
    });
  });

  it('encrypts the webhook secret under the API key’s customer-managed key, decryptable through Secrets Manager only', () => {
    const kmsKeyArn = 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const encrypted = synth(
      { webhooks: { enabled: true }, apiKeySecretKmsKeyArn: kmsKeyArn },
      'kycert-queue-webhook-kms',
    );
    encrypted.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp('webhook signing secret'),
      KmsKeyId: kmsKeyArn,
    });
    encrypted.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('WebhookReceiverRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'kms:Decrypt',
            Effect: 'Allow',
            Resource: kmsKeyArn,
            Condition: {
              StringEquals: {
                'kms:ViaService': {
                  'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
                },
              },
            },
          },
        ]),
      },
    });
  });

  it.each<[KycertQueueProps['webhooks'], string]>([
    [
      { enabled: true, signatureHeaderName: 'bad header' },
      'webhooks.signatureHeaderName must be a header name (letters, digits, "-"), got "bad header"',
    ],
    [
      { enabled: true, toleranceSeconds: 0 },
      'webhooks.toleranceSeconds must be a whole number of seconds from 1 to 3600, got 0',
    ],
    [
      { enabled: true, reservedConcurrency: 0 },
      'webhooks.reservedConcurrency must be a whole number, 1 or more, got 0',
    ],
  ])('refuses %j: %s', (webhooks, problem) => {
    expect(() => synth({ webhooks }, `kycert-queue-bad-${Math.random().toString(36).slice(2, 8)}`)).toThrow(
      new InvalidSettingsError([problem]),
    );
  });
});
