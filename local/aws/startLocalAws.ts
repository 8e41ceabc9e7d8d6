import { REDRIVE_MAX_RECEIVE_COUNT } from '../../functions/kycert-worker/constants.js';
import { createLocalClients, LOCAL_CREDENTIALS, type LocalClients } from './createLocalClients.js';
import { createOutcomeTable } from './createOutcomeTable.js';
import { createQueuePair } from './createQueuePair.js';
import type { RunningEmulator } from './RunningEmulator.js';
import { startDynamoDbEmulator } from './startDynamoDbEmulator.js';
import { startSqsEmulator } from './startSqsEmulator.js';

export interface LocalAwsOptions {
  /** @default 0 (any free port) */
  readonly sqsPort?: number;
  /** @default 0 (any free port) */
  readonly dynamodbPort?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 'kycert-requests' */
  readonly queueName?: string;
  /** @default 'kycert-requests-dlq' */
  readonly deadLetterQueueName?: string;
  /** POSTs allowed per idempotency key. @default 12 (the worker's default) */
  readonly maxAttempts?: number;
  /** The redrive policy's `maxReceiveCount`. @default 500, as deployed (constants.ts) */
  readonly maxReceiveCount?: number;
  /** The main queue's visibility timeout. @default 30 s */
  readonly visibilityTimeoutSeconds?: number;
  /** @default 'kycert-outcomes' */
  readonly tableName?: string;
  /** Also the status checks' queue and its DLQ, as deployed when runs are followed. @default false */
  readonly statusChecks?: boolean;
}

/** As deployed (lib/runQueues.ts): SQS's highest maxReceiveCount. */
const STATUS_CHECK_MAX_RECEIVE_COUNT = 1000;

/** What a worker process needs in its environment to run against the emulators. */
export type LocalAwsEnv = {
  readonly AWS_ENDPOINT_URL_SQS: string;
  readonly AWS_ENDPOINT_URL_DYNAMODB: string;
  readonly AWS_REGION: string;
  readonly AWS_ACCESS_KEY_ID: string;
  readonly AWS_SECRET_ACCESS_KEY: string;
  readonly QUEUE_URL: string;
  readonly DEAD_LETTER_QUEUE_URL: string;
  readonly OUTCOME_TABLE_NAME: string;
  /** Given so the worker's attempt budget and the queue's redrive policy come from the same number. */
  readonly MAX_ATTEMPTS: string;
  readonly MAX_RECEIVE_COUNT: string;
  readonly STATUS_CHECK_QUEUE_URL?: string;
};

export interface LocalAws {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly region: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
  /** The status checks' queue, with `statusChecks`. */
  readonly statusCheckQueue: { readonly queueUrl: string; readonly deadLetterQueueUrl: string } | undefined;
  readonly tableName: string;
  readonly maxAttempts: number;
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
  /** Clients for the caller's own use; `stop()` destroys them. */
  readonly clients: LocalClients;
  readonly env: LocalAwsEnv;
  /** Destroys the clients and stops both emulators. Stop pollers first: their long polls end with an error. */
  stop(): Promise<void>;
}

const defaults = {
  region: 'us-east-1',
  queueName: 'kycert-requests',
  deadLetterQueueName: 'kycert-requests-dlq',
  maxAttempts: 12,
  visibilityTimeoutSeconds: 30,
  tableName: 'kycert-outcomes',
} as const;

/**
 * SQS (fauxqs) and DynamoDB (dynalite) on loopback, with the queue pair, its redrive policy and the outcome
 * table created as deployed. Everything is in memory and gone after `stop()`.
 */
export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const region = options.region ?? defaults.region;
  const maxAttempts = options.maxAttempts ?? defaults.maxAttempts;
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? defaults.visibilityTimeoutSeconds;
  const tableName = options.tableName ?? defaults.tableName;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
  }
  const maxReceiveCount = options.maxReceiveCount ?? REDRIVE_MAX_RECEIVE_COUNT;

  const started: RunningEmulator[] = [];
  let clients: LocalClients | undefined;
  try {
    const sqsEmulator = await startSqsEmulator({ port: options.sqsPort, region });
    started.push(sqsEmulator);
    const dynamodbEmulator = await startDynamoDbEmulator({ port: options.dynamodbPort });
    started.push(dynamodbEmulator);
    clients = createLocalClients({
      sqsEndpoint: sqsEmulator.endpoint,
      dynamodbEndpoint: dynamodbEmulator.endpoint,
      region,
    });
    const queues = await createQueuePair(clients.sqs, {
      queueName: options.queueName ?? defaults.queueName,
      deadLetterQueueName: options.deadLetterQueueName ?? defaults.deadLetterQueueName,
      maxReceiveCount,
      visibilityTimeoutSeconds,
    });
    const checks =
      options.statusChecks === true
        ? await createQueuePair(clients.sqs, {
            queueName: 'kycert-status-checks',
            deadLetterQueueName: 'kycert-status-checks-dlq',
            maxReceiveCount: STATUS_CHECK_MAX_RECEIVE_COUNT,
            visibilityTimeoutSeconds,
          })
        : undefined;
    await createOutcomeTable(clients.dynamodb, tableName);

    const ownClients = clients;
    let stopping: Promise<void> | undefined;
    return {
      sqsEndpoint: sqsEmulator.endpoint,
      dynamodbEndpoint: dynamodbEmulator.endpoint,
      region,
      ...queues,
      statusCheckQueue:
        checks === undefined
          ? undefined
          : { queueUrl: checks.queueUrl, deadLetterQueueUrl: checks.deadLetterQueueUrl },
      tableName,
      maxAttempts,
      maxReceiveCount,
      visibilityTimeoutSeconds,
      clients: ownClients,
      env: {
        AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynamodbEmulator.endpoint,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        QUEUE_URL: queues.queueUrl,
        DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
        OUTCOME_TABLE_NAME: tableName,
        MAX_ATTEMPTS: String(maxAttempts),
        MAX_RECEIVE_COUNT: String(maxReceiveCount),
        ...(checks === undefined ? {} : { STATUS_CHECK_QUEUE_URL: checks.queueUrl }),
      },
      stop() {
        stopping ??= stopAll(ownClients, started);
        return stopping;
      },
    };
  } catch (error) {
    // Whatever did start must not outlive the failure, or the caller's process never exits.
    await stopAll(clients, started);
    throw error;
  }
}

async function stopAll(
  clients: LocalClients | undefined,
  emulators: readonly RunningEmulator[],
): Promise<void> {
  clients?.destroy();
  const results = await Promise.allSettled(emulators.map((emulator) => emulator.stop()));
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  if (failures.length > 0) {
    throw new AggregateError(failures, `${failures.length} local emulator(s) failed to stop`);
  }
}
