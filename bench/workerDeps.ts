import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig, type WorkerConfig } from '../functions/kycert-worker/config.js';
import { createWorkerDeps } from '../functions/kycert-worker/createWorkerDeps.js';
import { DeadLetterQueue } from '../functions/kycert-worker/deadLetterQueue.js';
import { MessageVisibility } from '../functions/kycert-worker/messageVisibility.js';
import { OutcomeStore } from '../functions/kycert-worker/outcomeStore.js';
import type { WorkerDeps } from '../functions/kycert-worker/processRecord.js';

/** The AWS clients the worker's outcome store, DLQ and visibility changes send through. */
export interface WorkerAwsClients {
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
}

/**
 * The worker's real dependencies, as `createWorkerDeps` builds them from a Lambda-style environment, with the
 * AWS-facing parts rebuilt on clients the benchmark owns (in memory, or counting their calls). Nothing is read
 * from `process.env` but the Powertools settings, so several workers can live in one process.
 */
export function benchWorkerDeps(env: Record<string, string>, clients: WorkerAwsClients): WorkerDeps {
  const config: WorkerConfig = loadConfig(env);
  return createWorkerDeps(
    config,
    {
      outcomeStore: new OutcomeStore({
        client: clients.dynamodb,
        tableName: config.outcomeTableName,
        ttlSeconds: config.outcomeTtlSeconds,
      }),
      deadLetterQueue: new DeadLetterQueue({ client: clients.sqs, queueUrl: config.deadLetterQueueUrl }),
      visibility: new MessageVisibility({ client: clients.sqs, queueUrl: config.queueUrl }),
    },
    // The shared flow control's item is in the same table: its client too must be the benchmark's.
    clients,
  );
}

const BENCH_CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' } as const;

/** Clients configured as in Lambda but with fixed credentials, a fixed region and the given endpoints. */
export function benchAwsClients(options: {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  region: string;
  requestHandler?: unknown;
}): WorkerAwsClients {
  const common = {
    region: options.region,
    credentials: BENCH_CREDENTIALS,
    ...(options.requestHandler === undefined
      ? {}
      : { requestHandler: options.requestHandler as DynamoDBClient['config']['requestHandler'] }),
  };
  return {
    sqs: new SQSClient({ ...common, endpoint: options.sqsEndpoint, useQueueUrlAsEndpoint: false }),
    dynamodb: new DynamoDBClient({ ...common, endpoint: options.dynamodbEndpoint }),
  };
}
