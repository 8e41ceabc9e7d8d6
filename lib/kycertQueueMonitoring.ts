import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SingleValueWidget,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, MetricName, SERVICE_NAME } from '../functions/kycert-worker/metricNames.js';

/** Suffixes of the alarm names (`kycert-queue-<stage>-<suffix>`); docs/deploy.md has a runbook entry for each. */
export const AlarmName = {
  deadLetterQueueNotEmpty: 'dlq-not-empty',
  oldestMessageAge: 'queue-oldest-message-age',
  functionErrors: 'function-errors',
  functionThrottles: 'function-throttles',
  unexpectedErrors: 'unexpected-errors',
  rateLimited: 'kycert-rate-limited',
  serverOrNetworkErrors: 'kycert-server-or-network-errors',
  authenticationFailures: 'kycert-authentication-failures',
} as const;
export type AlarmKey = keyof typeof AlarmName;

export interface AlarmThresholds {
  /** Age of the oldest message on the main queue (SQS stops counting a message after its third receive). @default 15 minutes */
  readonly oldestMessageAge: Duration;
  /** 429s as a share of POSTs, in percent, over three consecutive 5-minute periods. @default 10 */
  readonly rateLimitedPercent: number;
  /** 5xx, 408 and network errors as a share of POSTs, in percent, in two of three 5-minute periods. @default 10 */
  readonly serverOrNetworkErrorPercent: number;
  /** POSTs in 5 minutes under which the two rate alarms stay quiet: one failure in two calls is no trend. @default 5 */
  readonly minimumPostsForRates: number;
}

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = {
  oldestMessageAge: Duration.minutes(15),
  rateLimitedPercent: 10,
  serverOrNetworkErrorPercent: 10,
  minimumPostsForRates: 5,
};

