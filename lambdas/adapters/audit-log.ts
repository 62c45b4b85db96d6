import { randomUUID } from 'node:crypto';
import {
  type DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { AUDIT_ACTIONS, type AuditAction } from '../core/audit-actions.js';
import type { AuditChange, JsonValue } from '../core/audit-diff.js';

/** One entry of the audit trail of changes, as `GET /v1/audit` answers it. */
export interface AuditEntry {
  /** ISO-8601 UTC with milliseconds (`toISOString()`), so entries sort by it as text. */
  readonly at: string;
  /** The caller's principal ARN (AWS) or access key id (local runtime). */
  readonly who: string;
  readonly action: AuditAction;
  readonly destinationId: string;
  readonly customerExternalId: string;
  /** The destination's version after the change. */
  readonly version?: number;
  readonly changes?: readonly AuditChange[];
  readonly details?: Readonly<Record<string, JsonValue>>;
}

export interface AuditQuery {
  readonly destinationId?: string;
  readonly customerExternalId?: string;
  readonly action?: AuditAction;
  /** Inclusive lower bound on `at` (ISO-8601). */
  readonly from?: string;
  /** Inclusive upper bound on `at` (ISO-8601). */
  readonly to?: string;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
}

export interface AuditPage {
  /** Newest first. */
  readonly entries: AuditEntry[];
  /** Present when more entries may follow: pass it back as `cursor`. */
  readonly cursor?: string;
}

/** A `cursor` that this log did not hand out. */
export class AuditCursorError extends Error {
  public constructor(options?: ErrorOptions) {
    super('cursor is not one this API returned', options);
    this.name = 'AuditCursorError';
  }
}

/** The one partition key of the audit table: changes are rare, so one partition holds them in time order. */
const PARTITION = 'audit';
/** Sorts after every `#<uuid>` suffix, so `to` includes every entry of its millisecond. */
const AFTER_ANY_ID = '#\uffff';

const EntrySchema = z.object({
  at: z.string(),
  who: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  destinationId: z.string(),
  customerExternalId: z.string(),
  version: z.number().optional(),
  changes: z.array(z.object({ field: z.string(), from: z.unknown(), to: z.unknown() })).optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

const CursorSchema = z.strictObject({ pk: z.literal(PARTITION), sk: z.string().min(1).max(200) });

export interface AuditLogOptions {
  /**
   * Entries per page of `query`.
   * @default 100
   */
  readonly pageSize?: number;
  /**
   * Most items one `query` reads before it answers with what it found and a cursor, so a selective
   * filter over a long trail stays a bounded request.
   * @default 2000
   */
  readonly maxItemsRead?: number;
}

/**
 * The audit table (TABLES.audit): pk `audit`, sk `<at>#<uuid>`. Entries are written in the same
 * transaction as the change they record (`putItem`, see DestinationStore), or alone (`append`).
 */
export class AuditLog {
  private readonly pageSize: number;
  private readonly maxItemsRead: number;

  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: AuditLogOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 100;
    this.maxItemsRead = options.maxItemsRead ?? 2000;
  }

  /** The entry as a transaction item, for a write that must not happen without its entry. */
  public putItem(entry: AuditEntry): TransactWriteItem {
    return { Put: { TableName: this.tableName, Item: this.item(entry) } };
  }

  public async append(entry: AuditEntry): Promise<void> {
    await this.client.send(new PutItemCommand({ TableName: this.tableName, Item: this.item(entry) }));
  }

  /** Entries matching every given filter, newest first, one page at a time. */
  public async query(query: AuditQuery): Promise<AuditPage> {
    const values: Record<string, unknown> = {
      ':pk': PARTITION,
      ':from': query.from ?? '0',
      ':to': `${query.to ?? '9999'}${AFTER_ANY_ID}`,
    };
    const filters: string[] = [];
    const names: Record<string, string> = {};
    for (const field of ['destinationId', 'customerExternalId', 'action'] as const) {
      const value = query[field];
      if (value === undefined) continue;
      filters.push(`#${field} = :${field}`);
      names[`#${field}`] = field;
      values[`:${field}`] = value;
    }
    const entries: AuditEntry[] = [];
    let start = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    let read = 0;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ScanIndexForward: false,
          // Without a filter, a page is exactly what is left to answer; with one, read more per call.
          Limit: filters.length === 0 ? this.pageSize - entries.length : this.pageSize,
          ...(filters.length > 0
            ? { FilterExpression: filters.join(' AND '), ExpressionAttributeNames: names }
            : {}),
          ExpressionAttributeValues: marshall(values),
          ...(start ? { ExclusiveStartKey: marshall(start) } : {}),
        }),
      );
      read += page.ScannedCount ?? 0;
      const items = (page.Items ?? []).map((i) => unmarshall(i));
      const room = this.pageSize - entries.length;
      if (items.length > room) {
        // A filtered page found more than fits: stop after the last entry answered, not the page.
        const kept = items.slice(0, room);
        entries.push(...kept.map(parseEntry));
        const last = kept.at(-1) as Record<string, unknown>;
        return { entries, cursor: encodeCursor({ pk: PARTITION, sk: last.sk }) };
      }
      entries.push(...items.map(parseEntry));
      start = page.LastEvaluatedKey ? unmarshall(page.LastEvaluatedKey) : undefined;
    } while (start && entries.length < this.pageSize && read < this.maxItemsRead);
    return { entries, ...(start ? { cursor: encodeCursor(start) } : {}) };
  }

  private item(entry: AuditEntry) {
    return marshall(
      { pk: PARTITION, sk: `${entry.at}#${randomUUID()}`, ...entry },
      { removeUndefinedValues: true },
    );
  }
}

function parseEntry(item: Record<string, unknown>): AuditEntry {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return EntrySchema.parse(rest) as AuditEntry;
}

/** Opaque to callers: base64url of the table key to continue after. */
function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    return CursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch (cause) {
    throw new AuditCursorError({ cause });
  }
}
