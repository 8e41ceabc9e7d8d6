import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
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
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  METRICS_NAMESPACE,
  MetricName,
  SERVICE_NAME,
  STAGE_DIMENSION,
} from '../functions/kycert-worker/metricNames.js';

/**
 * Suffixes of the alarm names (`kycert-queue-<stage>-<suffix>`). docs/operations.md has a runbook entry
 * for each, under a heading with the suffix as its anchor, and every alarm's description links to it.
 */
export const AlarmName = {
  deadLetterQueueArrivals: 'dlq-messages-arrived',
  deadLetterQueueNotEmpty: 'dlq-not-empty',
  deadLetterQueueOldestMessageAge: 'dlq-oldest-message-age',
  oldestMessageAge: 'queue-oldest-message-age',
  functionErrors: 'function-errors',
  functionThrottles: 'function-throttles',
  functionDurationNearTimeout: 'function-duration-near-timeout',
  unexpectedErrors: 'unexpected-errors',
  rateLimited: 'kycert-rate-limited',
  serverOrNetworkErrors: 'kycert-server-or-network-errors',
  authenticationFailures: 'kycert-authentication-failures',
  accountBlocked: 'kycert-account-blocked',
  apiKeyUnset: 'api-key-unset',
  statusCheckDeadLetterQueueNotEmpty: 'status-checks-dlq-not-empty',
  decisionOverdue: 'decision-overdue',
  runsFailed: 'kycert-runs-failed',
  runNotFound: 'kycert-run-not-found',
  webhooksRejected: 'webhooks-rejected',
  webhooksUnmatched: 'webhooks-unmatched',
  webhookReceiverErrors: 'webhook-receiver-errors',
  tableThrottles: 'outcome-table-throttles',
  indexThrottles: 'outcome-index-throttles',
  tableSystemErrors: 'outcome-table-system-errors',
  alarmNotificationsFailed: 'alarm-notifications-failed',
  apiKeyAge: 'api-key-age',
} as const;
export type AlarmKey = keyof typeof AlarmName;

/** Where every alarm description points. */
export const RUNBOOK_PATH = 'docs/operations.md';

export interface AlarmThresholds {
  /** Age of the oldest message on the main queue (SQS stops counting a message after its third receive). @default 15 minutes */
  readonly oldestMessageAge: Duration;
  /** Age of the oldest DLQ message; the DLQ keeps messages 14 days, counted from their first enqueue. @default 10 days */
  readonly deadLetterMessageAge: Duration;
  /** 429s as a share of POSTs, in percent, over three consecutive 5-minute periods. @default 10 */
  readonly rateLimitedPercent: number;
  /** 5xx, 408 and network errors as a share of POSTs, in percent, in two of three 5-minute periods. @default 10 */
  readonly serverOrNetworkErrorPercent: number;
  /** POSTs in 5 minutes under which the two rate alarms stay quiet: one failure in two calls is no trend. @default 5 */
  readonly minimumPostsForRates: number;
  /** The worker's p99 duration, as a percentage of its timeout, in two of three 5-minute periods. @default 80 */
  readonly functionDurationPercentOfTimeout: number;
  /** Days since the API key secret last changed. @default 90 */
  readonly apiKeyMaxAgeDays: number;
  /** Failed runs (`run.failed`) as a share of decided runs, in percent, in two of three 5-minute periods. @default 10 */
  readonly runFailedPercent: number;
  /** Decided runs in 5 minutes under which the failed-runs alarm stays quiet. @default 5 */
  readonly minimumDecisionsForRates: number;
  /** Webhooks refused in 5 minutes (bad signature, stale, too large, no secret): a wrong secret, or someone probing. @default 5 */
  readonly webhooksRejected: number;
}

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = {
  oldestMessageAge: Duration.minutes(15),
  deadLetterMessageAge: Duration.days(10),
  rateLimitedPercent: 10,
  serverOrNetworkErrorPercent: 10,
  minimumPostsForRates: 5,
  functionDurationPercentOfTimeout: 80,
  apiKeyMaxAgeDays: 90,
  runFailedPercent: 10,
  minimumDecisionsForRates: 5,
  webhooksRejected: 5,
};

