import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { OutcomeTable } from '../../functions/kycert-worker/constants.js';

/** dynalite with `createTableMs: 0` activates a table on its next tick; this only bounds a surprise. */
const ACTIVE_POLL_INTERVAL_MS = 10;
const ACTIVE_POLL_ATTEMPTS = 200;

/**
 * The outcome table as deployed: partition key `idempotency_key`, on-demand billing, and the `by-status` GSI
 * (`status`, `updated_at`, all attributes projected) that the operator CLI queries.
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
        { AttributeName: OutcomeTable.statusIndexPartitionKey, AttributeType: 'S' },
        { AttributeName: OutcomeTable.statusIndexSortKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: OutcomeTable.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: OutcomeTable.statusIndexName,
          KeySchema: [
            { AttributeName: OutcomeTable.statusIndexPartitionKey, KeyType: 'HASH' },
            { AttributeName: OutcomeTable.statusIndexSortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
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
