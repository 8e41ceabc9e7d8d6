import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { OutcomeTable } from '../../functions/kycert-worker/constants.js';

/** dynalite with `createTableMs: 0` activates a table on its next tick; this only bounds a surprise. */
const ACTIVE_POLL_INTERVAL_MS = 10;
const ACTIVE_POLL_ATTEMPTS = 200;

/**
 * The outcome table as deployed (lib/outcomeStoreTable.ts): partition key `idempotency_key`, on-demand billing,
 * the sparse `by-run-id` GSI (`run_id`, keys only) the webhook receiver finds a run's key with, and the sparse
 * `by-list-status` GSI (`list_status`, `updated_at`, the attributes the list shows) the operator CLI queries.
 * The TTL on `expires_at` is not enabled: dynalite has no UpdateTimeToLive, and locally nothing lives long
 * enough to expire.
 */
export async function createOutcomeTable(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: OutcomeTable.partitionKey, AttributeType: 'S' },
        { AttributeName: OutcomeTable.runIdIndexPartitionKey, AttributeType: 'S' },
        { AttributeName: OutcomeTable.listIndexPartitionKey, AttributeType: 'S' },
        { AttributeName: OutcomeTable.listIndexSortKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: OutcomeTable.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: OutcomeTable.runIdIndexName,
          KeySchema: [{ AttributeName: OutcomeTable.runIdIndexPartitionKey, KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
        {
          IndexName: OutcomeTable.listIndexName,
          KeySchema: [
            { AttributeName: OutcomeTable.listIndexPartitionKey, KeyType: 'HASH' },
            { AttributeName: OutcomeTable.listIndexSortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...OutcomeTable.listIndexAttributes] },
        },
      ],
    }),
  );
  for (let attempt = 0; attempt < ACTIVE_POLL_ATTEMPTS; attempt++) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') {
      return;
    }
    await sleep(ACTIVE_POLL_INTERVAL_MS);
  }
  throw new Error(
    `table ${tableName} is not ACTIVE after ${(ACTIVE_POLL_INTERVAL_MS * ACTIVE_POLL_ATTEMPTS) / 1000} s`,
  );
}
