import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';
import { StackOutputs } from '../lib/stackOutputs.js';

/**
 * The default stack, as documented (docs/deploy.md). Every expected value is a literal: a changed default
 * must fail here, so none of these tests reads the constants the code reads.
 */
const execFileAsync = promisify(execFile);

// One synthesis for the whole file, with the real esbuild bundles of the real handlers.
let outdir: string;
let template: Template;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'kycert-queue-stack-'));
  const app = new App({ outdir });
  const stack = new KycertQueueStack(app, 'kycert-queue-test');
  const producer = new Role(stack, 'Producer', {
    assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
  });
  stack.kycertQueue.grantSendRequests(producer);
  template = Template.fromStack(stack);
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

type Resource = { Properties: Record<string, unknown> } & Record<string, unknown>;

function logicalIdOf(type: string, properties: Record<string, unknown>): string {
  const ids = Object.keys(template.findResources(type, { Properties: properties }));
  expect(ids, `exactly one ${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0] as string;
}
const queueId = () => logicalIdOf('AWS::SQS::Queue', { QueueName: 'kycert-queue-dev-requests' });
const deadLetterQueueId = () =>
  logicalIdOf('AWS::SQS::Queue', { MessageRetentionPeriod: 1_209_600, MaximumMessageSize: 262_144 });
const checksQueueId = () => logicalIdOf('AWS::SQS::Queue', { QueueName: 'kycert-queue-dev-status-checks' });
const checksDeadLetterQueueId = () =>
  logicalIdOf('AWS::SQS::Queue', { MessageRetentionPeriod: 1_209_600, MaximumMessageSize: Match.absent() });
const workerFunctionId = () =>
  logicalIdOf('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ QUEUE_URL: Match.anyValue() }) },
  });
const ageCheckFunctionId = () =>
  logicalIdOf('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('API key secret') });
const tableId = () => logicalIdOf('AWS::DynamoDB::Table', {});
const topicId = () => logicalIdOf('AWS::SNS::Topic', {});
const secretId = () => logicalIdOf('AWS::SecretsManager::Secret', {});
const roleId = (description: string) =>
  logicalIdOf('AWS::IAM::Role', { Description: Match.stringLikeRegexp(description) });
const logGroupOf = (functionId: string) =>
  (template.toJSON().Resources[functionId] as Resource).Properties.LoggingConfig as {
    LogGroup: { Ref: string };
  };

describe('queues', () => {
  it('main queue: SSE-SQS', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'kycert-queue-dev-requests',
      SqsManagedSseEnabled: true,
    });
  });

  it('main queue: kept 4 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'kycert-queue-dev-requests',
      MessageRetentionPeriod: 345_600,
    });
  });

  it('main queue: visibility timeout 360 s, 6 × the 60 s function timeout', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'kycert-queue-dev-requests',
      VisibilityTimeout: 360,
    });
  });

  it('main queue: redrive to the DLQ after 500 receives, a safety net far above what the worker reaches', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'kycert-queue-dev-requests',
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId(), 'Arn'] },
        maxReceiveCount: 500,
      },
    });
  });

  it('main queue: messages up to 64 KiB, a quarter of what the DLQ takes', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'kycert-queue-dev-requests',
      MaximumMessageSize: 65_536,
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: 1_209_600,
      MaximumMessageSize: 262_144,
    });
  });

  it.each([
    ['DLQ', deadLetterQueueId],
    ['status checks’ DLQ', checksDeadLetterQueueId],
  ])('%s: SSE-SQS, kept 14 days, no redrive of its own', (_name, logicalId) => {
    expect(template.toJSON().Resources[logicalId()].Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    expect(template.toJSON().Resources[logicalId()].Properties.RedrivePolicy).toBeUndefined();
  });

  it('status checks: their own queue, SSE-SQS, kept 4 days, the requests queue’s visibility, its own DLQ after 1000 receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'kycert-queue-dev-status-checks',
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 345_600,
      VisibilityTimeout: 360,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [checksDeadLetterQueueId(), 'Arn'] },
        maxReceiveCount: 1000,
      },
    });
  });

  it('status checks’ DLQ: only the checks queue may use it', () => {
    expect(
      template.toJSON().Resources[checksDeadLetterQueueId()].Properties.RedriveAllowPolicy,
    ).toMatchObject({
      redrivePermission: 'byQueue',
      sourceQueueArns: [{ 'Fn::Join': ['', expect.arrayContaining([':kycert-queue-dev-status-checks'])] }],
    });
  });

  it('DLQ: only the requests queue may use it as its DLQ (redrive-allow policy byQueue)', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: 1_209_600,
      RedriveAllowPolicy: {
        redrivePermission: 'byQueue',
        sourceQueueArns: [
          {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':sqs:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':kycert-queue-dev-requests',
              ],
            ],
          },
        ],
      },
    });
  });

  it.each([
    ['main queue', queueId],
    ['DLQ', deadLetterQueueId],
    ['status checks queue', checksQueueId],
    ['status checks’ DLQ', checksDeadLetterQueueId],
  ])('%s refuses requests without TLS', (_name, logicalId) => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId() }],
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: { 'Fn::GetAtt': [logicalId(), 'Arn'] },
          },
        ],
      },
    });
  });
});

describe('worker function', () => {
  const worker = (properties: Record<string, unknown>) =>
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ QUEUE_URL: Match.anyValue() }) },
      ...properties,
    });

  it('runs nodejs24.x on arm64', () => worker({ Runtime: 'nodejs24.x', Architectures: ['arm64'] }));
  it('times out after 60 s', () => worker({ Timeout: 60 }));
  it('has 512 MB of memory', () => worker({ MemorySize: 512 }));
  it('does not trace with X-Ray (BENCHMARKS.md, P4: what spans would cost)', () =>
    worker({ TracingConfig: Match.absent() }));

  it('gets its settings and resources from the environment, and no API key', () => {
    worker({
      Environment: {
        Variables: {
          KYCERT_BASE_URL: 'https://admin.kycert.com.br/api/v1',
          KYCERT_API_KEY_SECRET_ID: { Ref: secretId() },
          KYCERT_API_KEY_CACHE_SECONDS: '300',
          KYCERT_RATE_LIMIT_PER_MINUTE: '60',
          KYCERT_RATE_LIMIT_WINDOW_SECONDS: '60',
          KYCERT_RATE_HEADROOM: '0.03',
          KYCERT_THROTTLE_THRESHOLD: '0.15',
          KYCERT_MAX_IN_FUNCTION_WAIT_MS: '1000',
          KYCERT_PAUSE_BUDGET_HOURS: '24',
          KYCERT_PROBE_BASE_SECONDS: '30',
          KYCERT_PROBE_MAX_SECONDS: '300',
          OUTCOME_TABLE_NAME: { Ref: tableId() },
          QUEUE_URL: { Ref: queueId() },
          DEAD_LETTER_QUEUE_URL: { Ref: deadLetterQueueId() },
          MAX_ATTEMPTS: '12',
          MAX_RECEIVE_COUNT: '500',
          BACKOFF_BASE_SECONDS: '1',
          BACKOFF_MAX_SECONDS: '900',
          IDEMPOTENCY_WINDOW_HOURS: '22',
          HTTP_CONNECT_TIMEOUT_MS: '3000',
          HTTP_TIMEOUT_MS: '10000',
          OUTCOME_TTL_DAYS: '30',
          QUEUE_VISIBILITY_TIMEOUT_SECONDS: '360',
          QUEUE_RETENTION_SECONDS: '345600',
          STATUS_CHECK_QUEUE_URL: { Ref: checksQueueId() },
          STATUS_CHECK_MAX_INTERVAL_SECONDS: '900',
          STATUS_CHECK_DEFAULT_FIRST_DELAY_SECONDS: '10',
          DECISION_OVERDUE_HOURS: '24',
          KYCERT_QUEUE_STAGE: 'dev',
          POWERTOOLS_SERVICE_NAME: 'kycert-queue',
          POWERTOOLS_METRICS_NAMESPACE: 'KycertQueue',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('is fed by the main queue one record at a time, two invocations at most, reporting item failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId(), 'Arn'] },
      FunctionName: { Ref: workerFunctionId() },
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('is fed by the status checks’ queue with the same sizing', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [checksQueueId(), 'Arn'] },
      FunctionName: { Ref: workerFunctionId() },
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  });

  it('reserves the concurrency its two event sources may run together, 2 + 2', () =>
    worker({ ReservedConcurrentExecutions: 4 }));

  it('has no batching window: a window would only add latency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumBatchingWindowInSeconds: Match.absent(),
    });
  });

  it.each([
    ['worker', workerFunctionId],
    ['API key age check', ageCheckFunctionId],
  ])('the %s writes to its own log group, kept 90 days and retained', (_name, functionId) => {
    const logGroup = template.toJSON().Resources[logGroupOf(functionId()).LogGroup.Ref] as Resource;
    expect(logGroup).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 90 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it.each([
    ['worker', workerFunctionId],
    ['API key age check', ageCheckFunctionId],
  ])('the %s bundle is an ESM file that loads in a plain Node process', async (_name, functionId) => {
    const code = (template.toJSON().Resources[functionId()] as Resource).Properties.Code as { S3Key: string };
    const bundle = join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`, 'index.mjs');
    // A separate Node process, as in Lambda: the test runner's own module loader would supply a `require`.
    const result = await execFileAsync(process.execPath, [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(pathToFileURL(bundle).href)}); console.log(typeof m.handler);`,
    ]).catch((error: { stderr?: string }) => ({
      stdout: '',
      // Only the error lines: the rest of stderr quotes the minified bundle.
      stderr: (error.stderr ?? String(error))
        .split('\n')
        .filter((line) => /^\w*Error/.test(line))
        .join('\n'),
    }));
    expect(result.stderr).toEqual('');
    expect(result.stdout.trim()).toBe('function');
  });
});

describe('API key age check', () => {
  it('runs every hour, retried twice', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [ageCheckFunctionId(), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 2 },
        }),
      ],
    });
  });

  it('describes the stack’s secret and emits its metric with the stage', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('API key secret'),
      Runtime: 'nodejs24.x',
      Environment: {
        Variables: Match.objectLike({
          KYCERT_API_KEY_SECRET_ID: { Ref: secretId() },
          KYCERT_QUEUE_STAGE: 'dev',
          POWERTOOLS_METRICS_NAMESPACE: 'KycertQueue',
          POWERTOOLS_SERVICE_NAME: 'kycert-queue',
        }),
      },
    });
  });
});

/** The statements of a role's policies, as `resource → sorted actions` (conditions kept beside). */
function grantsOf(roleLogicalId: string): Record<string, string[]> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
    JSON.stringify(policy.Properties.Roles).includes(roleLogicalId),
  );
  const grants: Record<string, string[]> = {};
  for (const statement of policies.flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
  )) {
    expect(statement.Effect).toBe('Allow');
    for (const resource of [statement.Resource].flat()) {
      const key =
        JSON.stringify(resource) + (statement.Condition ? ` if ${JSON.stringify(statement.Condition)}` : '');
      grants[key] = [...(grants[key] ?? []), ...[statement.Action].flat().map(String)].sort();
    }
  }
  return grants;
}
const arnOf = (logicalId: string) => JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const refOf = (logicalId: string) => JSON.stringify({ Ref: logicalId });
/** The account's default bus, where the decision events go unless told otherwise. */
const DEFAULT_BUS_ARN = JSON.stringify({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':events:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':event-bus/default',
    ],
  ],
});

describe('least privilege', () => {
  it('the worker role holds exactly the calls the code makes, each on its one resource', () => {
    expect(grantsOf(roleId('worker'))).toEqual({
      [arnOf(queueId())]: [
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
      ],
      [arnOf(deadLetterQueueId())]: ['sqs:SendMessage'],
      [arnOf(checksQueueId())]: [
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
      ],
      [arnOf(tableId())]: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      [refOf(secretId())]: ['secretsmanager:GetSecretValue'],
      [DEFAULT_BUS_ARN]: ['events:PutEvents'],
      [arnOf(logGroupOf(workerFunctionId()).LogGroup.Ref)]: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    });
  });

  it('the age check role may describe the secret (not read it) and write its logs', () => {
    expect(grantsOf(roleId('API key age check'))).toEqual({
      [refOf(secretId())]: ['secretsmanager:DescribeSecret'],
      [arnOf(logGroupOf(ageCheckFunctionId()).LogGroup.Ref)]: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    });
  });

  it('nothing is granted on "*"', () => {
    const statements = Object.values({
      ...template.findResources('AWS::IAM::Policy'),
      ...template.findResources('AWS::IAM::ManagedPolicy'),
    }).flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    const actionsOnStar = statements
      .filter((statement) => [statement.Resource].flat().includes('*'))
      .flatMap((statement) => [statement.Action].flat());
    expect(actionsOnStar).toEqual([]);
  });

  it.each(['worker', 'API key age check'])('the %s role carries no AWS managed policy', (description) => {
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: Match.stringLikeRegexp(description),
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      },
      ManagedPolicyArns: Match.absent(),
    });
  });

  it('grantSendRequests lets a producer send to the queue', () => {
    const producerRole = logicalIdOf('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'ecs-tasks.amazonaws.com' } })],
      },
    });
    expect(grantsOf(producerRole)).toEqual({
      [arnOf(queueId())]: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
    });
  });

  it('the producer managed policy allows sending to the queue only', () => {
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
            Resource: { 'Fn::GetAtt': [queueId(), 'Arn'] },
          },
        ],
      },
    });
  });
});

describe('outcome table', () => {
  it('is on-demand', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', { BillingMode: 'PAY_PER_REQUEST' });
  });

  it('has point-in-time recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('expires items on expires_at', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
    });
  });

  it('has deletion protection', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
  });

  it('is retained when the stack is deleted or the table replaced', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('API key secret', () => {
  it('is created with a generated placeholder: no key in the template', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true },
      SecretString: Match.absent(),
    });
  });

  it('is retained when the stack is deleted or the secret replaced, so the real key survives', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });
});

describe('alarm topic', () => {
  it('refuses publishing without TLS, and allows only this account’s kycert-queue-dev alarms to publish', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId() }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'AllowPublishThroughSSLOnly',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sns:Publish',
            Resource: { Ref: topicId() },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
          {
            Sid: 'AllowThisStacksAlarmsToPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: topicId() },
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':cloudwatch:',
                      { Ref: 'AWS::Region' },
                      ':',
                      { Ref: 'AWS::AccountId' },
                      ':alarm:kycert-queue-dev-*',
                    ],
                  ],
                },
              },
            },
          },
        ],
      },
    });
  });

  it('is not encrypted with the AWS-managed aws/sns key, which CloudWatch cannot use', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.absent() });
  });
});

describe('alarms', () => {
  const alarmProperties = (suffix: string) => {
    const found = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { AlarmName: `kycert-queue-dev-${suffix}` },
      }),
    );
    expect(found, `alarm kycert-queue-dev-${suffix}`).toHaveLength(1);
    return (found[0] as Resource).Properties as Record<string, unknown>;
  };
  /** The period of an alarm: its own, or that of the metrics its expression reads (all the same). */
  const periodOf = (alarm: Record<string, unknown>) => {
    if (alarm.Period !== undefined) return alarm.Period;
    const periods = new Set(
      (alarm.Metrics as Array<{ MetricStat?: { Period: number } }>).flatMap((query) =>
        query.MetricStat ? [query.MetricStat.Period] : [],
      ),
    );
    expect(periods.size).toBe(1);
    return [...periods][0];
  };

  // name, threshold, comparison, period (s), evaluation periods, datapoints to alarm, missing data
  const documented: Array<[string, number, string, number, number, number, string]> = [
    ['dlq-messages-arrived', 1, 'GreaterThanOrEqualToThreshold', 60, 5, 1, 'notBreaching'],
    ['dlq-not-empty', 1, 'GreaterThanOrEqualToThreshold', 60, 1, 1, 'notBreaching'],
    ['dlq-oldest-message-age', 864_000, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['queue-oldest-message-age', 900, 'GreaterThanThreshold', 300, 1, 1, 'notBreaching'],
    ['function-errors', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['function-throttles', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['function-duration-near-timeout', 48_000, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['unexpected-errors', 1, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['kycert-rate-limited', 10, 'GreaterThanOrEqualToThreshold', 300, 3, 3, 'notBreaching'],
    ['kycert-server-or-network-errors', 10, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['kycert-authentication-failures', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['kycert-account-blocked', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['api-key-unset', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['status-checks-dlq-not-empty', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['decision-overdue', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['kycert-runs-failed', 10, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['kycert-run-not-found', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['outcome-table-throttles', 1, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['outcome-index-throttles', 1, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['outcome-table-system-errors', 1, 'GreaterThanOrEqualToThreshold', 300, 3, 2, 'notBreaching'],
    ['alarm-notifications-failed', 1, 'GreaterThanOrEqualToThreshold', 300, 1, 1, 'notBreaching'],
    ['api-key-age', 90, 'GreaterThanOrEqualToThreshold', 86_400, 1, 1, 'breaching'],
  ];

  it('the stack has exactly the documented alarms', () => {
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties.AlarmName,
    );
    expect(names.sort()).toEqual(documented.map(([name]) => `kycert-queue-dev-${name}`).sort());
  });

  it.each(documented)(
    '%s: threshold %s (%s), period %s s, %s evaluation period(s), %s to alarm, missing data %s',
    (name, threshold, comparison, periodSeconds, evaluationPeriods, datapointsToAlarm, treatMissingData) => {
      const alarm = alarmProperties(name);
      expect({
        threshold: alarm.Threshold,
        comparison: alarm.ComparisonOperator,
        period: periodOf(alarm),
        evaluationPeriods: alarm.EvaluationPeriods,
        datapointsToAlarm: alarm.DatapointsToAlarm,
        treatMissingData: alarm.TreatMissingData,
      }).toEqual({
        threshold,
        comparison,
        period: periodSeconds,
        evaluationPeriods,
        datapointsToAlarm,
        treatMissingData,
      });
    },
  );

  it.each(documented.map(([name]) => name))(
    '%s notifies the topic into and out of ALARM and links its runbook entry',
    (name) => {
      const alarm = alarmProperties(name);
      expect(alarm.AlarmActions).toEqual([{ Ref: topicId() }]);
      expect(alarm.OKActions).toEqual([{ Ref: topicId() }]);
      expect(alarm.AlarmDescription).toMatch(new RegExp(`Runbook: docs/operations\\.md#${name}$`));
    },
  );

  const queueDimensions = (logicalId: string) => [
    { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId, 'QueueName'] } },
  ];
  const prodWorkerDimensions = [
    { Name: 'service', Value: 'kycert-queue' },
    { Name: 'stage', Value: 'dev' },
  ];
  const metricStat = (id: string, namespace: string, metricName: string, dimensions: unknown, stat: string) =>
    expect.objectContaining({
      Id: id,
      MetricStat: expect.objectContaining({
        Metric: { Namespace: namespace, MetricName: metricName, Dimensions: dimensions },
        Stat: stat,
      }),
    });

  it('dlq-messages-arrived: sends to the DLQ, or a rise of its total (visible + in flight)', () => {
    expect(alarmProperties('dlq-messages-arrived').Metrics).toEqual([
      expect.objectContaining({
        Expression: 'MAX([FILL(sent, 0), DIFF(FILL(visible, REPEAT) + FILL(inFlight, REPEAT))])',
        ReturnData: true,
      }),
      expect.objectContaining({
        Id: 'sent',
        MetricStat: expect.objectContaining({
          Metric: {
            Namespace: 'AWS/SQS',
            MetricName: 'NumberOfMessagesSent',
            Dimensions: queueDimensions(deadLetterQueueId()),
          },
          Stat: 'Sum',
        }),
      }),
      expect.objectContaining({
        Id: 'visible',
        MetricStat: expect.objectContaining({
          Metric: expect.objectContaining({
            MetricName: 'ApproximateNumberOfMessagesVisible',
            Dimensions: queueDimensions(deadLetterQueueId()),
          }),
          Stat: 'Maximum',
        }),
      }),
      expect.objectContaining({
        Id: 'inFlight',
        MetricStat: expect.objectContaining({
          Metric: expect.objectContaining({
            MetricName: 'ApproximateNumberOfMessagesNotVisible',
            Dimensions: queueDimensions(deadLetterQueueId()),
          }),
          Stat: 'Maximum',
        }),
      }),
    ]);
  });

  it.each([
    ['dlq-not-empty', 'ApproximateNumberOfMessagesVisible', deadLetterQueueId],
    ['dlq-oldest-message-age', 'ApproximateAgeOfOldestMessage', deadLetterQueueId],
    ['queue-oldest-message-age', 'ApproximateAgeOfOldestMessage', queueId],
  ])('%s reads %s of its queue (Maximum)', (name, metricName, logicalId) => {
    expect(alarmProperties(name)).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: metricName,
      Dimensions: queueDimensions(logicalId()),
      Statistic: 'Maximum',
    });
  });

  it.each([
    ['function-errors', 'Errors', { Statistic: 'Sum' }],
    ['function-throttles', 'Throttles', { Statistic: 'Sum' }],
    ['function-duration-near-timeout', 'Duration', { ExtendedStatistic: 'p99' }],
  ])('%s reads the worker’s %s', (name, metricName, statistic) => {
    expect(alarmProperties(name)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: workerFunctionId() } }],
      ...statistic,
    });
  });

  it.each([
    ['kycert-authentication-failures', 'AuthenticationFailures', 'Sum'],
    ['unexpected-errors', 'UnexpectedErrors', 'Sum'],
    ['api-key-age', 'ApiKeyDaysSinceLastChange', 'Maximum'],
  ])('%s reads this stage’s %s', (name, metricName, statistic) => {
    expect(alarmProperties(name)).toMatchObject({
      Namespace: 'KycertQueue',
      MetricName: metricName,
      Dimensions: prodWorkerDimensions,
      Statistic: statistic,
    });
  });

  it('kycert-rate-limited: 429s as a share of POSTs, quiet under 5 POSTs, this stage only', () => {
    expect(alarmProperties('kycert-rate-limited').Metrics).toEqual([
      expect.objectContaining({ Expression: 'IF(FILL(posts, 0) >= 5, 100 * (FILL(limited, 0)) / posts, 0)' }),
      metricStat('posts', 'KycertQueue', 'KycertLatency', prodWorkerDimensions, 'SampleCount'),
      metricStat('limited', 'KycertQueue', 'RetriedRateLimited', prodWorkerDimensions, 'Sum'),
    ]);
  });

  it('kycert-server-or-network-errors: 5xx and network errors as a share of POSTs, this stage only', () => {
    expect(alarmProperties('kycert-server-or-network-errors').Metrics).toEqual([
      expect.objectContaining({
        Expression: 'IF(FILL(posts, 0) >= 5, 100 * (FILL(server, 0) + FILL(network, 0)) / posts, 0)',
      }),
      metricStat('posts', 'KycertQueue', 'KycertLatency', prodWorkerDimensions, 'SampleCount'),
      metricStat('server', 'KycertQueue', 'RetriedServerError', prodWorkerDimensions, 'Sum'),
      metricStat('network', 'KycertQueue', 'RetriedNetworkError', prodWorkerDimensions, 'Sum'),
    ]);
  });

  it('kycert-account-blocked: account-level refusals and messages paused for them, this stage only', () => {
    expect(alarmProperties('kycert-account-blocked').Metrics).toEqual([
      expect.objectContaining({ Expression: 'FILL(blocked, 0) + FILL(paused, 0)' }),
      metricStat('blocked', 'KycertQueue', 'AccountBlocked', prodWorkerDimensions, 'Sum'),
      metricStat('paused', 'KycertQueue', 'PausedForAccount', prodWorkerDimensions, 'Sum'),
    ]);
  });

  it('api-key-unset reads ApiKeyUnset of this stage', () => {
    expect(alarmProperties('api-key-unset')).toMatchObject({
      Namespace: 'KycertQueue',
      MetricName: 'ApiKeyUnset',
      Dimensions: prodWorkerDimensions,
      Statistic: 'Sum',
    });
  });

  it('status-checks-dlq-not-empty reads the status checks’ DLQ', () => {
    expect(alarmProperties('status-checks-dlq-not-empty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: queueDimensions(checksDeadLetterQueueId()),
    });
  });

  it.each([
    ['decision-overdue', 'DecisionOverdue'],
    ['kycert-run-not-found', 'RunNotFound'],
  ])('%s reads this stage’s %s', (name, metricName) => {
    expect(alarmProperties(name)).toMatchObject({
      Namespace: 'KycertQueue',
      MetricName: metricName,
      Dimensions: prodWorkerDimensions,
      Statistic: 'Sum',
    });
  });

  it('kycert-runs-failed: failed runs as a share of decided runs, quiet under 5 decisions, this stage only', () => {
    expect(alarmProperties('kycert-runs-failed').Metrics).toEqual([
      expect.objectContaining({
        Expression: 'IF(FILL(decided, 0) >= 5, 100 * FILL(failed, 0) / decided, 0)',
      }),
      metricStat('decided', 'KycertQueue', 'Decided', prodWorkerDimensions, 'Sum'),
      metricStat(
        'failed',
        'KycertQueue',
        'Decided',
        [{ Name: 'run_status', Value: 'failed' }, ...prodWorkerDimensions],
        'Sum',
      ),
    ]);
  });

  it('outcome-table-throttles: read and write throttle events', () => {
    const dimensions = [{ Name: 'TableName', Value: { Ref: tableId() } }];
    expect(alarmProperties('outcome-table-throttles').Metrics).toEqual([
      expect.objectContaining({ Expression: 'FILL(read, 0) + FILL(write, 0)' }),
      metricStat('read', 'AWS/DynamoDB', 'ReadThrottleEvents', dimensions, 'Sum'),
      metricStat('write', 'AWS/DynamoDB', 'WriteThrottleEvents', dimensions, 'Sum'),
    ]);
  });

  it('outcome-index-throttles: read and write throttle events of both indexes, by-run-id and by-list-status', () => {
    const dimensions = (indexName: string) => [
      { Name: 'GlobalSecondaryIndexName', Value: indexName },
      { Name: 'TableName', Value: { Ref: tableId() } },
    ];
    expect(alarmProperties('outcome-index-throttles').Metrics).toEqual([
      expect.objectContaining({
        Expression: 'FILL(read0, 0) + FILL(write0, 0) + FILL(read1, 0) + FILL(write1, 0)',
      }),
      metricStat('read0', 'AWS/DynamoDB', 'ReadThrottleEvents', dimensions('by-run-id'), 'Sum'),
      metricStat('write0', 'AWS/DynamoDB', 'WriteThrottleEvents', dimensions('by-run-id'), 'Sum'),
      metricStat('read1', 'AWS/DynamoDB', 'ReadThrottleEvents', dimensions('by-list-status'), 'Sum'),
      metricStat('write1', 'AWS/DynamoDB', 'WriteThrottleEvents', dimensions('by-list-status'), 'Sum'),
    ]);
  });

  it('outcome-table-system-errors: the worker’s GetItem and UpdateItem, and the CLI’s Query', () => {
    const dimensions = (operation: string) => [
      { Name: 'Operation', Value: operation },
      { Name: 'TableName', Value: { Ref: tableId() } },
    ];
    expect(alarmProperties('outcome-table-system-errors').Metrics).toEqual([
      expect.objectContaining({ Expression: 'FILL(getitem, 0) + FILL(updateitem, 0) + FILL(query, 0)' }),
      metricStat('getitem', 'AWS/DynamoDB', 'SystemErrors', dimensions('GetItem'), 'Sum'),
      metricStat('updateitem', 'AWS/DynamoDB', 'SystemErrors', dimensions('UpdateItem'), 'Sum'),
      metricStat('query', 'AWS/DynamoDB', 'SystemErrors', dimensions('Query'), 'Sum'),
    ]);
  });

  it('alarm-notifications-failed reads the alarm topic’s failed deliveries', () => {
    expect(alarmProperties('alarm-notifications-failed')).toMatchObject({
      Namespace: 'AWS/SNS',
      MetricName: 'NumberOfNotificationsFailed',
      Dimensions: [{ Name: 'TopicName', Value: { 'Fn::GetAtt': [topicId(), 'TopicName'] } }],
      Statistic: 'Sum',
    });
  });
});

