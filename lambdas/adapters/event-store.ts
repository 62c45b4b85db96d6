import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  PutItemCommand,
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

/** Reads stored records by eventId (BatchGetItem, 100 keys a call, unprocessed keys retried). */
export async function getRecords(
  client: DynamoDBClient,
  tableName: string,
  eventIds: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < eventIds.length; i += 100) {
    let keys = eventIds.slice(i, i + 100).map((eventId) => marshall({ eventId }));
    for (let attempt = 0; keys.length > 0; attempt += 1) {
      const res = await client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [tableName]: {
              Keys: keys,
              ProjectionExpression: 'eventId, #r',
              ExpressionAttributeNames: { '#r': 'record' },
            },
          },
        }),
      );
      for (const item of res.Responses?.[tableName] ?? []) {
        const { eventId, record } = unmarshall(item) as { eventId: string; record: string };
        out.set(eventId, record);
      }
      keys = res.UnprocessedKeys?.[tableName]?.Keys ?? [];
      if (keys.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
  return out;
}
