import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { InvalidSettingsError } from './errors.js';
import { type WorkerSettings, workerEnvironment } from './workerSettings.js';

/**
 * The worker's code as the package ships it: `dist/worker/index.mjs` and its source map, built by
 * scripts/buildWorkerBundle.ts (the bundle's options live there). This module runs as lib/workerFunction.ts
 * in this repository and as dist/lib/workerFunction.js from the installed package: the package root is the
 * nearest directory with a package.json either way.
 */
export function workerBundleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`kycert-queue: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  const bundleDir = join(dir, 'dist', 'worker');
  if (!existsSync(join(bundleDir, 'index.mjs'))) {
    throw new Error(
      `kycert-queue: the worker bundle ${join(bundleDir, 'index.mjs')} is missing; in the kycert-queue ` +
        'repository, build it with `npm run build:worker` (an installed package ships it built)',
    );
  }
  return bundleDir;
}

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
  tracing: Tracing.ACTIVE,
} as const;

/** Room for the DynamoDB claim and result writes, the DLQ send and the visibility change of one record. */
const AWS_CALLS_ALLOWANCE_SECONDS = 10;

/** The shortest function timeout that lets a record finish its worst case: two POSTs and its AWS calls. */
export function minimumTimeoutFor(
  settings: Pick<WorkerSettings, 'httpConnectTimeoutMs' | 'httpTimeoutMs'>,
): Duration {
  const postSeconds = (settings.httpConnectTimeoutMs + settings.httpTimeoutMs) / 1000;
  return Duration.seconds(Math.ceil(2 * postSeconds + AWS_CALLS_ALLOWANCE_SECONDS));
}

export interface WorkerFunctionProps {
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly table: ITable;
  /** The one secret the function may read, as it appears in IAM (an imported name ends in `-??????`). */
  readonly apiKeySecretArnForPolicy: string;
  /** Name or ARN the worker reads the secret by. */
  readonly apiKeySecretId: string;
  readonly settings: WorkerSettings;
  /** Records per invocation; see consumerConcurrency.ts. */
  readonly batchSize: number;
  /** Concurrent invocations the event source may run; see consumerConcurrency.ts. */
  readonly maxConcurrency: number;
  /** @default 60 s */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySizeMb?: number;
  /** @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
  /**
   * Lambda's X-Ray tracing: cold starts and invocation timing, and traces continued from producers through
   * SQS. It needs `xray:PutTraceSegments` on `*` (X-Ray has no resource-level permissions).
   * @default Tracing.ACTIVE
   */
  readonly tracing?: Tracing;
}

/**
 * The worker Lambda, its role, log group and SQS event source.
 *
 * The code is the pre-built bundle (`workerBundleDir`), deployed as it is: a consumer's `cdk synth` needs
 * neither esbuild nor Docker nor this repository's sources.
 *
 * The role is written out instead of using AWSLambdaBasicExecutionRole, whose log permissions are on `*`.
 */
export class WorkerFunction extends Construct {
  public readonly lambdaFunction: LambdaFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;
  public readonly eventSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: WorkerFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? WorkerFunctionDefaults.timeout;
    const minimumTimeout = minimumTimeoutFor(props.settings);
    if (timeout.toSeconds() < minimumTimeout.toSeconds()) {
      throw new InvalidSettingsError([
        `function timeout ${timeout.toSeconds()} s is too short for two POSTs of up to ` +
          `${props.settings.httpConnectTimeoutMs} + ${props.settings.httpTimeoutMs} ms and the AWS calls of a record: ` +
          `use at least ${minimumTimeout.toSeconds()} s`,
      ]);
    }

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? WorkerFunctionDefaults.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'kycert-queue worker: its queue, its DLQ, its outcome table, its API key secret',
    });
    this.logGroup.grantWrite(this.role);

    this.lambdaFunction = new LambdaFunction(this, 'Function', {
      code: Code.fromAsset(workerBundleDir()),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout,
      memorySize: props.memorySizeMb ?? WorkerFunctionDefaults.memorySizeMb,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ?? WorkerFunctionDefaults.tracing,
      environment: workerEnvironment(props.settings, {
        queueUrl: props.queue.queueUrl,
        deadLetterQueueUrl: props.deadLetterQueue.queueUrl,
        outcomeTableName: props.table.tableName,
        apiKeySecretId: props.apiKeySecretId,
      }),
    });

    // The event source mapping receives, deletes and reads attributes; the worker itself changes the
    // visibility of the records it retries. grantConsumeMessages covers both, on this queue only.
    this.eventSource = new SqsEventSource(props.queue, {
      batchSize: props.batchSize,
      maxConcurrency: props.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.lambdaFunction.addEventSource(this.eventSource);
    props.deadLetterQueue.grantSendMessages(this.role);
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [props.table.tableArn],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.apiKeySecretArnForPolicy],
      }),
    );
  }
}
