import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxReceiveCountFor, OutcomeTable } from '../functions/kycert-worker/constants.js';
import { METRICS_NAMESPACE, MetricName } from '../functions/kycert-worker/metricNames.js';
import { consumerConcurrencyFor } from '../lib/consumerConcurrency.js';
import { DEFAULT_SECONDS_PER_RECORD } from '../lib/kycertQueue.js';
import { AlarmName } from '../lib/kycertQueueMonitoring.js';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';
import { StackOutputs } from '../lib/stackOutputs.js';
import { WorkerFunctionDefaults } from '../lib/workerFunction.js';
import { DEFAULT_WORKER_SETTINGS } from '../lib/workerSettings.js';

const execFileAsync = promisify(execFile);

// One synthesis for the whole file, with the real esbuild bundle of the real handler.
let outdir: string;
let template: Template;
const DAY_SECONDS = 86_400;

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

const queueLogicalId = () => logicalIdOf('AWS::SQS::Queue', { RedrivePolicy: Match.anyValue() });
const deadLetterQueueLogicalId = () =>
  logicalIdOf('AWS::SQS::Queue', { MessageRetentionPeriod: 14 * DAY_SECONDS });
const functionLogicalId = () => logicalIdOf('AWS::Lambda::Function', { Runtime: 'nodejs24.x' });
const tableLogicalId = () => logicalIdOf('AWS::DynamoDB::Table', {});
const topicLogicalId = () => logicalIdOf('AWS::SNS::Topic', {});

