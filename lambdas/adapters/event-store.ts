import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';

/** An accepted event as the event store keeps it. */
export interface StoredEvent {
  readonly eventId: string;
  readonly customerExternalId: string;
  readonly idempotencyKey: string;
  readonly eventType: string;
  readonly occurredAt: string;
  readonly receivedAt: string;
  /** SHA-256 of the canonical event: tells a retry from a different event under the same key. */
  readonly bodyHash: string;
  /** The EventRecord as canonical JSON: exactly what was enqueued, and what replay re-sends. */
  readonly record: string;
  /** Destination ids the event was routed to when first accepted. */
  readonly destinations: readonly string[];
  /** Destinations already enqueued; written only when a fan-out partly failed (see markEnqueued). */
  readonly enqueued?: Iterable<string>;
  readonly expiresAt: number;
}

export type PutResult =
  | { readonly created: true }
  | { readonly created: false; readonly existing: StoredEvent };

/** The DynamoDB event store (table `events`, key `eventId`). */
export class EventStore {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Stores the event unless its eventId is already there, in one conditional write. On a condition
   * failure DynamoDB hands back the existing item, so a producer's retry costs no extra read.
   */
  public async putIfAbsent(event: StoredEvent): Promise<PutResult> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ ...event, enqueued: undefined }, { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(eventId)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { created: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && error.Item) {
        return { created: false, existing: unmarshall(error.Item) as StoredEvent };
      }
      throw error;
    }
  }

  /**
   * Records which destinations a partly failed fan-out did reach, so the producer's retry enqueues only
   * the rest. Best effort by design: if this write is lost the retry re-enqueues to every destination,
   * and consumers de-duplicate by eventId.
   */
  public async markEnqueued(eventId: string, destinationIds: readonly string[]): Promise<void> {
    if (destinationIds.length === 0) return;
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ eventId }),
        UpdateExpression: 'ADD enqueued :d',
        ExpressionAttributeValues: { ':d': { SS: [...destinationIds] } },
      }),
    );
  }
}

/** What replay needs of a stored event: its bytes and where it was routed. */
export interface StoredRouting {
  readonly eventId: string;
  readonly record: string;
  readonly receivedAt: string;
  readonly destinations: readonly string[];
}

/** Reads stored events (record and routing) by id; ids not in the store are absent from the map. */
export async function getStoredRouting(
  client: DynamoDBClient,
  tableName: string,
  eventIds: readonly string[],
): Promise<Map<string, StoredRouting>> {
  const out = new Map<string, StoredRouting>();
  for (let i = 0; i < eventIds.length; i += 100) {
    let keys = eventIds.slice(i, i + 100).map((eventId) => marshall({ eventId }));
    for (let attempt = 0; keys.length > 0; attempt += 1) {
      const res = await client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [tableName]: {
              Keys: keys,
              ProjectionExpression: 'eventId, #r, receivedAt, destinations',
              ExpressionAttributeNames: { '#r': 'record' },
            },
          },
        }),
      );
      for (const item of res.Responses?.[tableName] ?? []) {
        const stored = unmarshall(item) as StoredRouting;
        out.set(stored.eventId, stored);
      }
      keys = res.UnprocessedKeys?.[tableName]?.Keys ?? [];
      if (keys.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
  return out;
}

/** Reads stored records (the canonical EventRecord JSON) by eventId. */
export async function getRecords(
  client: DynamoDBClient,
  tableName: string,
  eventIds: readonly string[],
): Promise<Map<string, string>> {
  const stored = await getStoredRouting(client, tableName, eventIds);
  return new Map([...stored].map(([id, s]) => [id, s.record]));
}

/**
 * One page of stored events received in [from, to) and routed to a destination. A Scan, read only when
 * on-call replays a window: an index on receivedAt would cost a write on every ingested event forever,
 * while a replay scan costs half a read unit per 4 KiB of table once. `cursor` resumes an interrupted run.
 */
export async function scanReceivedWindow(
  client: DynamoDBClient,
  tableName: string,
  window: { readonly from?: string; readonly to?: string; readonly destinationId: string },
  cursor: Record<string, unknown> | undefined,
): Promise<{ items: StoredRouting[]; cursor: Record<string, unknown> | undefined; scanned: number }> {
  const filters = ['contains(destinations, :d)'];
  const values: Record<string, unknown> = { ':d': window.destinationId };
  if (window.from) {
    filters.push('receivedAt >= :from');
    values[':from'] = new Date(window.from).toISOString();
  }
  if (window.to) {
    filters.push('receivedAt < :to');
    values[':to'] = new Date(window.to).toISOString();
  }
  const res = await client.send(
    new ScanCommand({
      TableName: tableName,
      Limit: 500,
      FilterExpression: filters.join(' AND '),
      ProjectionExpression: 'eventId, #r, receivedAt, destinations',
      ExpressionAttributeNames: { '#r': 'record' },
      ExpressionAttributeValues: marshall(values),
      ...(cursor ? { ExclusiveStartKey: marshall(cursor) } : {}),
    }),
  );
  return {
    items: (res.Items ?? []).map((i) => unmarshall(i) as StoredRouting),
    cursor: res.LastEvaluatedKey ? unmarshall(res.LastEvaluatedKey) : undefined,
    scanned: res.ScannedCount ?? 0,
  };
}