export interface KycertQueueMonitoringProps {
  /** Prefix of alarm names and the dashboard name, e.g. `kycert-queue-prod`. */
  readonly namePrefix: string;
  /** The `stage` dimension value of the worker's metrics. */
  readonly stageName: string;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The status checks' DLQ, when runs are followed. @default none */
  readonly statusCheckDeadLetterQueue?: IQueue | undefined;
  /** Runs are followed to their decision (status checks, webhooks): the decision alarms and widgets. @default false */
  readonly followsRuns?: boolean | undefined;
  /** The webhook receiver, when webhooks are enabled: its alarms. @default none */
  readonly webhookReceiverFunction?: IFunction | undefined;
  readonly lambdaFunction: IFunction;
  /** The worker's timeout, for the duration alarm. */
  readonly functionTimeout: Duration;
  readonly table: ITable;
  /** The table's global secondary indexes, alarmed on like the table (a throttled index throttles the table's writes). */
  readonly indexNames: readonly string[];
  /** Table operations whose system errors are counted: the worker's and the operator CLI's. */
  readonly tableOperations: readonly string[];
  /** Subscribed to the alarm topic when set. @default no subscription */
  readonly alarmEmail?: string | undefined;
  /**
   * An existing topic to send alarms to (e.g. the team's paging topic). Its policy must allow
   * `cloudwatch.amazonaws.com` to publish; this construct cannot change it.
   * @default a new topic, TLS-only, that this stack's alarms may publish to
   */
  readonly alarmTopic?: ITopic | undefined;
  /** @default DEFAULT_ALARM_THRESHOLDS */
  readonly alarmThresholds?: Partial<AlarmThresholds> | undefined;
}

const ONE_MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);
const ONE_DAY = Duration.days(1);

/**
 * Every alarm an operator needs, all sent to one SNS topic (state changes both ways, so the recovery is
 * announced too), and one dashboard. The integration's alarms follow kycert's guidance: alert on repeated
 * 5xx, on credential failures and on rate-limit breaches; the AWS ones match what cdk-monitoring-constructs
 * offers for SQS with a DLQ, Lambda, DynamoDB, SNS and Secrets Manager. Worker metrics are read with both
 * of their dimensions, `service` and `stage`, so two stages in one account never alarm on each other.
 */