describe('dashboard', () => {
  const body = () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]?.Properties.DashboardName).toBe('kycert-queue-dev');
    return JSON.stringify(dashboards[0]?.Properties.DashboardBody);
  };

  it('shows flow, queue age, DLQ depth and age, decisions, kycert latency, the table and the key age', () => {
    const text = body();
    for (const expected of [
      'NumberOfMessagesSent',
      'NumberOfMessagesDeleted',
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesVisible',
      'Succeeded',
      'RetriedRateLimited',
      'RetriedServerError',
      'RetriedNetworkError',
      'RetriedInProgress',
      'DeferredForRateBudget',
      'AccountBlocked',
      'PausedForAccount',
      'ApiKeyUnset',
      'FencedWrites',
      'DeadLettered',
      'DuplicateDeliveries',
      'AuthenticationFailures',
      'UnexpectedErrors',
      'KycertLatency',
      'ApiKeyDaysSinceLastChange',
      'ReadThrottleEvents',
      'WriteThrottleEvents',
      'SystemErrors',
      'p99',
    ]) {
      expect(text).toContain(expected);
    }
  });

  it('reads this stage’s worker series only', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as [Resource];
    const parts = (dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const widgets = (
      JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'token')).join('')) as {
        widgets: Array<{ properties: { metrics?: unknown[][] } }>;
      }
    ).widgets;
    const metrics = widgets.flatMap((widget) => widget.properties.metrics ?? []);
    const workerSeries = metrics.filter((metric) => metric[0] === 'KycertQueue');
    expect(workerSeries.length).toBeGreaterThan(10);
    for (const series of workerSeries) {
      expect(series.slice(2, 6), String(series[1])).toEqual(['service', 'kycert-queue', 'stage', 'dev']);
    }
    const searches = metrics.flatMap((metric) =>
      metric.flatMap((entry) =>
        typeof entry === 'object' && entry && 'expression' in entry ? [entry.expression] : [],
      ),
    );
    expect(searches).toEqual([
      `SEARCH('{KycertQueue,reason,service,stage} MetricName="DeadLettered" service="kycert-queue" stage="dev"', 'Sum', 300)`,
      `SEARCH('{KycertQueue,run_status,service,stage} MetricName="Decided" service="kycert-queue" stage="dev"', 'Sum', 300)`,
    ]);
  });

  it('shows the run decisions by kind (Decided by run_status) and the time to decision at p50, p90 and p99', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as [Resource];
    const parts = (dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const widgets = (
      JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'token')).join('')) as {
        widgets: Array<{ properties: { title?: string; metrics?: unknown[][] } }>;
      }
    ).widgets;
    const byTitle = (title: string) => widgets.find((widget) => widget.properties.title?.startsWith(title));
    expect(JSON.stringify(byTitle('Run decisions by kind')?.properties.metrics)).toContain(
      'MetricName=\\"Decided\\"',
    );
    expect(
      byTitle('Time to decision')?.properties.metrics?.map((metric) => [
        metric[1],
        (metric.at(-1) as { stat: string }).stat,
      ]),
    ).toEqual([
      ['TimeToDecision', 'p50'],
      ['TimeToDecision', 'p90'],
      ['TimeToDecision', 'p99'],
    ]);
  });
});

