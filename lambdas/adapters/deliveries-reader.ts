import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  bucketInWindow,
  deliveryOf,
  encodeFeedCursor,
  FEED_MAX_BUCKETS_PER_PAGE,
  type FeedCursor,
  type FeedDelivery,
  type FeedQuery,
  feedQueryInput,
  firstBucket,
  previousBucket,
} from '../core/deliveries-feed.js';

export interface FeedPage {
  /** Newest first. */
  readonly deliveries: FeedDelivery[];
  /** Present when more may follow: pass it back as `cursor`. */
  readonly cursor?: string;
  /** What the page cost, for the request's log line: Queries sent and items DynamoDB read. */
  readonly reads: { readonly queries: number; readonly itemsRead: number };
}

export interface DeliveriesReaderOptions {
  /**
   * Most items one page reads before it answers what it found and a cursor, so a selective filter
   * over a busy window stays a bounded request.
   * @default 1000
   */
  readonly maxItemsRead?: number;
}

/** Items read per Query when a filter drops some: more than a page, so few round trips are needed. */
const FILTERED_QUERY_LIMIT = 200;

/**
 * Reads the deliveries feed (core/deliveries-feed.ts plans the queries): one destination's partition
 * of the attempts table, or the `feed` index bucket by bucket, newest first.
 */
export class DeliveriesReader {
  private readonly maxItemsRead: number;

  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: DeliveriesReaderOptions = {},
  ) {
    this.maxItemsRead = options.maxItemsRead ?? 1000;
  }

  public async read(query: FeedQuery): Promise<FeedPage> {
    const state = { deliveries: [] as FeedDelivery[], queries: 0, itemsRead: 0 };
    const page = (cursor?: FeedCursor): FeedPage => ({
      deliveries: state.deliveries,
      ...(cursor ? { cursor: encodeFeedCursor(cursor) } : {}),
      reads: { queries: state.queries, itemsRead: state.itemsRead },
    });

    if (query.destinationId !== undefined) {
      const start = query.cursor && 'd' in query.cursor ? query.cursor.d : undefined;
      const stop = await this.readPartition(query, { destinationId: query.destinationId }, start, state);
      return page(stop ? { d: { destinationId: stop.destinationId, sk: stop.sk } } : undefined);
    }

    let bucket = firstBucket(query);
    let start: FeedKey | undefined = query.cursor && 'b' in query.cursor ? query.cursor.k : undefined;
    for (let walked = 0; walked < FEED_MAX_BUCKETS_PER_PAGE && bucketInWindow(bucket, query); walked += 1) {
      const stop = await this.readPartition(query, { bucket }, start, state);
      if (stop) {
        return page({
          b: bucket,
          k: { feed: stop.feed ?? bucket, destinationId: stop.destinationId, sk: stop.sk },
        });
      }
      bucket = previousBucket(bucket);
      start = undefined;
      if (state.deliveries.length >= query.limit || state.itemsRead >= this.maxItemsRead) break;
    }
    // The walk stopped at a bucket boundary: continue with the next older bucket, if the window has it.
    return page(bucketInWindow(bucket, query) ? { b: bucket } : undefined);
  }

  /**
   * Reads one partition until the page is full, the read budget is spent or the partition ends.
   * Answers the key to continue after when the partition has more, undefined when it was read to its end.
   */
  private async readPartition(
    query: FeedQuery,
    partition: { destinationId: string } | { bucket: string },
    startKey: FeedKey | undefined,
    state: { deliveries: FeedDelivery[]; queries: number; itemsRead: number },
  ): Promise<FeedKey | undefined> {
    let start: FeedKey | undefined = startKey;
    const filtered = query.customerExternalId !== undefined || query.outcome !== undefined;
    do {
      const room = query.limit - state.deliveries.length;
      const input = feedQueryInput(query, partition, start ? { ...start } : undefined);
      const res = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          ...(input.IndexName ? { IndexName: input.IndexName } : {}),
          KeyConditionExpression: input.KeyConditionExpression,
          ...(input.FilterExpression ? { FilterExpression: input.FilterExpression } : {}),
          ExpressionAttributeNames: input.ExpressionAttributeNames,
          ExpressionAttributeValues: marshall(input.ExpressionAttributeValues),
          ...(input.ExclusiveStartKey ? { ExclusiveStartKey: marshall(input.ExclusiveStartKey) } : {}),
          ScanIndexForward: false,
          // Without a filter a Query reads exactly what is left to answer; with one, a larger page.
          Limit: filtered ? Math.max(room, FILTERED_QUERY_LIMIT) : room,
        }),
      );
      state.queries += 1;
      state.itemsRead += res.ScannedCount ?? 0;
      const items = (res.Items ?? []).map((i) => unmarshall(i));
      if (items.length > room) {
        // A filtered Query found more than fits: continue after the last one answered, not the page.
        const kept = items.slice(0, room);
        this.add(kept, state);
        return keyOf(kept.at(-1) as Record<string, unknown>);
      }
      this.add(items, state);
      start = res.LastEvaluatedKey ? keyOf(unmarshall(res.LastEvaluatedKey)) : undefined;
    } while (start && state.deliveries.length < query.limit && state.itemsRead < this.maxItemsRead);
    return start;
  }

  private add(items: readonly Record<string, unknown>[], state: { deliveries: FeedDelivery[] }): void {
    for (const item of items) {
      const delivery = deliveryOf(item);
      if (delivery) state.deliveries.push(delivery);
    }
  }
}

/** The table key of an attempt record, and its index key when it came from the index. */
interface FeedKey {
  readonly destinationId: string;
  readonly sk: string;
  readonly feed?: string;
}

/** The table (and index) key of an item or a LastEvaluatedKey. */
function keyOf(item: Record<string, unknown>): FeedKey {
  return {
    destinationId: String(item.destinationId),
    sk: String(item.sk),
    ...(typeof item.feed === 'string' ? { feed: item.feed } : {}),
  };
}
