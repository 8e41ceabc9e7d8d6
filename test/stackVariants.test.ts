import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { consumerConcurrencyFor } from '../lib/consumerConcurrency.js';
import { KycertQueue, type KycertQueueProps } from '../lib/kycertQueue.js';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';

/**
 * Props other than the defaults. Bundling is skipped here (`aws:cdk:bundling-stacks`): stack.test.ts already
 * bundles the real handler, and these tests are about the template.
 */
function synth(props: KycertQueueProps): { template: Template; stack: KycertQueueStack } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new KycertQueueStack(app, 'variant', { kycertQueue: props });
  return { template: Template.fromStack(stack), stack };
}

function construct(props: KycertQueueProps): () => KycertQueue {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return () => new KycertQueue(new Stack(app, 'invalid'), 'KycertQueue', props);
}

/** Every statement of every IAM policy in the template. */
function statements(template: Template): Array<Record<string, unknown>> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
  );
}

describe('an existing secret, by name', () => {
  const { template } = synth({ apiKeySecretName: 'team/kycert-api-key' });
  const byNameArn = {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':secretsmanager:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ':secret:team/kycert-api-key-??????',
      ],
    ],
  };

  it('creates no secret and tells the worker the name', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          KYCERT_API_KEY_SECRET_ID: 'team/kycert-api-key',
          QUEUE_URL: Match.anyValue(),
        }),
      },
    });
  });

  it('the worker may read that secret only, the age check describe it only (its ARN ends in six random characters)', () => {
    const onSecret = statements(template).filter((statement) =>
      JSON.stringify(statement).includes(':secret:'),
    );
    expect(onSecret).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: byNameArn },
      { Effect: 'Allow', Action: 'secretsmanager:DescribeSecret', Resource: byNameArn },
    ]);
  });
});

describe('an existing secret, by ARN', () => {
  const arn = 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-api-key-AbCdEf';
  const { template } = synth({ apiKeySecretArn: arn });

  it('creates no secret and tells the worker and the age check the ARN', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions.map((fn) => fn.Properties.Environment.Variables.KYCERT_API_KEY_SECRET_ID)).toEqual([
      arn,
      arn,
    ]);
  });

  it('grants on exactly that ARN', () => {
    const onSecret = statements(template).filter((statement) =>
      JSON.stringify(statement).includes(':secret:'),
    );
    expect(onSecret).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: arn },
      { Effect: 'Allow', Action: 'secretsmanager:DescribeSecret', Resource: arn },
    ]);
  });
});

describe('a secret under a customer-managed KMS key', () => {
  const keyArn = 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const decrypt = {
    Effect: 'Allow',
    Action: 'kms:Decrypt',
    Resource: keyArn,
    Condition: {
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    },
  };

  it('an existing secret: the worker may decrypt with the key through Secrets Manager only', () => {
    const { template } = synth({ apiKeySecretName: 'team/kycert-api-key', apiKeySecretKmsKeyArn: keyArn });
    expect(statements(template).filter((statement) => JSON.stringify(statement).includes('kms:'))).toEqual([
      decrypt,
    ]);
  });

  it('a new secret is encrypted with the key, and the worker may decrypt with it', () => {
    const { template } = synth({ apiKeySecretKmsKeyArn: keyArn });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: keyArn });
    expect(statements(template).filter((statement) => JSON.stringify(statement).includes('kms:'))).toEqual([
      decrypt,
    ]);
  });

  it('without the prop, nothing about KMS is granted (the aws/secretsmanager key needs no grant)', () => {
    const { template } = synth({});
    expect(statements(template).filter((statement) => JSON.stringify(statement).includes('kms:'))).toEqual(
      [],
    );
  });
});

describe('stages in one account', () => {
  /** Every custom-metric series an alarm reads, as `MetricName service=… stage=…`. */
  const customSeries = (template: Template) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm')).flatMap((alarm) => {
      const properties = alarm.Properties;
      const metrics: Array<{
        Namespace?: string;
        MetricName?: string;
        Dimensions?: Array<{ Name: string; Value: string }>;
      }> =
        properties.Metrics === undefined
          ? [properties]
          : properties.Metrics.flatMap((query: { MetricStat?: { Metric: unknown } }) =>
              query.MetricStat ? [query.MetricStat.Metric] : [],
            );
      return metrics
        .filter((metric) => metric.Namespace === 'KycertQueue')
        .map(
          (metric) =>
            `${metric.MetricName} ${(metric.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(' ')}`,
        );
    });

  it('share no custom-metric alarm series: each stage reads its own stage dimension', () => {
    const prod = customSeries(synth({ stageName: 'prod' }).template);
    const staging = customSeries(synth({ stageName: 'staging' }).template);
    expect(prod.length).toBeGreaterThanOrEqual(6);
    expect(prod.every((series) => series.endsWith(' service=kycert-queue stage=prod'))).toBe(true);
    expect(staging.every((series) => series.endsWith(' service=kycert-queue stage=staging'))).toBe(true);
    expect(prod.filter((series) => staging.includes(series))).toEqual([]);
  });

  it('each stage’s topic takes only its own alarms', () => {
    const { template } = synth({ stageName: 'staging' });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: Match.objectLike({
              ArnLike: {
                'aws:SourceArn': { 'Fn::Join': ['', Match.arrayWith([':alarm:kycert-queue-staging-*'])] },
              },
            }),
          }),
        ]),
      },
    });
  });
});

