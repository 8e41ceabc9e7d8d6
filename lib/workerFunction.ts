import { Duration, Names, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { Role } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  Code,
  type EventSourceMapping,
  Function as LambdaFunction,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { bundleDir } from './bundleDir.js';
import { InvalidSettingsError } from './errors.js';
import { functionLogsAndRole } from './functionLogsAndRole.js';
import { workerPermissions } from './workerPermissions.js';
import { type WorkerSettings, workerEnvironment } from './workerSettings.js';

/** The sizing defaults, exported for the docs and tests. */
export const WorkerFunctionDefaults = {
  /**
   * A record may take two POSTs (a 401 re-reads the key and sends once more), each up to the connect
   * timeout plus the response timeout (3 s + 10 s by default), and a few DynamoDB and SQS calls; records of
   * a batch run in parallel. 60 s covers that twice over; `minimumTimeoutFor` guards custom HTTP timeouts.
   */
  timeout: Duration.seconds(60),
  /** The work waits on I/O; 512 MB buys the CPU share that parses the bundle quickly on a cold start. */
  memorySizeMb: 512,
  logRetention: RetentionDays.THREE_MONTHS,
  /**
   * Off. The worker carries no X-Ray SDK, so active tracing would record Lambda's own segment of each
   * invocation and no span inside it. Powertools Tracer would add the spans (the AWS calls, the POST to
   * kycert), but measured beside the shipped bundle (bench/p4Cuts.ts; BENCHMARKS.md, P4, "Tracing") it gives
   * back most of what a cut of issue 14 saves: +126 KB (the bundle past 1.25 MB), 7–9 % more init CPU,
   * 11–14 % more CPU to the end of the first invocation, and about a third more CPU on the invocations after
   * it, as its context tracking (cls-hooked) hooks every promise. The logs and metrics already say what each
   * message did and how long kycert took.
   */
  tracing: Tracing.DISABLED,
} as const;

/** Room for the DynamoDB claim and result writes, the DLQ send and the visibility change of one record. */
const AWS_CALLS_ALLOWANCE_SECONDS = 10;

/**
 * The shortest function timeout that lets a record finish its worst case: a wait for its slot in the
 * shared rate schedule, two POSTs and its AWS calls.
 */
export function minimumTimeoutFor(
  settings: Pick<WorkerSettings, 'httpConnectTimeoutMs' | 'httpTimeoutMs' | 'maxInFunctionWaitMs'>,
): Duration {
  const postSeconds = (settings.httpConnectTimeoutMs + settings.httpTimeoutMs) / 1000;
  const waitSeconds = settings.maxInFunctionWaitMs / 1000;
  return Duration.seconds(Math.ceil(waitSeconds + 2 * postSeconds + AWS_CALLS_ALLOWANCE_SECONDS));
}

export interface WorkerFunctionProps {
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The status checks' queue, a second event source of the same function; absent when runs are not followed. */
  readonly statusCheckQueue?: IQueue | undefined;
  /** The requests queue's visibility timeout and retention, which the worker reasons with. */
  readonly queueVisibilityTimeout: Duration;
  readonly queueRetention: Duration;
  readonly table: ITable;
  /** The one secret the function may read, as it appears in IAM (an imported name ends in `-??????`). */
  readonly apiKeySecretArnForPolicy: string;
  /** Name or ARN the worker reads the secret by. */
  readonly apiKeySecretId: string;
  /** The customer-managed KMS key of the secret: the worker gets `kms:Decrypt` through Secrets Manager. @default none */
  readonly apiKeyEncryptionKeyArn?: string | undefined;
  /** The stage, the `stage` dimension of every metric the worker emits. */
  readonly stageName: string;
  readonly settings: WorkerSettings;
  /** Records per invocation; see consumerConcurrency.ts. */
  readonly batchSize: number;
  /** Concurrent invocations each event source may run; see consumerConcurrency.ts. */
  readonly maxConcurrency: number;
  /**
   * The function's reserved concurrency: what its event sources may run together, so that a full queue
   * cannot start more environments than the rate budget has use for. `undefined`: none reserved (for an
   * account whose concurrency limit leaves no room to reserve, docs/deploy.md).
   */
  readonly reservedConcurrency: number | undefined;
  /** The bus decisions are published on: `events:PutEvents` on it, and its ARN in the environment. @default none */
  readonly decisionEventBus?: IEventBus | undefined;
  /** kycert sends webhooks to the stack's receiver (status checks start later). @default false */
  readonly webhooksEnabled?: boolean | undefined;
  /** @default 60 s */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySizeMb?: number;
  /** @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
  /**
   * Lambda's X-Ray tracing. `Tracing.ACTIVE` records each invocation's segment (init and invocation timing,
   * continued from a producer's trace through SQS), without spans inside it (see
   * `WorkerFunctionDefaults.tracing`). Active or pass-through tracing grants `xray:PutTraceSegments` on `*`
   * (X-Ray has no resource-level permissions).
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;
}

/**
 * The worker Lambda, its role, log group and SQS event sources (the requests queue, the status checks' queue).
 *
 * The code is the pre-built bundle (`bundleDir('worker')`, built by scripts/buildWorkerBundle.ts), deployed
 * as it is: a consumer's `cdk synth` needs neither esbuild nor Docker nor this repository's sources.
 *
 * The role is written out instead of using AWSLambdaBasicExecutionRole, whose log permissions are on `*`,
 * and holds exactly the calls the code makes (workerPermissions.ts). The event source mapping is declared
 * directly rather than through SqsEventSource, which would also grant `sqs:GetQueueUrl`.
 */
export class WorkerFunction extends Construct {
  public readonly lambdaFunction: LambdaFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;
  public readonly eventSourceMapping: EventSourceMapping;
  public readonly statusCheckEventSourceMapping: EventSourceMapping | undefined;

  constructor(scope: Construct, id: string, props: WorkerFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? WorkerFunctionDefaults.timeout;
    const minimumTimeout = minimumTimeoutFor(props.settings);
    if (timeout.toSeconds() < minimumTimeout.toSeconds()) {
      throw new InvalidSettingsError([
        `function timeout ${timeout.toSeconds()} s is too short for a wait of up to ${props.settings.maxInFunctionWaitMs} ms ` +
          `for a slot, two POSTs of up to ${props.settings.httpConnectTimeoutMs} + ${props.settings.httpTimeoutMs} ms ` +
          `and the AWS calls of a record: ` +
          `use at least ${minimumTimeout.toSeconds()} s`,
      ]);
    }

    ({ logGroup: this.logGroup, role: this.role } = functionLogsAndRole(this, {
      roleDescription: 'kycert-queue worker: its queue, its DLQ, its outcome table, its API key secret',
      logRetention: props.logRetention ?? WorkerFunctionDefaults.logRetention,
    }));

    if (
      props.reservedConcurrency !== undefined &&
      props.reservedConcurrency < this.#eventSourceConcurrency(props)
    ) {
      throw new InvalidSettingsError([
        `reservedConcurrency ${props.reservedConcurrency} is below what the event sources may run together ` +
          `(${this.#eventSourceConcurrency(props)}): Lambda would throttle their batches`,
      ]);
    }

    this.lambdaFunction = new LambdaFunction(this, 'Function', {
      code: Code.fromAsset(bundleDir('worker')),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout,
      memorySize: props.memorySizeMb ?? WorkerFunctionDefaults.memorySizeMb,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ?? WorkerFunctionDefaults.tracing,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: workerEnvironment(props.settings, {
        queueUrl: props.queue.queueUrl,
        deadLetterQueueUrl: props.deadLetterQueue.queueUrl,
        statusCheckQueueUrl: props.statusCheckQueue?.queueUrl,
        outcomeTableName: props.table.tableName,
        apiKeySecretId: props.apiKeySecretId,
        stageName: props.stageName,
        queueVisibilityTimeoutSeconds: props.queueVisibilityTimeout.toSeconds(),
        queueRetentionSeconds: props.queueRetention.toSeconds(),
        decisionEventBusName: props.decisionEventBus?.eventBusArn,
        webhooksEnabled: props.webhooksEnabled,
      }),
    });

    // The id SqsEventSource used, so that the mapping keeps its logical id.
    this.eventSourceMapping = this.lambdaFunction.addEventSourceMapping(
      `SqsEventSource:${Names.nodeUniqueId(props.queue.node)}`,
      {
        eventSourceArn: props.queue.queueArn,
        batchSize: props.batchSize,
        maxConcurrency: props.maxConcurrency,
        reportBatchItemFailures: true,
      },
    );
    // Status checks draw from the same rate budget as the POSTs, through the same function: one mapping
    // more, with the same sizing, rather than a second function with its own cold starts and settings.
    this.statusCheckEventSourceMapping =
      props.statusCheckQueue === undefined
        ? undefined
        : this.lambdaFunction.addEventSourceMapping('StatusCheckEventSource', {
            eventSourceArn: props.statusCheckQueue.queueArn,
            batchSize: props.batchSize,
            maxConcurrency: props.maxConcurrency,
            reportBatchItemFailures: true,
          });
    const permissions = workerPermissions({
      queueArn: props.queue.queueArn,
      deadLetterQueueArn: props.deadLetterQueue.queueArn,
      statusCheckQueueArn: props.statusCheckQueue?.queueArn,
      tableArn: props.table.tableArn,
      apiKeySecretArn: props.apiKeySecretArnForPolicy,
      apiKeyEncryptionKeyArn: props.apiKeyEncryptionKeyArn,
      region: Stack.of(this).region,
      decisionEventBusArn: props.decisionEventBus?.eventBusArn,
    });
    for (const statement of permissions) this.role.addToPolicy(statement);
  }

  /** Invocations the event sources may run at once: `maxConcurrency` each. */
  #eventSourceConcurrency(props: WorkerFunctionProps): number {
    return props.maxConcurrency * (props.statusCheckQueue === undefined ? 1 : 2);
  }
}
