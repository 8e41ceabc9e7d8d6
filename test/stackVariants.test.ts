import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { maxReceiveCountFor } from '../functions/kycert-worker/constants.js';
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

describe('an existing secret, by name', () => {
  const { template } = synth({ apiKeySecretName: 'team/kycert-api-key' });

  it('creates no secret and tells the worker the name', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ KYCERT_API_KEY_SECRET_ID: 'team/kycert-api-key' }) },
    });
  });

  it('grants GetSecretValue on that secret only (its ARN ends in six random characters)', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([Match.stringLikeRegexp(':secret:team/kycert-api-key-\\?\\?\\?\\?\\?\\?$')]),
              ],
            },
          },
        ]),
      },
    });
  });
});

describe('settings from props', () => {
  const { template, stack } = synth({
    stageName: 'staging',
    maxAttempts: 5,
    rateLimitPerMinute: 600,
    kycertBaseUrl: 'https://sandbox.example.com/api/v1',
    kycertApiVersion: '2026-01-01',
    functionTimeout: Duration.seconds(90),
  });

  it('one maxAttempts drives the redrive policy and the worker', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: maxReceiveCountFor(5) }),
      VisibilityTimeout: 6 * 90,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 90,
      Environment: {
        Variables: Match.objectLike({
          MAX_ATTEMPTS: '5',
          MAX_RECEIVE_COUNT: String(maxReceiveCountFor(5)),
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
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'kycert-queue-staging' });
  });

  it('no concurrency warning when the rate limit covers two invocations', () => {
    expect(
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('event source cannot go below')),
    ).toHaveLength(0);
  });
});

describe('concurrency warning', () => {
  it('is raised at synth when Lambda’s floor of 2 invocations can exceed the rate limit', () => {
    const { stack } = synth({ rateLimitPerMinute: 60 });
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('a burst may reach 120/minute'),
    );
    expect(warnings).toHaveLength(1);
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

  it('uses an existing topic instead of creating one', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'existing-topic');
    const topic = Topic.fromTopicArn(stack, 'Paging', 'arn:aws:sns:sa-east-1:123456789012:paging');
    new KycertQueue(stack, 'KycertQueue', { alarmTopic: topic });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: ['arn:aws:sns:sa-east-1:123456789012:paging'],
    });
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
      /function timeout 20 s is too short .* use at least 36 s/,
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
