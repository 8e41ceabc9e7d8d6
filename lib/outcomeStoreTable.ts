import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { OutcomeTable } from '../functions/kycert-worker/constants.js';

export interface OutcomeStoreTableProps {
  /**
   * What happens to the table when it leaves the stack. Outcomes are the record of which runs were
   * created: losing them means a redrive could no longer tell a finished key from a new one.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Refuses `DeleteTable` from anyone, not only from CloudFormation. @default true */
  readonly deletionProtection?: boolean;
}

/**
 * One item per idempotency key (see the README's "The outcome item"). On-demand, because traffic follows
 * producers' bursts; point-in-time recovery; TTL on the expiry attribute; and the `by-status` index the
 * operator CLI lists outcomes with (`list --status failed --since 1h`).
 */
export class OutcomeStoreTable extends Construct {
  public readonly table: ITable;

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
    table.addGlobalSecondaryIndex({
      indexName: OutcomeTable.statusIndexName,
      partitionKey: { name: OutcomeTable.statusIndexPartitionKey, type: AttributeType.STRING },
      sortKey: { name: OutcomeTable.statusIndexSortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
    this.table = table;
  }
}
