import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { OutcomeTable } from '../functions/kycert-worker/constants.js';

/**
 * A stack deployed before the run-decision indexes has the `by-status` index. CloudFormation creates or deletes
 * one global secondary index per update, so the move to `by-run-id` + `by-list-status` takes three deploys:
 * step 1 adds `by-run-id`, step 2 adds `by-list-status`, and the step left unset deletes `by-status`
 * (docs/deploy.md, "Upgrading the outcome table's indexes").
 */
export type IndexUpgradeStep = 1 | 2;

export interface OutcomeStoreTableProps {
  /**
   * What happens to the table when it leaves the stack. Outcomes are the record of which runs were
   * created: losing them means a redrive could no longer tell a finished key from a new one.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Refuses `DeleteTable` from anyone, not only from CloudFormation. @default true */
  readonly deletionProtection?: boolean;
  /** Only to upgrade a stack that has the old `by-status` index, one index per deploy. @default none: the current indexes */
  readonly indexUpgradeStep?: IndexUpgradeStep;
}

/**
 * One item per idempotency key (see the README's "The outcome item"). On-demand, because traffic follows
 * producers' bursts; point-in-time recovery; TTL on the expiry attribute; the sparse `by-run-id` index the
 * webhook receiver finds a run's key with (keys only), and the sparse, sharded `by-list-status` index the
 * operator CLI lists with (`list --decision blocked --since 1h`), projecting only what the list shows.
 */
export class OutcomeStoreTable extends Construct {
  public readonly table: ITable;
  /** The table's global secondary indexes, for the alarms on their throttles. */
  public readonly indexNames: readonly string[];

  constructor(scope: Construct, id: string, props: OutcomeStoreTableProps = {}) {
    super(scope, id);
    const table = new Table(this, 'Table', {
      partitionKey: { name: OutcomeTable.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: OutcomeTable.ttlAttribute,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      deletionProtection: props.deletionProtection ?? true,
    });
    const step = props.indexUpgradeStep;
    const indexNames: string[] = [];
    if (step !== undefined) {
      table.addGlobalSecondaryIndex({
        indexName: OutcomeTable.legacyStatusIndexName,
        partitionKey: { name: OutcomeTable.legacyStatusIndexPartitionKey, type: AttributeType.STRING },
        sortKey: { name: OutcomeTable.listIndexSortKey, type: AttributeType.STRING },
        projectionType: ProjectionType.ALL,
      });
      indexNames.push(OutcomeTable.legacyStatusIndexName);
    }
    table.addGlobalSecondaryIndex({
      indexName: OutcomeTable.runIdIndexName,
      partitionKey: { name: OutcomeTable.runIdIndexPartitionKey, type: AttributeType.STRING },
      projectionType: ProjectionType.KEYS_ONLY,
    });
    indexNames.push(OutcomeTable.runIdIndexName);
    if (step !== 1) {
      table.addGlobalSecondaryIndex({
        indexName: OutcomeTable.listIndexName,
        partitionKey: { name: OutcomeTable.listIndexPartitionKey, type: AttributeType.STRING },
        sortKey: { name: OutcomeTable.listIndexSortKey, type: AttributeType.STRING },
        projectionType: ProjectionType.INCLUDE,
        nonKeyAttributes: [...OutcomeTable.listIndexAttributes],
      });
      indexNames.push(OutcomeTable.listIndexName);
    }
    this.table = table;
    this.indexNames = indexNames;
  }
}
