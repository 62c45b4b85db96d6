import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES, type TableDescription } from '../lambdas/core/resources.js';

/** The role of each table, as named in `TABLES` (lambdas/core/resources.ts). */
export type TableRole = keyof typeof TABLES;

/** Construct id of a table: its role in PascalCase plus `Table` (`events` → `EventsTable`). */
export function tableConstructId(table: TableDescription): string {
  return `${table.role.charAt(0).toUpperCase()}${table.role.slice(1)}Table`;
}

/**
 * The DynamoDB tables Pushrail runs on, one per entry of `TABLES` (events, ingest idempotency, S3
 * seals, delivery attempts), so the local runtime provisions exactly the same keys and TTL attributes.
 *
 * - On-demand capacity: ingest traffic is bursty and a stack may sit idle.
 * - Point-in-time recovery: the events table is the durable record behind every 202 and the source of
 *   `replay --source events`; the seals table is what keeps S3 rows unique across redeliveries.
 * - Encryption with the AWS managed key (`aws/dynamodb`) rather than the AWS owned default: the key
 *   lives in the vendor's account, so its use shows in CloudTrail and auditors can see which key
 *   protects event payloads, with no key policy or rotation to run (a customer managed key would add
 *   both, and a monthly fee, for no control this pipeline needs).
 * - TTL expires items after the configured retention.
 * - Retained, with deletion protection, on stack deletion: they hold accepted events.
 */
export class Tables extends Construct {
  public readonly tables: Readonly<Record<TableRole, ITable>>;

  public constructor(scope: Construct, id: string) {
    super(scope, id);
    const build = (description: TableDescription): ITable =>
      new Table(this, tableConstructId(description), {
        partitionKey: { name: description.partitionKey, type: AttributeType.STRING },
        ...(description.sortKey
          ? { sortKey: { name: description.sortKey, type: AttributeType.STRING } }
          : {}),
        timeToLiveAttribute: description.ttlAttribute,
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: TableEncryption.AWS_MANAGED,
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    const tables: Partial<Record<TableRole, ITable>> = {};
    for (const role of Object.keys(TABLES) as TableRole[]) tables[role] = build(TABLES[role]);
    this.tables = tables as Record<TableRole, ITable>;
  }
}