describe('outputs', () => {
  const webhookOutputs: string[] = [StackOutputs.webhookUrl, StackOutputs.webhookSecretArn];
  it.each(Object.values(StackOutputs).filter((key) => !webhookOutputs.includes(key)))('exports %s', (key) => {
    expect(Object.keys(template.findOutputs(key))).toEqual([key]);
  });

  it.each(webhookOutputs)(
    'does not export %s: webhooks are off by default (test/stackWebhooks.test.ts)',
    (key) => {
      expect(template.findOutputs(key)).toEqual({});
    },
  );

  it('exports the default bus as the decision events’ bus', () => {
    expect(template.findOutputs('DecisionEventBusArn').DecisionEventBusArn?.Value).toEqual(
      JSON.parse(DEFAULT_BUS_ARN),
    );
  });
});

describe('webhooks off by default', () => {
  it('creates no Function URL, no receiver and no second secret', () => {
    template.resourceCountIs('AWS::Lambda::Url', 0);
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    expect(
      Object.keys(
        template.findResources('AWS::Lambda::Function', {
          Properties: { Description: Match.stringLikeRegexp('webhooks') },
        }),
      ),
    ).toEqual([]);
  });

  it('tells the worker where decisions go and that no webhooks come', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          QUEUE_URL: Match.anyValue(),
          DECISION_EVENT_BUS_NAME: JSON.parse(DEFAULT_BUS_ARN),
          KYCERT_WEBHOOKS_ENABLED: 'false',
        }),
      },
    });
  });
});

