import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { type DestinationRecord, DestinationRecordSchema } from '../core/destination-record.js';

/** The key of the one item whose `version` every change to the destinations bumps. */
const CATALOG_KEY = 'catalog';
const destinationKey = (id: string) => `dest#${id}`;

/** A create found the id taken. */
export class DestinationExistsError extends Error {
  public constructor(
    public readonly destinationId: string,
    options?: ErrorOptions,
  ) {
    super(`destination ${destinationId} already exists`, options);
    this.name = 'DestinationExistsError';
  }
}

/** A conditional write found another version than the one it was based on (or no item at all). */
export class VersionConflictError extends Error {
  public constructor(
    public readonly destinationId: string,
    public readonly expectedVersion: number,
    options?: ErrorOptions,
  ) {
    super(`destination ${destinationId} is no longer at version ${expectedVersion}`, options);
    this.name = 'VersionConflictError';
  }
}

/** The provisioner's fields: written without touching `version` (see core/destination-record.ts). */
export type ProvisioningState = Pick<DestinationRecord, 'status'> &
  Partial<Pick<DestinationRecord, 'statusReason' | 'queueUrl' | 'dlqUrl'>>;

/**
 * The destinations table (TABLES.destinations). Every write is conditional and bumps the catalog
 * version in the same transaction, so a reader that caches the destinations (ingest routing, the
 * delivery functions) learns of any change by reading one small item.
 */
export class DestinationStore {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  public async get(id: string): Promise<DestinationRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: destinationKey(id) }),
        ConsistentRead: true,
      }),
    );
    return Item ? parseRecord(unmarshall(Item)) : undefined;
  }

  /** Every destination, in no particular order (a Scan: 1,000 destinations are a few hundred KB). */
  public async list(): Promise<DestinationRecord[]> {
    const records: DestinationRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          FilterExpression: 'begins_with(pk, :dest)',
          ExpressionAttributeValues: marshall({ ':dest': 'dest#' }),
          ...(start ? { ExclusiveStartKey: marshall(start) } : {}),
        }),
      );
      for (const item of page.Items ?? []) records.push(parseRecord(unmarshall(item)));
      start = page.LastEvaluatedKey ? unmarshall(page.LastEvaluatedKey) : undefined;
    } while (start);
    return records;
  }

  /** The catalog version: 0 before the first change. */
  public async catalogVersion(): Promise<number> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: CATALOG_KEY }),
        ProjectionExpression: 'version',
      }),
    );
    return Item ? Number(unmarshall(Item).version ?? 0) : 0;
  }

  /**
   * Stores a new destination (version 1); DestinationExistsError if the id is taken. `also` are written
   * in the same transaction (the audit entry of the change), so a change is never without its entry.
   */
  public async create(record: DestinationRecord, also: readonly TransactWriteItem[] = []): Promise<void> {
    try {
      await this.write(record, 'attribute_not_exists(pk)', {}, also);
    } catch (error) {
      if (conditionFailed(error)) throw new DestinationExistsError(record.destination.id, { cause: error });
      throw error;
    }
  }

  /**
   * Replaces a destination that is still at `expectedVersion`; VersionConflictError otherwise. `also`
   * as for `create`.
   */
  public async replace(
    record: DestinationRecord,
    expectedVersion: number,
    also: readonly TransactWriteItem[] = [],
  ): Promise<void> {
    try {
      await this.write(record, 'version = :expected', { ':expected': expectedVersion }, also);
    } catch (error) {
      if (conditionFailed(error))
        throw new VersionConflictError(record.destination.id, expectedVersion, { cause: error });
      throw error;
    }
  }

  /**
   * Records what the provisioner made of a destination, if it still exists at `version` (a change
   * made meanwhile is converged by the next run instead). Answers whether it was written.
   */
  public async setProvisioning(id: string, version: number, state: ProvisioningState): Promise<boolean> {
    const fields = Object.entries(state).filter(([, v]) => v !== undefined);
    const clear = state.statusReason === undefined ? ' REMOVE statusReason' : '';
    try {
      await this.transact({
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: marshall({ pk: destinationKey(id) }),
              ConditionExpression: 'version = :version',
              UpdateExpression: `SET ${fields.map(([k]) => `#${k} = :${k}`).join(', ')}${clear}`,
              ExpressionAttributeNames: Object.fromEntries(fields.map(([k]) => [`#${k}`, k])),
              ExpressionAttributeValues: marshall({
                ':version': version,
                ...Object.fromEntries(fields.map(([k, v]) => [`:${k}`, v])),
              }),
            },
          },
          this.bumpCatalog(),
        ],
      });
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  /** Removes a destination for good (the provisioner, once its resources are gone), if still at `version`. */
  public async remove(id: string, version: number): Promise<boolean> {
    try {
      await this.transact({
        TransactItems: [
          {
            Delete: {
              TableName: this.tableName,
              Key: marshall({ pk: destinationKey(id) }),
              ConditionExpression: 'version = :version',
              ExpressionAttributeValues: marshall({ ':version': version }),
            },
          },
          this.bumpCatalog(),
        ],
      });
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  private async write(
    record: DestinationRecord,
    condition: string,
    values: Record<string, unknown>,
    also: readonly TransactWriteItem[],
  ): Promise<void> {
    await this.transact({
      TransactItems: [
        {
          Put: {
            TableName: this.tableName,
            Item: marshall(
              { pk: destinationKey(record.destination.id), ...record },
              { removeUndefinedValues: true },
            ),
            ConditionExpression: condition,
            ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: marshall(values) } : {}),
          },
        },
        this.bumpCatalog(),
        ...also,
      ],
    });
  }

  /**
   * One TransactWriteItems, retried while DynamoDB cancels it for a conflict with another transaction
   * on the same items. Every write bumps the one catalog item, so a backend creating destinations
   * concurrently conflicts there by design; the SDK retries throttles but not these cancellations.
   * A failed condition is never retried: it is the caller's answer (exists, stale version).
   */
  private async transact(input: TransactWriteItemsCommandInput): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.client.send(new TransactWriteItemsCommand(input));
        return;
      } catch (error) {
        if (attempt >= CONFLICT_ATTEMPTS || !transactionConflict(error)) throw error;
        // Full jitter, 25 ms doubling to at most 800 ms: conflicting writers spread out.
        const capMs = Math.min(800, 25 * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * capMs));
      }
    }
  }

  private bumpCatalog() {
    return {
      Update: {
        TableName: this.tableName,
        Key: marshall({ pk: CATALOG_KEY }),
        UpdateExpression: 'ADD version :one',
        ExpressionAttributeValues: marshall({ ':one': 1 }),
      },
    };
  }
}

function parseRecord(item: Record<string, unknown>): DestinationRecord {
  const { pk: _pk, ...rest } = item;
  return DestinationRecordSchema.parse(rest) as DestinationRecord;
}

/** Tries of a transaction DynamoDB cancels for conflicts: about 3 s of backoff in all, at most. */
const CONFLICT_ATTEMPTS = 8;

/** Cancelled only because another transaction held an item: retrying may succeed. */
function transactionConflict(error: unknown): boolean {
  if (!(error instanceof TransactionCanceledException)) return false;
  const codes = (error.CancellationReasons ?? []).map((r) => r.Code);
  return codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}

/** A failed condition: on a transaction it is a cancellation whose reason names it. */
function conditionFailed(error: unknown): boolean {
  if (error instanceof ConditionalCheckFailedException) return true;
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
  );
}