export class KycertQueueMonitoring extends Construct {
  public readonly alarmTopic: ITopic;
  /** Every alarm; `alarmNotificationsFailed` only when the construct created the topic. */
  public readonly alarms: Partial<Record<AlarmKey, Alarm>>;
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: KycertQueueMonitoringProps) {
    super(scope, id);
    const thresholds = { ...DEFAULT_ALARM_THRESHOLDS, ...definedOnly(props.alarmThresholds ?? {}) };
    const ownTopic = props.alarmTopic === undefined ? this.#createAlarmTopic(props.namePrefix) : undefined;
    this.alarmTopic = props.alarmTopic ?? (ownTopic as Topic);
    if (props.alarmEmail !== undefined)
      this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    const fn = props.lambdaFunction;
    const dlq = props.deadLetterQueue;
    /** Every series of a worker metric by one more dimension (`reason`, `run_status`), summed per 5 minutes. */
    const workerMetricBy = (dimension: string, metricName: MetricName) =>
      new MathExpression({
        expression:
          `SEARCH('{${METRICS_NAMESPACE},${dimension},service,${STAGE_DIMENSION}} ` +
          `MetricName="${metricName}" service="${SERVICE_NAME}" ` +
          `${STAGE_DIMENSION}="${props.stageName}"', 'Sum', 300)`,
        usingMetrics: {},
        label: '',
        period: FIVE_MINUTES,
      });
    const workerMetric = (metricName: MetricName, statistic: string, options: { label?: string } = {}) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME, [STAGE_DIMENSION]: props.stageName },
        statistic,
        period: FIVE_MINUTES,
        ...options,
      });
    const posts = workerMetric(MetricName.kycertLatency, Stats.SAMPLE_COUNT);
    const shareOfPosts = (label: string, failures: Record<string, IMetric>) =>
      new MathExpression({
        expression: `IF(FILL(posts, 0) >= ${thresholds.minimumPostsForRates}, 100 * (${filledSum(failures)}) / posts, 0)`,
        usingMetrics: { posts, ...failures },
        period: FIVE_MINUTES,
        label,
      });
    const dynamoMetric = (metricName: string, dimensionsMap: Record<string, string>) =>
      new Metric({
        namespace: 'AWS/DynamoDB',
        metricName,
        dimensionsMap,
        statistic: Stats.SUM,
        period: FIVE_MINUTES,
      });
    const tableDimensions = { TableName: props.table.tableName };
    const indexDimensions = (indexName: string) => ({
      ...tableDimensions,
      GlobalSecondaryIndexName: indexName,
    });
    const indexThrottleMetrics = Object.fromEntries(
      props.indexNames.flatMap((indexName, i) => [
        [`read${i}`, dynamoMetric('ReadThrottleEvents', indexDimensions(indexName))],
        [`write${i}`, dynamoMetric('WriteThrottleEvents', indexDimensions(indexName))],
      ]),
    );

    const alarm = (key: AlarmKey, description: string, options: AlarmOptions) => {
      const created = new Alarm(this, `${key[0]?.toUpperCase()}${key.slice(1)}Alarm`, {
        alarmName: `${props.namePrefix}-${AlarmName[key]}`,
        alarmDescription: `${description} Runbook: ${RUNBOOK_PATH}#${AlarmName[key]}`,
        metric: options.metric,
        threshold: options.threshold,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        datapointsToAlarm: options.datapointsToAlarm ?? options.evaluationPeriods ?? 1,
        comparisonOperator:
          options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: options.treatMissingData,
      });
      created.addAlarmAction(new SnsAction(this.alarmTopic));
      created.addOkAction(new SnsAction(this.alarmTopic));
      return created;
    };

    this.alarms = {
      deadLetterQueueArrivals: alarm(
        'deadLetterQueueArrivals',
        'Messages arrived on the DLQ in the last 5 minutes (sent by the worker, or moved by the redrive policy).',
        {
          // SendMessage by the worker shows in NumberOfMessagesSent; a move by the redrive policy does not
          // (SQS counts only sends), so a rise of the DLQ's total, visible plus in flight, counts too. The
          // total, not the visible count alone: `dlq list` and a redrive hold messages in flight.
          metric: new MathExpression({
            expression: 'MAX([FILL(sent, 0), DIFF(FILL(visible, REPEAT) + FILL(inFlight, REPEAT))])',
            usingMetrics: {
              sent: dlq.metricNumberOfMessagesSent({ statistic: Stats.SUM }),
              visible: dlq.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM }),
              inFlight: dlq.metricApproximateNumberOfMessagesNotVisible({ statistic: Stats.MAXIMUM }),
            },
            period: ONE_MINUTE,
            label: 'messages arrived on the DLQ',
          }),
          threshold: 1,
          evaluationPeriods: 5,
          datapointsToAlarm: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      deadLetterQueueNotEmpty: alarm(
        'deadLetterQueueNotEmpty',
        'The DLQ holds messages that were not processed.',
        {
          metric: dlq.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            period: ONE_MINUTE,
          }),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      deadLetterQueueOldestMessageAge: alarm(
        'deadLetterQueueOldestMessageAge',
        `A DLQ message is ${thresholds.deadLetterMessageAge.toHumanString()} old; SQS deletes it at 14 days.`,
        {
          metric: dlq.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, period: FIVE_MINUTES }),
          threshold: thresholds.deadLetterMessageAge.toSeconds(),
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      oldestMessageAge: alarm('oldestMessageAge', 'Messages wait on the main queue longer than expected.', {
        metric: props.queue.metricApproximateAgeOfOldestMessage({
          statistic: Stats.MAXIMUM,
          period: FIVE_MINUTES,
        }),
        threshold: thresholds.oldestMessageAge.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      functionErrors: alarm(
        'functionErrors',
        'The worker function failed whole invocations (crash, timeout, bad configuration).',
        {
          metric: fn.metricErrors({ statistic: Stats.SUM, period: FIVE_MINUTES }),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      functionThrottles: alarm(
        'functionThrottles',
        'Lambda refused to run the worker (account or regional concurrency exhausted).',
        {
          metric: fn.metricThrottles({ statistic: Stats.SUM, period: FIVE_MINUTES }),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      functionDurationNearTimeout: alarm(
        'functionDurationNearTimeout',
        `The worker's p99 duration is at ${thresholds.functionDurationPercentOfTimeout} % of its ` +
          `${props.functionTimeout.toSeconds()} s timeout or more.`,
        {
          metric: fn.metricDuration({ statistic: Stats.p(99), period: FIVE_MINUTES }),
          threshold: Math.floor(
            (props.functionTimeout.toMilliseconds() * thresholds.functionDurationPercentOfTimeout) / 100,
          ),
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
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
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      rateLimited: alarm('rateLimited', 'kycert answers 429 to a sustained share of requests.', {
        metric: shareOfPosts('429s, % of POSTs', {
          limited: workerMetric(MetricName.retriedRateLimited, Stats.SUM),
        }),
        threshold: thresholds.rateLimitedPercent,
        evaluationPeriods: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
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
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      authenticationFailures: alarm('authenticationFailures', 'kycert refused the API key (401).', {
        metric: workerMetric(MetricName.authenticationFailures, Stats.SUM),
        threshold: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      accountBlocked: alarm(
        'accountBlocked',
        'kycert refused the account (402 out of credits, 403 missing scope, or a 401 that persisted after the ' +
          'key was re-read): every environment has stopped calling kycert, messages wait without spending attempts.',
        {
          // AccountBlocked when an answer opens the breaker (or a message waited past the pause budget),
          // PausedForAccount for every message that waits: the alarm stays in ALARM while the flow is paused
          // and returns to OK once a probe succeeds and messages flow again.
          metric: new MathExpression({
            expression: filledSum({ blocked: {}, paused: {} }),
            usingMetrics: {
              blocked: workerMetric(MetricName.accountBlocked, Stats.SUM),
              paused: workerMetric(MetricName.pausedForAccount, Stats.SUM),
            },
            period: FIVE_MINUTES,
            label: 'account-level refusals and paused messages',
          }),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      apiKeyUnset: alarm(
        'apiKeyUnset',
        'The API key secret holds no kycert key (still the placeholder the stack generated): nothing is sent ' +
          'to kycert, messages wait.',
        {
          metric: workerMetric(MetricName.apiKeyUnset, Stats.SUM),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      ...(props.statusCheckDeadLetterQueue === undefined
        ? {}
        : {
            statusCheckDeadLetterQueueNotEmpty: alarm(
              'statusCheckDeadLetterQueueNotEmpty',
              'Status checks were received 1000 times without an end: some runs are not being followed to their decision.',
              {
                metric: props.statusCheckDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
                  statistic: Stats.MAXIMUM,
                  period: FIVE_MINUTES,
                }),
                threshold: 1,
                treatMissingData: TreatMissingData.NOT_BREACHING,
              },
            ),
          }),
      ...(props.followsRuns === true ? this.#decisionAlarms(alarm, workerMetric, thresholds) : {}),
      ...(props.webhookReceiverFunction === undefined
        ? {}
        : this.#webhookAlarms(alarm, workerMetric, thresholds, props.webhookReceiverFunction)),
      tableThrottles: alarm('tableThrottles', 'DynamoDB throttled reads or writes on the outcome table.', {
        metric: new MathExpression({
          expression: filledSum({ read: {}, write: {} }),
          usingMetrics: {
            read: dynamoMetric('ReadThrottleEvents', tableDimensions),
            write: dynamoMetric('WriteThrottleEvents', tableDimensions),
          },
          period: FIVE_MINUTES,
          label: 'throttle events, table',
        }),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      indexThrottles: alarm(
        'indexThrottles',
        `DynamoDB throttled reads or writes on the outcome table's indexes (${props.indexNames.join(', ')}).`,
        {
          metric: new MathExpression({
            expression: filledSum(indexThrottleMetrics),
            usingMetrics: indexThrottleMetrics,
            period: FIVE_MINUTES,
            label: 'throttle events, indexes',
          }),
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      tableSystemErrors: alarm(
        'tableSystemErrors',
        'DynamoDB answered 500s (internal errors) on the outcome table, index queries included.',
        {
          metric: (() => {
            const byOperation = Object.fromEntries(
              props.tableOperations.map((operation) => [
                operation.toLowerCase(),
                dynamoMetric('SystemErrors', { ...tableDimensions, Operation: operation }),
              ]),
            );
            return new MathExpression({
              expression: filledSum(byOperation),
              usingMetrics: byOperation,
              period: FIVE_MINUTES,
              label: 'system errors, all operations',
            });
          })(),
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      ...(ownTopic === undefined
        ? {}
        : {
            alarmNotificationsFailed: alarm(
              'alarmNotificationsFailed',
              'SNS failed to deliver alarm notifications to a subscriber of the alarm topic.',
              {
                metric: ownTopic.metricNumberOfNotificationsFailed({
                  statistic: Stats.SUM,
                  period: FIVE_MINUTES,
                }),
                threshold: 1,
                treatMissingData: TreatMissingData.NOT_BREACHING,
              },
            ),
          }),
      apiKeyAge: alarm(
        'apiKeyAge',
        `The kycert API key secret last changed ${thresholds.apiKeyMaxAgeDays} days ago or more, or its ` +
          'age was not checked for a day.',
        {
          metric: workerMetric(MetricName.apiKeyDaysSinceLastChange, Stats.MAXIMUM, {}).with({
            period: ONE_DAY,
          }),
          threshold: thresholds.apiKeyMaxAgeDays,
          // The check runs every hour: a day without a value means it is broken, and the age is unknown.
          treatMissingData: TreatMissingData.BREACHING,
        },
      ),
    };

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.namePrefix,
      defaultInterval: Duration.hours(3),
    });
    const wide = { width: 12, height: 6 };
    this.dashboard.addWidgets(
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: Object.values(this.alarms).filter((created) => created !== undefined),
        width: 24,
        height: 4,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Flow: messages in and out',
        left: [
          props.queue.metricNumberOfMessagesSent({ label: 'in (sent to the queue)', period: FIVE_MINUTES }),
          props.queue.metricNumberOfMessagesDeleted({ label: 'out (done, deleted)', period: FIVE_MINUTES }),
          dlq.metricNumberOfMessagesSent({ label: 'dead-lettered by the worker', period: FIVE_MINUTES }),
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
        title: 'Worker decisions by kind (per message)',
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
        left: [workerMetricBy('reason', MetricName.deadLettered)],
        ...wide,
      }),
    );
    if (props.followsRuns === true || props.webhookReceiverFunction !== undefined) {
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Run decisions by kind (Decided by run_status)',
          stacked: true,
          left: [workerMetricBy('run_status', MetricName.decided)],
          width: 8,
          height: 6,
        }),
        new GraphWidget({
          title: 'Time to decision (ms, from kycert’s acceptance)',
          left: [Stats.p(50), Stats.p(90), Stats.p(99)].map((statistic) =>
            workerMetric(MetricName.timeToDecision, statistic, { label: statistic }),
          ),
          width: 8,
          height: 6,
        }),
        new GraphWidget({
          title: 'Following runs: checks, overdue, not found, webhooks',
          left: [
            MetricName.statusChecks,
            MetricName.decisionOverdue,
            MetricName.runNotFound,
            MetricName.webhooksRejected,
            MetricName.webhooksUnmatched,
          ].map((name) => workerMetric(name, Stats.SUM, { label: name })),
          width: 8,
          height: 6,
        }),
      );
    }
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'kycert latency (ms)',
        left: [Stats.p(50), Stats.p(90), Stats.p(99), Stats.MAXIMUM].map((statistic) =>
          workerMetric(MetricName.kycertLatency, statistic, { label: statistic }),
        ),
        ...wide,
      }),
      new GraphWidget({
        title: 'DLQ: depth and age of oldest message',
        left: [dlq.metricApproximateNumberOfMessagesVisible({ label: 'messages', statistic: Stats.MAXIMUM })],
        right: [
          dlq.metricApproximateAgeOfOldestMessage({
            label: 'oldest message age (s)',
            statistic: Stats.MAXIMUM,
          }),
        ],
        width: 6,
        height: 6,
      }),
      new SingleValueWidget({
        title: 'API key age (days)',
        metrics: [
          workerMetric(MetricName.apiKeyDaysSinceLastChange, Stats.MAXIMUM, { label: 'days' }).with({
            period: Duration.hours(1),
          }),
        ],
        width: 6,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
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
        ...wide,
      }),
      new GraphWidget({
        title: 'Outcome table: throttles and system errors',
        left: [
          dynamoMetric('ReadThrottleEvents', tableDimensions).with({ label: 'read throttles, table' }),
          dynamoMetric('WriteThrottleEvents', tableDimensions).with({ label: 'write throttles, table' }),
          ...props.indexNames.flatMap((indexName) => [
            dynamoMetric('ReadThrottleEvents', indexDimensions(indexName)).with({
              label: `read throttles, ${indexName}`,
            }),
            dynamoMetric('WriteThrottleEvents', indexDimensions(indexName)).with({
              label: `write throttles, ${indexName}`,
            }),
          ]),
        ],
        right: props.tableOperations.map((operation) =>
          dynamoMetric('SystemErrors', { ...tableDimensions, Operation: operation }).with({
            label: `system errors, ${operation}`,
          }),
        ),
        ...wide,
      }),
    );
  }

  /** Runs followed to their decision: one overdue, failures in numbers, a run kycert lost. */
  #decisionAlarms(alarm: AlarmFactory, workerMetric: WorkerMetricFactory, thresholds: AlarmThresholds) {
    const decided = workerMetric(MetricName.decided, Stats.SUM);
    const failed = decided.with({
      dimensionsMap: { ...decided.dimensions, run_status: 'failed' } as Record<string, string>,
    });
    return {
      decisionOverdue: alarm(
        'decisionOverdue',
        'A run kycert accepted has no decision after the configured time (decision_overdue): nobody knows its outcome.',
        {
          metric: workerMetric(MetricName.decisionOverdue, Stats.SUM),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      runsFailed: alarm(
        'runsFailed',
        `kycert ended ${thresholds.runFailedPercent} % or more of the decided runs as failed (run.failed: an ` +
          'unrecoverable technical failure on its side).',
        {
          metric: new MathExpression({
            expression:
              `IF(FILL(decided, 0) >= ${thresholds.minimumDecisionsForRates}, ` +
              '100 * FILL(failed, 0) / decided, 0)',
            usingMetrics: { decided, failed },
            period: FIVE_MINUTES,
            label: 'failed runs, % of decided runs',
          }),
          threshold: thresholds.runFailedPercent,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      runNotFound: alarm(
        'runNotFound',
        'kycert answered 404 to a status check of a run it had accepted: a run lost, or checked with a key of another account.',
        {
          metric: workerMetric(MetricName.runNotFound, Stats.SUM),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
    };
  }

  /** kycert's webhooks: refused ones, ones for runs no outcome holds, and the receiver failing. */
  #webhookAlarms(
    alarm: AlarmFactory,
    workerMetric: WorkerMetricFactory,
    thresholds: AlarmThresholds,
    receiver: IFunction,
  ) {
    return {
      webhooksRejected: alarm(
        'webhooksRejected',
        `${thresholds.webhooksRejected} or more webhooks were refused in 5 minutes (bad or missing signature, stale ` +
          'timestamp, body too large, secret unset): a secret that does not match kycert’s, or someone probing the URL.',
        {
          metric: workerMetric(MetricName.webhooksRejected, Stats.SUM),
          threshold: thresholds.webhooksRejected,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      webhooksUnmatched: alarm(
        'webhooksUnmatched',
        'Verified webhooks keep coming for runs no outcome holds (parked): runs this stack did not create, or whose ' +
          'acceptance is not being recorded.',
        {
          // One parked webhook is the ordinary race (it came before the POST's answer was recorded); two
          // periods of three are not.
          metric: workerMetric(MetricName.webhooksUnmatched, Stats.SUM),
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
      webhookReceiverErrors: alarm(
        'webhookReceiverErrors',
        'The webhook receiver failed whole invocations (crash, timeout): kycert gets 5xx and retries.',
        {
          metric: receiver.metricErrors({ statistic: Stats.SUM, period: FIVE_MINUTES }),
          threshold: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      ),
    };
  }

  /**
   * A topic policy replaces SNS's default policy, so the TLS-only policy that `enforceSSL` writes must also
   * allow CloudWatch to publish, or every alarm goes to ALARM in silence. The Allow is for this account's
   * alarms named with this stack's prefix only. No `aws/sns` encryption: CloudWatch cannot use that key.
   */
  #createAlarmTopic(namePrefix: string): Topic {
    const topic = new Topic(this, 'AlarmTopic', { displayName: `${namePrefix} alarms`, enforceSSL: true });
    const stack = Stack.of(this);
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowThisStacksAlarmsToPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${namePrefix}-*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    return topic;
  }
}

type AlarmFactory = (key: AlarmKey, description: string, options: AlarmOptions) => Alarm;
type WorkerMetricFactory = (
  metricName: MetricName,
  statistic: string,
  options?: { label?: string },
) => Metric;

interface AlarmOptions {
  metric: IMetric;
  threshold: number;
  evaluationPeriods?: number;
  datapointsToAlarm?: number;
  comparisonOperator?: ComparisonOperator;
  /** Said for every alarm: what "no data" means differs (no traffic, or a broken check). */
  treatMissingData: TreatMissingData;
}

/** `FILL(a, 0) + FILL(b, 0) …`: a series missing in one period counts as zero, not as a missing sum. */
function filledSum(metrics: Record<string, unknown>): string {
  return Object.keys(metrics)
    .map((name) => `FILL(${name}, 0)`)
    .join(' + ');
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
