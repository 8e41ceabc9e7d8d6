import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type { Alarm, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { type Grant, type IGrantable, ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { type Function as LambdaFunction, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { REDRIVE_MAX_RECEIVE_COUNT } from '../functions/kycert-worker/constants.js';
import { ApiKeyAgeCheck } from './apiKeyAgeCheck.js';
import { type ConsumerConcurrency, consumerConcurrencyFor } from './consumerConcurrency.js';
import { InvalidSettingsError } from './errors.js';
import { type AlarmKey, type AlarmThresholds, KycertQueueMonitoring } from './kycertQueueMonitoring.js';
import { optionalNagSuppressions } from './optionalNagSuppressions.js';
import { type IndexUpgradeStep, OutcomeStoreTable } from './outcomeStoreTable.js';
import { DEFAULT_QUEUE_RETENTION, RunQueues } from './runQueues.js';
import { DEFAULT_STAGE, STAGE_NAME_PATTERN, stackNameFor } from './stackName.js';
import { WebhookReceiver, type WebhookSettings } from './webhookReceiver.js';
import { WorkerFunction, WorkerFunctionDefaults } from './workerFunction.js';
import { resolveWorkerSettings, type WorkerSettings } from './workerSettings.js';

/** AWS guidance for an SQS event source: the queue's visibility timeout at least 6 × the function timeout. */
export const VISIBILITY_TIMEOUT_PER_FUNCTION_TIMEOUT = 6;

/** The default for `secondsPerRecord`: the short end of a POST plus its DynamoDB writes, the safe end. */
export const DEFAULT_SECONDS_PER_RECORD = 1;

/** Secrets Manager's rules for a name, and for a complete ARN (the name plus `-` and six characters). */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const COMPLETE_SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
/** A key ARN: IAM matches a grant on an alias ARN against the alias, never the key behind it. */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

function checkedKmsKeyArn(arn: string | undefined): string | undefined {
  if (arn !== undefined && !Token.isUnresolved(arn) && !KMS_KEY_ARN.test(arn)) {
    throw new InvalidSettingsError([
      `apiKeySecretKmsKeyArn must be a KMS key ARN, arn:<partition>:kms:<region>:<account>:key/<key id> ` +
        `(not an alias); got "${arn}"`,
    ]);
  }
  return arn;
}

export interface KycertQueueProps extends Partial<WorkerSettings> {
  /**
   * Names the stack's alarms and dashboard (`kycert-queue-<stage>-…`); pass `'prod'` for production.
   * @default 'dev' (never production by omission)
   */
  readonly stageName?: string;
  /**
   * Name of an existing Secrets Manager secret holding the API key (the key itself, or JSON `{"api_key": …}`).
   * A name, never an ARN (use `apiKeySecretArn` for that).
   * @default a new secret with a random placeholder value, retained on stack deletion: set the real key after the first deploy
   */
  readonly apiKeySecretName?: string;
  /**
   * Complete ARN of an existing secret holding the API key (ending in the six characters Secrets Manager
   * appends), instead of `apiKeySecretName`.
   * @default a new secret (see `apiKeySecretName`)
   */
  readonly apiKeySecretArn?: string;
  /**
   * ARN of the customer-managed KMS key the secret is encrypted with (`…:key/<id>`, not an alias). The
   * worker is granted `kms:Decrypt` on it through Secrets Manager only (`kms:ViaService`); a secret the
   * stack creates is encrypted with it. The key policy must let this account's IAM policies grant it.
   * @default none: the secret uses the AWS-managed `aws/secretsmanager` key, which needs no grant
   */
  readonly apiKeySecretKmsKeyArn?: string;
  /** E-mail address subscribed to the alarm topic (it must confirm the subscription). @default none */
  readonly alarmEmail?: string;
  /** An existing SNS topic for the alarms instead of a new one. @default a new topic */
  readonly alarmTopic?: ITopic;
  /** @default DEFAULT_ALARM_THRESHOLDS in kycertQueueMonitoring.ts */
  readonly alarmThresholds?: Partial<AlarmThresholds>;
  /** Time one record keeps its invocation busy, for sizing the event source (consumerConcurrency.ts). @default 1 s */
  readonly secondsPerRecord?: number;
  /**
   * The worker's reserved concurrency: at least what its event sources may run together (each
   * `maxConcurrency`, consumerConcurrency.ts), so that Lambda never throttles their batches and a full queue
   * cannot start more environments than the rate budget has use for. `false` reserves none, for an account
   * whose concurrency limit leaves no room to reserve (a new account's limit of 10; docs/deploy.md).
   * @default the event sources' sum
   */
  readonly reservedConcurrency?: number | false;
  /** @default 60 s (see WorkerFunctionDefaults) */
  readonly functionTimeout?: Duration;
  /** @default 512 */
  readonly functionMemorySizeMb?: number;
  /** Lambda's X-Ray tracing of the worker (see WorkerFunctionProps.tracing). @default Tracing.DISABLED */
  readonly tracing?: Tracing;
  /** @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
  /** Main queue retention; must outlast `idempotencyWindowHours`. @default 4 days */
  readonly queueRetention?: Duration;
  /**
   * Only to upgrade a stack deployed with the old `by-status` index: deploy with 1, then 2, then without it
   * (CloudFormation changes one index per update; docs/deploy.md, "Upgrading the outcome table's indexes").
   * @default none: the current indexes, `by-run-id` and `by-list-status`
   */
  readonly outcomeIndexUpgradeStep?: IndexUpgradeStep;
  /**
   * kycert's webhooks: `{ enabled: true }` creates the receiver (a Function URL, its signing secret), and status
   * checks become the safety net (docs/deploy.md, "Webhooks").
   * @default { enabled: false }: kycert must be told the URL first; status checks alone follow the runs
   */
  readonly webhooks?: WebhookSettings;
  /**
   * The EventBridge bus the decision events go to (`source: kycert-queue`, `detail-type: kycert run decided`),
   * e.g. one the producers own. The worker and the receiver may `events:PutEvents` on it and on nothing else.
   * @default the account's default bus, unless `createDecisionEventBus`
   */
  readonly decisionEventBus?: IEventBus;
  /** Create a bus for the decision events, `kycert-queue-<stage>-decisions`, instead of the default bus. @default false */
  readonly createDecisionEventBus?: boolean;
}

/**
 * kycert-queue as one construct: requests queue and DLQ, outcome table, API key secret, worker function,
 * alarms and dashboard. Every prop is optional and its default is the secure, production choice.
 */
export class KycertQueue extends Construct {
  public readonly stageName: string;
  public readonly settings: WorkerSettings;
  public readonly concurrency: ConsumerConcurrency;
  public readonly queue: IQueue;
  public readonly deadLetterQueue: IQueue;
  /** The status checks' own queue and DLQ; undefined when `followRuns` is false. */
  public readonly statusCheckQueue: IQueue | undefined;
  public readonly statusCheckDeadLetterQueue: IQueue | undefined;
  public readonly outcomeTable: ITable;
  public readonly apiKeySecret: ISecret;
  public readonly workerFunction: LambdaFunction;
  /** The hourly function that publishes the API key secret's age for the `api-key-age` alarm. */
  public readonly apiKeyAgeCheckFunction: LambdaFunction;
  public readonly alarmTopic: ITopic;
  /** Every alarm; `alarmNotificationsFailed` only when the construct created the alarm topic. */
  public readonly alarms: Partial<Record<AlarmKey, Alarm>>;
  public readonly dashboard: Dashboard;
  /** A managed policy that lets its holder send requests; for producers outside this CDK app. */
  public readonly producerPolicy: ManagedPolicy;
  /** Where the decision events go: the account's default bus, the one given, or the one created. */
  public readonly decisionEventBus: IEventBus;
  /** kycert's webhooks in; undefined unless `webhooks.enabled`. */
  public readonly webhookReceiver: WebhookReceiver | undefined;

  constructor(scope: Construct, id: string, props: KycertQueueProps = {}) {
    super(scope, id);
    this.stageName = props.stageName ?? DEFAULT_STAGE;
    if (!STAGE_NAME_PATTERN.test(this.stageName)) {
      throw new InvalidSettingsError([
        `stageName "${this.stageName}" must match ${STAGE_NAME_PATTERN}: a lowercase letter, then up to 23 lowercase letters, digits or "-"`,
      ]);
    }
    this.settings = resolveWorkerSettings(props);
    this.concurrency = consumerConcurrencyFor({
      rateLimitPerMinute: this.settings.rateLimitPerMinute,
      secondsPerRecord: props.secondsPerRecord ?? DEFAULT_SECONDS_PER_RECORD,
    });
    const functionTimeout = props.functionTimeout ?? WorkerFunctionDefaults.timeout;
    const tracing = props.tracing ?? WorkerFunctionDefaults.tracing;
    const queueRetention = props.queueRetention;
    if (
      queueRetention !== undefined &&
      queueRetention.toSeconds() <= this.settings.idempotencyWindowHours * 3600
    ) {
      throw new InvalidSettingsError([
        `queueRetention (${queueRetention.toHumanString()}) must outlast idempotencyWindowHours ` +
          `(${this.settings.idempotencyWindowHours} h), or messages could expire while retries are scheduled`,
      ]);
    }

    const retentionSeconds = (queueRetention ?? DEFAULT_QUEUE_RETENTION).toSeconds();
    if (this.settings.accountPauseBudgetHours * 3600 >= retentionSeconds - 3600) {
      throw new InvalidSettingsError([
        `accountPauseBudgetHours (${this.settings.accountPauseBudgetHours} h) must stay below the queue retention ` +
          `less an hour (${retentionSeconds / 3600 - 1} h), or paused messages would expire before their reason is written`,
      ]);
    }
    const visibilityTimeout = Duration.seconds(
      functionTimeout.toSeconds() * VISIBILITY_TIMEOUT_PER_FUNCTION_TIMEOUT,
    );
    const queues = new RunQueues(this, 'Queues', {
      queueName: `${stackNameFor(this.stageName)}-requests`,
      maxReceiveCount: REDRIVE_MAX_RECEIVE_COUNT,
      visibilityTimeout,
      retentionPeriod: queueRetention,
      statusCheckQueueName: this.settings.followRuns
        ? `${stackNameFor(this.stageName)}-status-checks`
        : undefined,
    });
    this.queue = queues.queue;
    this.deadLetterQueue = queues.deadLetterQueue;
    this.statusCheckQueue = queues.statusCheckQueue;
    this.statusCheckDeadLetterQueue = queues.statusCheckDeadLetterQueue;
    const outcomes = new OutcomeStoreTable(this, 'Outcomes', {
      indexUpgradeStep: props.outcomeIndexUpgradeStep,
    });
    this.outcomeTable = outcomes.table;

    const apiKeyKmsKeyArn = checkedKmsKeyArn(props.apiKeySecretKmsKeyArn);
    const apiKey = this.#apiKeySecret(props, apiKeyKmsKeyArn);
    this.apiKeySecret = apiKey.secret;
    this.decisionEventBus = this.#decisionEventBus(props);
    const webhooksEnabled = props.webhooks?.enabled === true;
    const worker = new WorkerFunction(this, 'Worker', {
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      statusCheckQueue: this.statusCheckQueue,
      queueVisibilityTimeout: visibilityTimeout,
      queueRetention: Duration.seconds(retentionSeconds),
      table: this.outcomeTable,
      apiKeySecretId: apiKey.secretId,
      apiKeySecretArnForPolicy: apiKey.arnForPolicy,
      apiKeyEncryptionKeyArn: apiKeyKmsKeyArn,
      stageName: this.stageName,
      settings: this.settings,
      batchSize: this.concurrency.batchSize,
      maxConcurrency: this.concurrency.maxConcurrency,
      decisionEventBus: this.settings.followRuns ? this.decisionEventBus : undefined,
      webhooksEnabled,
      reservedConcurrency:
        props.reservedConcurrency === false
          ? undefined
          : (props.reservedConcurrency ??
            this.concurrency.maxConcurrency * (this.statusCheckQueue === undefined ? 1 : 2)),
      timeout: functionTimeout,
      memorySizeMb: props.functionMemorySizeMb,
      tracing,
      logRetention: props.logRetention,
    });
    this.workerFunction = worker.lambdaFunction;
    this.apiKeyAgeCheckFunction = new ApiKeyAgeCheck(this, 'ApiKeyAgeCheck', {
      apiKeySecretId: apiKey.secretId,
      apiKeySecretArnForPolicy: apiKey.arnForPolicy,
      stageName: this.stageName,
      logRetention: props.logRetention,
    }).lambdaFunction;

    this.webhookReceiver = webhooksEnabled
      ? new WebhookReceiver(this, 'WebhookReceiver', {
          settings: props.webhooks ?? {},
          table: this.outcomeTable,
          decisionEventBus: this.decisionEventBus,
          stageName: this.stageName,
          namePrefix: stackNameFor(this.stageName),
          outcomeTtlDays: this.settings.outcomeTtlDays,
          secretKmsKeyArn: apiKeyKmsKeyArn,
          logRetention: props.logRetention,
          tracing,
        })
      : undefined;

    const monitoring = new KycertQueueMonitoring(this, 'Monitoring', {
      namePrefix: stackNameFor(this.stageName),
      stageName: this.stageName,
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      statusCheckDeadLetterQueue: this.statusCheckDeadLetterQueue,
      followsRuns: this.settings.followRuns,
      webhookReceiverFunction: this.webhookReceiver?.lambdaFunction,
      lambdaFunction: this.workerFunction,
      functionTimeout,
      table: this.outcomeTable,
      indexNames: outcomes.indexNames,
      // The worker's and the webhook receiver's GetItem and UpdateItem, and the Query of the CLI and the receiver.
      tableOperations: ['GetItem', 'UpdateItem', 'Query'],
      alarmEmail: props.alarmEmail,
      alarmTopic: props.alarmTopic,
      alarmThresholds: props.alarmThresholds,
    });
    this.alarmTopic = monitoring.alarmTopic;
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;

    this.producerPolicy = new ManagedPolicy(this, 'ProducerPolicy', {
      description: 'Send kycert run requests to the kycert-queue requests queue',
      statements: [
        new PolicyStatement({
          actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
          resources: [this.queue.queueArn],
        }),
      ],
    });

    this.#suppressReviewedFindings(worker, tracing);
  }

  /**
   * The default bus is imported (every account has one), a given bus is used as it is, and a created one is named
   * after the stack. A created bus is deleted with the stack: the events are delivered, not kept, on a bus.
   */
  #decisionEventBus(props: Pick<KycertQueueProps, 'decisionEventBus' | 'createDecisionEventBus'>): IEventBus {
    if (props.decisionEventBus !== undefined && props.createDecisionEventBus === true) {
      throw new InvalidSettingsError(['set decisionEventBus or createDecisionEventBus, not both']);
    }
    if (props.decisionEventBus !== undefined) return props.decisionEventBus;
    if (props.createDecisionEventBus === true) {
      return new EventBus(this, 'DecisionEventBus', {
        eventBusName: `${stackNameFor(this.stageName)}-decisions`,
        description: `kycert-queue ${this.stageName}: one event per kycert run decided`,
      });
    }
    return EventBus.fromEventBusName(this, 'DefaultEventBus', 'default');
  }

  /** Lets a producer (a role, a function, a user…) send requests to the queue, and nothing else. */
  public grantSendRequests(grantee: IGrantable): Grant {
    return this.queue.grantSendMessages(grantee);
  }

  #apiKeySecret(
    props: Pick<KycertQueueProps, 'apiKeySecretName' | 'apiKeySecretArn'>,
    kmsKeyArn: string | undefined,
  ): { secret: ISecret; secretId: string; arnForPolicy: string } {
    const { apiKeySecretName: name, apiKeySecretArn: arn } = props;
    if (name !== undefined && arn !== undefined) {
      throw new InvalidSettingsError(['set apiKeySecretName or apiKeySecretArn, not both']);
    }
    if (arn !== undefined) {
      if (!Token.isUnresolved(arn) && !COMPLETE_SECRET_ARN.test(arn)) {
        throw new InvalidSettingsError([
          `apiKeySecretArn must be a secret's complete ARN, ` +
            `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>; got "${arn}"`,
        ]);
      }
      const secret = Secret.fromSecretCompleteArn(this, 'ApiKey', arn);
      return { secret, secretId: arn, arnForPolicy: arn };
    }
    if (name !== undefined) {
      if (!Token.isUnresolved(name) && name.startsWith('arn:')) {
        throw new InvalidSettingsError([
          `apiKeySecretName "${name}" is an ARN, not a name: pass it as apiKeySecretArn`,
        ]);
      }
      if (!Token.isUnresolved(name) && !SECRET_NAME.test(name)) {
        throw new InvalidSettingsError([
          `apiKeySecretName "${name}" is not a Secrets Manager name (1–512 of A–Z a–z 0–9 / _ + = . @ -)`,
        ]);
      }
      const secret = Secret.fromSecretNameV2(this, 'ApiKey', name);
      // Secrets Manager appends six random characters to a secret's name in its ARN.
      const arnForPolicy = Stack.of(this).formatArn({
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: `${name}-??????`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      return { secret, secretId: name, arnForPolicy };
    }
    // A random placeholder, never a key: the template must not carry the credential. The operator puts the
    // real key with `aws secretsmanager put-secret-value` (docs/deploy.md); until then kycert answers 401.
    // Retained: a replacement (a changed generation setting, a moved construct) would put a new random
    // value in place of the key the operator set, and every message would get a 401.
    const secret = new Secret(this, 'ApiKey', {
      description: `kycert API key for ${stackNameFor(this.stageName)}: the key itself, or JSON {"api_key": "..."}`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
      ...(kmsKeyArn === undefined
        ? {}
        : { encryptionKey: Key.fromKeyArn(this, 'ApiKeyEncryptionKey', kmsKeyArn) }),
    });
    secret.applyRemovalPolicy(RemovalPolicy.RETAIN);
    return { secret, secretId: secret.secretArn, arnForPolicy: secret.secretArn };
  }

  /**
   * Findings reviewed and accepted; each says why. Anything else cdk-nag reports fails the nag test.
   * Applied when the app has cdk-nag installed (an optional peer dependency, see optionalNagSuppressions.ts).
   */
  #suppressReviewedFindings(worker: WorkerFunction, tracing: Tracing): void {
    const NagSuppressions = optionalNagSuppressions();
    if (NagSuppressions === undefined) return;
    if (tracing !== Tracing.DISABLED) {
      NagSuppressions.addResourceSuppressions(
        [worker.role, ...(this.webhookReceiver === undefined ? [] : [this.webhookReceiver.role])],
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'X-Ray tracing only: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level ' +
              'permissions, so AWS requires Resource "*". Every other statement names its resource.',
            appliesTo: ['Resource::*'],
          },
        ],
        true,
      );
    }
    if (this.apiKeySecret instanceof Secret) {
      NagSuppressions.addResourceSuppressions(this.apiKeySecret, [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'The secret holds an API key issued by kycert, which AWS cannot regenerate: automatic rotation would ' +
            'need a rotation Lambda able to mint kycert keys. Rotation is an operator procedure instead ' +
            '(docs/deploy.md, "Rotating the API key"); the worker re-reads the secret after a 401.',
        },
      ]);
    }
    if (this.webhookReceiver !== undefined) {
      NagSuppressions.addResourceSuppressions(this.webhookReceiver.secret, [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'The secret holds the webhook signing secret kycert issues (whsec_...), which AWS cannot regenerate: kycert ' +
            'must sign with it. Rotation is an operator procedure with both secrets accepted meanwhile (docs/deploy.md, ' +
            '"Rotating the webhook secret"); the receiver re-reads the secret when a signature fails.',
        },
      ]);
    }
  }
}
