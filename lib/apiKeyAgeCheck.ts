import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import { Function as AgeCheckFunction, Architecture, Code, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../functions/kycert-worker/metricNames.js';
import { bundleDir } from './bundleDir.js';
import { functionLogsAndRole } from './functionLogsAndRole.js';

/** Often enough that the `api-key-age` alarm returns to OK within the hour after a rotation. */
export const API_KEY_AGE_CHECK_INTERVAL = Duration.hours(1);

export interface ApiKeyAgeCheckProps {
  /** Name or ARN the check describes the secret by. */
  readonly apiKeySecretId: string;
  /** The secret as it appears in IAM (an imported name ends in `-??????`). */
  readonly apiKeySecretArnForPolicy: string;
  /** The `stage` dimension of the metric. */
  readonly stageName: string;
  /** @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
}

/**
 * A small function, run every hour, that publishes how many days ago the API key secret last changed
 * (functions/api-key-age-check). CloudWatch has no such metric, AWS Config's rotation rule counts only
 * Secrets Manager rotations (kycert keys are rotated by hand, with put-secret-value), and an EventBridge
 * rule on PutSecretValue needs a CloudTrail trail and still yields events, not an age. Cost: 720 short
 * invocations, 720 DescribeSecret calls and one custom metric a month.
 *
 * Its role may describe that one secret (not read its value) and write its own log group; the metric goes
 * out as EMF through the log, so it needs no `cloudwatch:PutMetricData`.
 */
export class ApiKeyAgeCheck extends Construct {
  public readonly lambdaFunction: AgeCheckFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;
  public readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: ApiKeyAgeCheckProps) {
    super(scope, id);
    ({ logGroup: this.logGroup, role: this.role } = functionLogsAndRole(this, {
      roleDescription: 'kycert-queue API key age check: describe the API key secret, write its own logs',
      logRetention: props.logRetention,
    }));
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['secretsmanager:DescribeSecret'],
        resources: [props.apiKeySecretArnForPolicy],
      }),
    );

    this.lambdaFunction = new AgeCheckFunction(this, 'Function', {
      code: Code.fromAsset(bundleDir('api-key-age-check')),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout: Duration.seconds(30),
      memorySize: 256,
      role: this.role,
      logGroup: this.logGroup,
      description: 'kycert-queue: publishes the days since the API key secret last changed',
      environment: {
        KYCERT_API_KEY_SECRET_ID: props.apiKeySecretId,
        KYCERT_QUEUE_STAGE: props.stageName,
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
      },
    });

    this.schedule = new Rule(this, 'Schedule', {
      description: 'kycert-queue: hourly API key age check',
      schedule: Schedule.rate(API_KEY_AGE_CHECK_INTERVAL),
    });
    this.schedule.addTarget(new LambdaFunction(this.lambdaFunction, { retryAttempts: 2 }));
  }
}