function logicalIdOf(type: string, properties: Record<string, unknown>): string {
  const ids = Object.keys(template.findResources(type, { Properties: properties }));
  expect(ids, `exactly one ${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0] as string;
}

describe('queues', () => {
  it('main queue: SSE, kept 4 days, visibility 6 × the function timeout, redrive from MAX_ATTEMPTS', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 4 * DAY_SECONDS,
      VisibilityTimeout: 6 * WorkerFunctionDefaults.timeout.toSeconds(),
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueLogicalId(), 'Arn'] },
        maxReceiveCount: maxReceiveCountFor(DEFAULT_WORKER_SETTINGS.maxAttempts),
      },
    });
  });

  it('DLQ: SSE, kept 14 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * DAY_SECONDS,
      RedrivePolicy: Match.absent(),
    });
  });

  it.each([
    ['main queue', queueLogicalId],
    ['DLQ', deadLetterQueueLogicalId],
  ])('%s refuses requests without TLS', (_name, logicalId) => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('worker function', () => {
  it('runs nodejs24.x on arm64 with its timeout, memory and X-Ray tracing', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: WorkerFunctionDefaults.timeout.toSeconds(),
      MemorySize: WorkerFunctionDefaults.memorySizeMb,
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('gets its environment from the props and the resources, and no API key', () => {
    const defaults = DEFAULT_WORKER_SETTINGS;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          KYCERT_BASE_URL: defaults.kycertBaseUrl,
          KYCERT_API_KEY_SECRET_ID: { Ref: logicalIdOf('AWS::SecretsManager::Secret', {}) },
          KYCERT_API_KEY: Match.absent(),
          KYCERT_API_KEY_CACHE_SECONDS: String(defaults.apiKeyCacheSeconds),
          KYCERT_RATE_LIMIT_PER_MINUTE: String(defaults.rateLimitPerMinute),
          OUTCOME_TABLE_NAME: { Ref: tableLogicalId() },
          QUEUE_URL: { Ref: queueLogicalId() },
          DEAD_LETTER_QUEUE_URL: { Ref: deadLetterQueueLogicalId() },
          MAX_ATTEMPTS: String(defaults.maxAttempts),
          MAX_RECEIVE_COUNT: String(maxReceiveCountFor(defaults.maxAttempts)),
          BACKOFF_BASE_SECONDS: String(defaults.backoffBaseSeconds),
          BACKOFF_MAX_SECONDS: String(defaults.backoffMaxSeconds),
          IDEMPOTENCY_WINDOW_HOURS: String(defaults.idempotencyWindowHours),
          HTTP_CONNECT_TIMEOUT_MS: String(defaults.httpConnectTimeoutMs),
          HTTP_TIMEOUT_MS: String(defaults.httpTimeoutMs),
          OUTCOME_TTL_DAYS: String(defaults.outcomeTtlDays),
          POWERTOOLS_SERVICE_NAME: 'kycert-queue',
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        },
      },
    });
  });

  it('is fed by the main queue in batches sized from the rate limit, reporting item failures', () => {
    const expected = consumerConcurrencyFor({
      rateLimitPerMinute: DEFAULT_WORKER_SETTINGS.rateLimitPerMinute,
      secondsPerRecord: DEFAULT_SECONDS_PER_RECORD,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueLogicalId(), 'Arn'] },
      FunctionName: { Ref: functionLogicalId() },
      BatchSize: expected.batchSize,
      ScalingConfig: { MaximumConcurrency: expected.maxConcurrency },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('writes to its own log group, kept three months', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: logicalIdOf('AWS::Logs::LogGroup', {}) } },
    });
  });

  it('bundles into an ESM file that loads in a plain Node process (createRequire banner)', async () => {
    const assetDirs = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    expect(assetDirs).toHaveLength(1);
    const bundle = join(outdir, assetDirs[0] as string, 'index.mjs');
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

describe('least privilege', () => {
  it('the worker may consume and change visibility on its queue, send to its DLQ, write its table, read its secret', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalIdOf('AWS::IAM::Role', { Description: Match.stringLikeRegexp('worker') }) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith([
              'sqs:ReceiveMessage',
              'sqs:ChangeMessageVisibility',
              'sqs:DeleteMessage',
            ]),
            Resource: { 'Fn::GetAtt': [queueLogicalId(), 'Arn'] },
          }),
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Resource: { 'Fn::GetAtt': [deadLetterQueueLogicalId(), 'Arn'] },
          }),
          Match.objectLike({
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': [tableLogicalId(), 'Arn'] },
          }),
          Match.objectLike({
            Action: 'secretsmanager:GetSecretValue',
            Resource: { Ref: logicalIdOf('AWS::SecretsManager::Secret', {}) },
          }),
        ]),
      },
    });
  });

  it('nothing is granted on "*" except X-Ray, which has no resource-level permissions', () => {
    const statements = Object.values({
      ...template.findResources('AWS::IAM::Policy'),
      ...template.findResources('AWS::IAM::ManagedPolicy'),
    }).flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    expect(statements.length).toBeGreaterThan(0);
    const onStar = statements.filter((statement) => [statement.Resource].flat().includes('*'));
    const actionsOnStar = onStar.flatMap((statement) => [statement.Action].flat());
    expect(actionsOnStar.every((action) => String(action).startsWith('xray:'))).toBe(true);
  });

  it('the worker role carries no AWS managed policy (AWSLambdaBasicExecutionRole logs to "*")', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
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
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: producerRole }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Resource: { 'Fn::GetAtt': [queueLogicalId(), 'Arn'] },
          }),
        ],
      },
    });
  });

  it('the producer managed policy allows sending to the queue only', () => {
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
            Resource: { 'Fn::GetAtt': [queueLogicalId(), 'Arn'] },
          },
        ],
      },
    });
  });
});

describe('outcome table', () => {
  it('is on-demand with point-in-time recovery, TTL and the by-status index', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: OutcomeTable.partitionKey, KeyType: 'HASH' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: OutcomeTable.ttlAttribute, Enabled: true },
      DeletionProtectionEnabled: true,
      GlobalSecondaryIndexes: [
        {
          IndexName: OutcomeTable.statusIndexName,
          KeySchema: [
            { AttributeName: OutcomeTable.statusIndexPartitionKey, KeyType: 'HASH' },
            { AttributeName: OutcomeTable.statusIndexSortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('is retained when the stack is deleted or the table replaced', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('API key secret', () => {
  it('is created with a generated placeholder: no key in the template', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 32 }),
      SecretString: Match.absent(),
    });
  });
});

describe('alarms', () => {
  // The default stage is dev: nothing is named production unless asked to be.
  const alarmNamed = (key: keyof typeof AlarmName) => `kycert-queue-dev-${AlarmName[key]}`;
  const workerDimensions = [{ Name: 'service', Value: 'kycert-queue' }];

  it('every alarm notifies the TLS-only topic, in and out of alarm', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(Object.keys(AlarmName).length);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicLogicalId() }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topicLogicalId() }]);
    }
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('DLQ has messages', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: alarmNamed('deadLetterQueueNotEmpty'),
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueLogicalId(), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('oldest message on the main queue older than 15 minutes', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: alarmNamed('oldestMessageAge'),
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueLogicalId(), 'QueueName'] } }],
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it.each([
    ['functionErrors', 'Errors'],
    ['functionThrottles', 'Throttles'],
  ] as const)('%s on the worker function', (key, metricName) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: alarmNamed(key),
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionLogicalId() } }],
      Threshold: 1,
    });
  });

  it.each([
    ['authenticationFailures', MetricName.authenticationFailures],
    ['unexpectedErrors', MetricName.unexpectedErrors],
  ] as const)('%s from the worker metric', (key, metricName) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: alarmNamed(key),
      Namespace: METRICS_NAMESPACE,
      MetricName: metricName,
      Dimensions: workerDimensions,
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('429s as a share of POSTs, sustained over three periods', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: alarmNamed('rateLimited'),
      Threshold: 10,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(FILL(posts, 0) >= 5, 100 * (FILL(limited, 0)) / posts, 0)' }),
        Match.objectLike({
          Id: 'posts',
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: METRICS_NAMESPACE,
              MetricName: MetricName.kycertLatency,
              Dimensions: workerDimensions,
            },
            Stat: 'SampleCount',
          }),
        }),
        Match.objectLike({
          Id: 'limited',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              MetricName: MetricName.retriedRateLimited,
              Dimensions: workerDimensions,
            }),
          }),
        }),
      ]),
    });
  });

  it('5xx and network errors as a share of POSTs, in two of three periods', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: alarmNamed('serverOrNetworkErrors'),
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression: 'IF(FILL(posts, 0) >= 5, 100 * (FILL(server, 0) + FILL(network, 0)) / posts, 0)',
        }),
        Match.objectLike({
          Id: 'server',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: MetricName.retriedServerError }),
          }),
        }),
        Match.objectLike({
          Id: 'network',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: MetricName.retriedNetworkError }),
          }),
        }),
      ]),
    });
  });
});

describe('dashboard', () => {
  it('shows flow, queue age, DLQ depth, decisions by kind and kycert latency', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]?.Properties.DashboardName).toBe('kycert-queue-dev');
    const body = JSON.stringify(dashboards[0]?.Properties.DashboardBody);
    for (const expected of [
      'NumberOfMessagesSent',
      'NumberOfMessagesDeleted',
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesVisible',
      ...Object.values(MetricName),
      'p99',
    ]) {
      expect(body).toContain(expected);
    }
  });
});

describe('outputs', () => {
  it.each(Object.values(StackOutputs))('exports %s', (key) => {
    expect(Object.keys(template.findOutputs(key))).toEqual([key]);
  });
});