export interface KycertQueueMonitoringProps {
  /** Prefix of alarm names and the dashboard name, e.g. `kycert-queue-prod`. */
  readonly namePrefix: string;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly lambdaFunction: IFunction;
  /** Subscribed to the alarm topic when set. @default no subscription */
  readonly alarmEmail?: string | undefined;
  /** An existing topic to send alarms to (e.g. the team's paging topic). @default a new topic, TLS-only */
  readonly alarmTopic?: ITopic | undefined;
  /** @default DEFAULT_ALARM_THRESHOLDS */
  readonly alarmThresholds?: Partial<AlarmThresholds> | undefined;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * Every alarm an operator needs, all sent to one SNS topic (state changes both ways, so the recovery is
 * announced too), and one dashboard. The integration's alarms follow kycert's guidance: alert on repeated
 * 5xx, on credential failures and on rate-limit breaches. Metric names come from the worker's
 * metricNames.ts; the worker emits them with the Powertools `service` dimension.
 */
export class KycertQueueMonitoring extends Construct {
  public readonly alarmTopic: ITopic;
  public readonly alarms: Record<AlarmKey, Alarm>;
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: KycertQueueMonitoringProps) {
    super(scope, id);
    const thresholds = { ...DEFAULT_ALARM_THRESHOLDS, ...definedOnly(props.alarmThresholds ?? {}) };
    this.alarmTopic =
      props.alarmTopic ??
      new Topic(this, 'AlarmTopic', { displayName: `${props.namePrefix} alarms`, enforceSSL: true });
    if (props.alarmEmail !== undefined)
      this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    const fn = props.lambdaFunction;
    const posts = workerMetric(MetricName.kycertLatency, Stats.SAMPLE_COUNT);
    const shareOfPosts = (label: string, failures: Record<string, IMetric>) => {
      const sum = Object.keys(failures)
        .map((name) => `FILL(${name}, 0)`)
        .join(' + ');
      return new MathExpression({
        expression: `IF(FILL(posts, 0) >= ${thresholds.minimumPostsForRates}, 100 * (${sum}) / posts, 0)`,
        usingMetrics: { posts, ...failures },
        period: FIVE_MINUTES,
        label,
      });
    };

    const alarm = (key: AlarmKey, description: string, options: AlarmOptions) => {
      const created = new Alarm(this, `${key[0]?.toUpperCase()}${key.slice(1)}Alarm`, {
        alarmName: `${props.namePrefix}-${AlarmName[key]}`,
        alarmDescription: `${description} Runbook: docs/deploy.md#${AlarmName[key]}`,
        metric: options.metric,
        threshold: options.threshold,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        datapointsToAlarm: options.datapointsToAlarm ?? options.evaluationPeriods ?? 1,
        comparisonOperator:
          options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new SnsAction(this.alarmTopic));
      created.addOkAction(new SnsAction(this.alarmTopic));
      return created;
    };

    this.alarms = {
      deadLetterQueueNotEmpty: alarm(
        'deadLetterQueueNotEmpty',
        'The DLQ holds messages that were not processed.',
        {
          metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            period: Duration.minutes(1),
          }),
          threshold: 1,
        },
      ),
      oldestMessageAge: alarm('oldestMessageAge', 'Messages wait on the main queue longer than expected.', {
        metric: props.queue.metricApproximateAgeOfOldestMessage({
          statistic: Stats.MAXIMUM,
          period: FIVE_MINUTES,
        }),
        threshold: thresholds.oldestMessageAge.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      functionErrors: alarm(
        'functionErrors',
        'The worker function failed whole invocations (crash, timeout, bad configuration).',
        {
          metric: fn.metricErrors({ statistic: Stats.SUM, period: FIVE_MINUTES }),
          threshold: 1,
        },
      ),
      functionThrottles: alarm(
        'functionThrottles',
        'Lambda refused to run the worker (account or regional concurrency exhausted).',
        {
          metric: fn.metricThrottles({ statistic: Stats.SUM, period: FIVE_MINUTES }),
          threshold: 1,
        },
      ),
      unexpectedErrors: alarm(
        'unexpectedErrors',
        'Records failed for reasons the worker did not expect (AWS call failed, bug).',
        {
          metric: workerMetric(MetricName.unexpectedErrors, Stats.SUM),
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
        },
      ),
      rateLimited: alarm('rateLimited', 'kycert answers 429 to a sustained share of requests.', {
        metric: shareOfPosts('429s, % of POSTs', {
          limited: workerMetric(MetricName.retriedRateLimited, Stats.SUM),
        }),
        threshold: thresholds.rateLimitedPercent,
        evaluationPeriods: 3,
      }),
      serverOrNetworkErrors: alarm(
        'serverOrNetworkErrors',
        'kycert answers 5xx, or cannot be reached, repeatedly.',
        {
          metric: shareOfPosts('5xx and network errors, % of POSTs', {
            server: workerMetric(MetricName.retriedServerError, Stats.SUM),
            network: workerMetric(MetricName.retriedNetworkError, Stats.SUM),
          }),
          threshold: thresholds.serverOrNetworkErrorPercent,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
        },
      ),
      authenticationFailures: alarm('authenticationFailures', 'kycert refused the API key (401).', {
        metric: workerMetric(MetricName.authenticationFailures, Stats.SUM),
        threshold: 1,
      }),
    };

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.namePrefix,
      defaultInterval: Duration.hours(3),
    });
    const wide = { width: 12, height: 6 };
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Flow: messages in and out',
        left: [
          props.queue.metricNumberOfMessagesSent({ label: 'in (sent to the queue)', period: FIVE_MINUTES }),
          props.queue.metricNumberOfMessagesDeleted({ label: 'out (done, deleted)', period: FIVE_MINUTES }),
          props.deadLetterQueue.metricNumberOfMessagesSent({ label: 'dead-lettered', period: FIVE_MINUTES }),
        ],
        ...wide,
      }),
      new GraphWidget({
        title: 'Main queue: age of oldest message and depth',
        left: [
          props.queue.metricApproximateAgeOfOldestMessage({
            label: 'oldest message age (s)',
            statistic: Stats.MAXIMUM,
          }),
        ],
        right: [
          props.queue.metricApproximateNumberOfMessagesVisible({
            label: 'waiting',
            statistic: Stats.MAXIMUM,
          }),
          props.queue.metricApproximateNumberOfMessagesNotVisible({
            label: 'in flight or scheduled for retry',
            statistic: Stats.MAXIMUM,
          }),
        ],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Decisions by kind',
        stacked: true,
        left: [
          MetricName.succeeded,
          MetricName.retriedRateLimited,
          MetricName.retriedServerError,
          MetricName.retriedNetworkError,
          MetricName.retriedInProgress,
          MetricName.deferredForRateBudget,
          MetricName.accountBlocked,
          MetricName.pausedForAccount,
          MetricName.apiKeyUnset,
          MetricName.deadLettered,
          MetricName.duplicateDeliveries,
          MetricName.authenticationFailures,
          MetricName.fencedWrites,
          MetricName.unexpectedErrors,
        ].map((name) => workerMetric(name, Stats.SUM, { label: name })),
        ...wide,
      }),
      new GraphWidget({
        title: 'Dead-lettered by reason',
        left: [
          new MathExpression({
            expression: `SEARCH('{${METRICS_NAMESPACE},reason,service} MetricName="${MetricName.deadLettered}" service="${SERVICE_NAME}"', 'Sum', 300)`,
            usingMetrics: {},
            label: '',
            period: FIVE_MINUTES,
          }),
        ],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'kycert latency (ms)',
        left: [Stats.p(50), Stats.p(90), Stats.p(99), Stats.MAXIMUM].map((statistic) =>
          workerMetric(MetricName.kycertLatency, statistic, { label: statistic }),
        ),
        ...wide,
      }),
      new SingleValueWidget({
        title: 'DLQ depth',
        metrics: [
          props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            label: 'messages',
            statistic: Stats.MAXIMUM,
          }),
        ],
        width: 4,
        height: 6,
      }),
      new GraphWidget({
        title: 'Worker function',
        left: [
          fn.metricInvocations({ period: FIVE_MINUTES }),
          fn.metricErrors({ period: FIVE_MINUTES }),
          fn.metricThrottles({ period: FIVE_MINUTES }),
        ],
        right: [
          fn.metricDuration({ statistic: Stats.p(99), period: FIVE_MINUTES, label: 'duration p99 (ms)' }),
        ],
        width: 8,
        height: 6,
      }),
    );
  }
}

interface AlarmOptions {
  metric: IMetric;
  threshold: number;
  evaluationPeriods?: number;
  datapointsToAlarm?: number;
  comparisonOperator?: ComparisonOperator;
}

/** A worker metric as Powertools emits it: the worker's namespace, dimension `service`. */
function workerMetric(metricName: MetricName, statistic: string, options: { label?: string } = {}): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    statistic,
    period: FIVE_MINUTES,
    ...options,
  });
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