describe('outcome table indexes', () => {
  it('by-run-id: sparse on run_id, keys only (the webhook receiver finds a run’s key)', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: 'by-run-id',
          KeySchema: [{ AttributeName: 'run_id', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ]),
    });
  });

  it('by-list-status: sparse and sharded on list_status, newest first by updated_at, only what list shows', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: 'by-list-status',
          KeySchema: [
            { AttributeName: 'list_status', KeyType: 'HASH' },
            { AttributeName: 'updated_at', KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: [
              'status',
              'attempts',
              'last_http_status',
              'last_error_code',
              'last_error_message',
              'dead_letter_reason',
              'retry_cause',
              'run_id',
              'superseded_by',
              'external_id',
              'template_id',
              'run_status',
              'decision',
              'risk_band',
              'completed_at',
              'failed_at',
              'decided_at',
              'parked_run_id',
            ],
          },
        },
      ]),
    });
  });

  it('has those two and no by-status any more', () => {
    const [table] = Object.values(template.findResources('AWS::DynamoDB::Table'));
    expect(
      ((table?.Properties.GlobalSecondaryIndexes ?? []) as Array<{ IndexName: string }>).map(
        (index) => index.IndexName,
      ),
    ).toEqual(['by-run-id', 'by-list-status']);
  });
});
