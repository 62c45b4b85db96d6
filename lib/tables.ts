import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  Table,
  TableBase,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import type { AddToResourcePolicyResult, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
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
 * - Global secondary indexes as the description lists them (the attempts table's deliveries feed).
 *
 * `tables` are what the functions are granted on: for a table with indexes, a reference to the table
 * alone, because a grant on the Table itself also grants `<table>/index/*` to every grantee (the
 * delivery functions would be allowed to read the feed). A function that reads an index is granted
 * on `indexArns` explicitly.
 */
export class Tables extends Construct {
  public readonly tables: Readonly<Record<TableRole, ITable>>;
  /** The ARN of each table's index, by table role and index name (`indexArns.attempts.feed`). */
  public readonly indexArns: Readonly<Partial<Record<TableRole, Readonly<Record<string, string>>>>>;

  public constructor(scope: Construct, id: string) {
    super(scope, id);
    const indexArns: Partial<Record<TableRole, Record<string, string>>> = {};
    const build = (description: TableDescription): ITable => {
      const table = new Table(this, tableConstructId(description), {
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
      const indexes = description.globalIndexes ?? [];
      if (indexes.length === 0) return table;
      for (const index of indexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
          sortKey: { name: index.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType.INCLUDE,
          nonKeyAttributes: [...index.projected],
        });
      }
      indexArns[description.role as TableRole] = Object.fromEntries(
        indexes.map((index) => [index.name, `${table.tableArn}/index/${index.name}`]),
      );
      return new TableGrantView(this, `${tableConstructId(description)}Grants`, table);
    };
    this.indexArns = indexArns;
    const tables: Partial<Record<TableRole, ITable>> = {};
    for (const role of Object.keys(TABLES) as TableRole[]) tables[role] = build(TABLES[role]);
    this.tables = tables as Record<TableRole, ITable>;
  }
}

/**
 * A table as grants see it without its indexes: the same name and ARN (Ref and GetAtt of the real
 * table), and `hasIndex` false, so `grant` covers the table alone, not `<table>/index/*`. No resource
 * of its own.
 */
class TableGrantView extends TableBase {
  public readonly tableArn: string;
  public readonly tableName: string;
  public readonly tableStreamArn?: string;
  public readonly encryptionKey?: IKey;
  public resourcePolicy?: PolicyDocument;
  public readonly regions: string[] = [];

  public constructor(scope: Construct, id: string, table: Table) {
    super(scope, id);
    this.tableArn = table.tableArn;
    this.tableName = table.tableName;
    if (table.tableStreamArn) this.tableStreamArn = table.tableStreamArn;
    if (table.encryptionKey) this.encryptionKey = table.encryptionKey;
  }

  public addToResourcePolicy(_statement: PolicyStatement): AddToResourcePolicyResult {
    return { statementAdded: false };
  }

  protected get hasIndex(): boolean {
    return false;
  }
}