describe('settings from props', () => {
  const { template } = synth({
    stageName: 'staging',
    maxAttempts: 5,
    rateLimitPerMinute: 600,
    kycertBaseUrl: 'https://sandbox.example.com/api/v1',
    kycertApiVersion: '2026-01-01',
    functionTimeout: Duration.seconds(90),
  });

  it('one maxAttempts drives the redrive policy and the worker', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 500 }),
      VisibilityTimeout: 6 * 90,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 90,
      Environment: {
        Variables: Match.objectLike({
          MAX_ATTEMPTS: '5',
          MAX_RECEIVE_COUNT: String(500),
          KYCERT_RATE_LIMIT_PER_MINUTE: '600',
          KYCERT_BASE_URL: 'https://sandbox.example.com/api/v1',
          KYCERT_API_VERSION: '2026-01-01',
        }),
      },
    });
  });

  it('the rate limit sizes the event source', () => {
    const expected = consumerConcurrencyFor({ rateLimitPerMinute: 600, secondsPerRecord: 1 });
    expect(expected).toMatchObject({ batchSize: 5, maxConcurrency: 2 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: expected.batchSize,
      ScalingConfig: { MaximumConcurrency: expected.maxConcurrency },
    });
  });

  it('the stage names the alarms and the dashboard', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'kycert-queue-staging-dlq-not-empty',
    });
    template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'kycert-queue-staging-requests' });
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'kycert-queue-staging' });
  });
});

describe('concurrency', () => {
  const workerOf = (template: Template) =>
    Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: Match.objectLike({ QUEUE_URL: Match.anyValue() }) } },
      }),
    )[0] as { Properties: Record<string, unknown> };

  it('at 6000/min: batches of 10, 10 invocations per event source, 20 reserved', () => {
    const { template } = synth({ rateLimitPerMinute: 6_000 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 10 },
    });
    expect(workerOf(template).Properties.ReservedConcurrentExecutions).toBe(20);
  });

  it('without status checks, one event source and its own concurrency reserved', () => {
    const { template } = synth({ followRuns: false });
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    expect(workerOf(template).Properties.ReservedConcurrentExecutions).toBe(2);
    expect(
      template.findResources('AWS::SQS::Queue', {
        Properties: { QueueName: Match.stringLikeRegexp('status-checks') },
      }),
    ).toEqual({});
  });

  it('reservedConcurrency false reserves none, for an account with no room to reserve', () => {
    const { template } = synth({ reservedConcurrency: false });
    expect(workerOf(template).Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('a reservedConcurrency below the event sources’ sum is refused at synth', () => {
    expect(() => synth({ reservedConcurrency: 3 })).toThrow(
      'reservedConcurrency 3 is below what the event sources may run together (4): Lambda would throttle their batches',
    );
  });
});

describe('alarm delivery', () => {
  it('subscribes the alarm e-mail to the topic', () => {
    const { template } = synth({ alarmEmail: 'oncall@example.com' });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });

  it('uses an existing topic instead of creating one, and leaves its policy and delivery alarm to its owner', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'existing-topic');
    const topic = Topic.fromTopicArn(stack, 'Paging', 'arn:aws:sns:sa-east-1:123456789012:paging');
    const kyc = new KycertQueue(stack, 'KycertQueue', { alarmTopic: topic });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::SNS::TopicPolicy', 0);
    expect(kyc.alarms.alarmNotificationsFailed).toBeUndefined();
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(21);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:sa-east-1:123456789012:paging']);
    }
  });
});

describe('props refused at synth', () => {
  it.each<[string, KycertQueueProps, RegExp]>([
    [
      'a plain-HTTP kycert URL',
      { kycertBaseUrl: 'http://kycert.example.com' },
      /kycertBaseUrl must be https only \(an https:\/\/ URL\)/,
    ],
    ['a non-integer attempt budget', { maxAttempts: 2.5 }, /maxAttempts must be a positive integer, got 2.5/],
    ['a zero rate limit', { rateLimitPerMinute: 0 }, /rateLimitPerMinute must be a positive integer, got 0/],
    [
      'a window longer than kycert keeps keys',
      { idempotencyWindowHours: 30 },
      /idempotencyWindowHours must be in \(0, 24\]/,
    ],
    ['a stage name with capitals', { stageName: 'Prod' }, /stageName "Prod" must match/],
    [
      'a function timeout shorter than two POSTs',
      { functionTimeout: Duration.seconds(20) },
      /function timeout 20 s is too short .* use at least 37 s/,
    ],
    [
      'an account pause budget reaching the queue retention',
      { queueRetention: Duration.days(1), idempotencyWindowHours: 12, accountPauseBudgetHours: 23.5 },
      /accountPauseBudgetHours \(23.5 h\) must stay below the queue retention less an hour \(23 h\)/,
    ],
    [
      'a secret ARN passed as a name',
      { apiKeySecretName: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf' },
      /apiKeySecretName "arn:aws:secretsmanager:.*" is an ARN, not a name: pass it as apiKeySecretArn/,
    ],
    [
      'a secret name with characters Secrets Manager refuses',
      { apiKeySecretName: 'team kycert key' },
      /apiKeySecretName "team kycert key" is not a Secrets Manager name/,
    ],
    [
      'a partial secret ARN (without the six characters)',
      { apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert' },
      /apiKeySecretArn must be a secret's complete ARN/,
    ],
    [
      'both a secret name and a secret ARN',
      {
        apiKeySecretName: 'team/kycert',
        apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf',
      },
      /set apiKeySecretName or apiKeySecretArn, not both/,
    ],
    [
      'a KMS alias instead of a key ARN',
      { apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:alias/kycert' },
      /apiKeySecretKmsKeyArn must be a KMS key ARN, .*\(not an alias\)/,
    ],
    [
      'a queue retention shorter than the idempotency window',
      { queueRetention: Duration.hours(12) },
      /queueRetention \(12 hours\) must outlast idempotencyWindowHours \(22 h\)/,
    ],
  ])('%s', (_name, props, message) => {
    expect(construct(props)).toThrow(message);
  });
});
