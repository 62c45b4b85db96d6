import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { canonicalJson } from '../core/canonical.js';
import type { EventRecord } from '../core/event.js';
import { decodeRecord, encodeRecord } from '../core/record-codec.js';
import { itemSize } from './dynamodb-size.js';

/** An accepted event as the event store hands it out. */
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

/** The StoredEvent of an accepted record: the fields the record holds, its bytes, and its routing. */
export function storedEventFor(
  record: EventRecord,
  routing: {
    readonly bodyHash: string;
    readonly destinations: readonly string[];
    readonly expiresAt: number;
  },
): StoredEvent {
  return {
    eventId: record.eventId,
    customerExternalId: record.customerExternalId,
    idempotencyKey: record.idempotencyKey,
    eventType: record.eventType,
    occurredAt: record.occurredAt,
    receivedAt: record.receivedAt,
    record: canonicalJson(record),
    ...routing,
  };
}

/**
 * The ingest state kept in the event item itself: the event's Powertools idempotency record
 * (adapters/event-idempotency.ts) is this item, so accepting an event costs one write, not three.
 */
export interface IngestState {
  /**
   * RELEASED once a failed attempt gave the event up (its retry may run again). Absent on an item
   * written before the record moved into the event item, whose Powertools record is still in the
   * idempotency table (adapters/event-idempotency.ts reads it), or seeded without ingest.
   */
  readonly status?: 'INPROGRESS' | 'COMPLETED' | 'RELEASED';
  /** Epoch milliseconds after which an INPROGRESS attempt counts as dead (its invocation timed out). */
  readonly inProgressExpiry?: number;
  /** The completion marker the attempt's request writes once its fan-out is done. */
  readonly completion?: string;
}

export type ClaimResult =
  | { readonly claimed: true; readonly stored: StoredEvent }
  | { readonly claimed: false; readonly stored: StoredEvent; readonly state: IngestState };

/** The claim an attempt writes into the event item (adapters/event-idempotency.ts). */
export interface Claim {
  readonly inProgressExpiry: number;
  readonly completion: string;
}

/**
 * The item's attributes. Only what a reader needs beside the record is kept out of it: the fields the
 * record already holds (customerExternalId, idempotencyKey, eventType, occurredAt) are read back from
 * the record, since 100 bytes of copies would push a typical 1 KiB event into a second write unit.
 */
const ATTR = {
  status: 'st',
  inProgressExpiry: 'ipx',
  completion: 'cm',
} as const;

/** The item an attempt writes for `event` (also what the item-size test and the benchmark measure). */
export function eventItem(event: StoredEvent, claim?: Claim): Record<string, AttributeValue> {
  return marshall(
    {
      eventId: event.eventId,
      record: encodeRecord(event.record),
      receivedAt: event.receivedAt,
      bodyHash: event.bodyHash,
      destinations: [...event.destinations],
      expiresAt: event.expiresAt,
      ...(claim
        ? {
            [ATTR.status]: 'INPROGRESS',
            [ATTR.inProgressExpiry]: claim.inProgressExpiry,
            [ATTR.completion]: claim.completion,
          }
        : {}),
    },
    { removeUndefinedValues: true },
  );
}

/** Billed size of the event item as ingest writes it: one write unit per started KiB. */
export function storedItemBytes(event: StoredEvent, claim: Claim): number {
  return itemSize(eventItem(event, claim));
}

interface EventItem {
  eventId: string;
  record: string | Uint8Array;
  receivedAt: string;
  bodyHash: string;
  destinations?: string[];
  enqueued?: Set<string>;
  expiresAt: number;
  st?: 'INPROGRESS' | 'COMPLETED' | 'RELEASED';
  ipx?: number;
  cm?: string;
}

/** An event item, as readers see it: the record inflated, the copied fields read from it. */
export function storedEventOf(raw: Record<string, AttributeValue>): StoredEvent {
  const item = unmarshall(raw) as EventItem;
  const record = decodeRecord(item.record);
  const fields = JSON.parse(record) as Pick<
    StoredEvent,
    'customerExternalId' | 'idempotencyKey' | 'eventType' | 'occurredAt'
  >;
  return {
    eventId: item.eventId,
    customerExternalId: fields.customerExternalId,
    idempotencyKey: fields.idempotencyKey,
    eventType: fields.eventType,
    occurredAt: fields.occurredAt,
    receivedAt: item.receivedAt,
    bodyHash: item.bodyHash,
    record,
    destinations: [...(item.destinations ?? [])],
    ...(item.enqueued ? { enqueued: item.enqueued } : {}),
    expiresAt: item.expiresAt,
  };
}

function stateOf(raw: Record<string, AttributeValue>): IngestState {
  const item = unmarshall(raw) as EventItem;
  return {
    ...(item.st ? { status: item.st } : {}),
    ...(item.ipx !== undefined ? { inProgressExpiry: item.ipx } : {}),
    ...(item.cm ? { completion: item.cm } : {}),
  };
}

/** The DynamoDB event store (table `events`, key `eventId`). */
export class EventStore {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Stores the event and claims it for this attempt, in one conditional write: when the event is new,
   * or is stored already with the same body and no live claim (a failed attempt released it, or its
   * retention ran out). The bytes stored first win (`if_not_exists`), so a retry enqueues exactly what
   * the first attempt did. Otherwise DynamoDB hands back the item, so a duplicate costs no extra read.
   */
  public async claim(event: StoredEvent, claim: Claim, nowSeconds: number): Promise<ClaimResult> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ eventId: event.eventId }),
          UpdateExpression:
            'SET #r = if_not_exists(#r, :r), receivedAt = if_not_exists(receivedAt, :ra), ' +
            'bodyHash = if_not_exists(bodyHash, :bh), destinations = if_not_exists(destinations, :d), ' +
            'expiresAt = :exp, #st = :ip, #ipx = :ipx, #cm = :cm',
          ConditionExpression:
            'attribute_not_exists(eventId) OR ((#st = :released OR expiresAt < :now) AND bodyHash = :bh)',
          ExpressionAttributeNames: {
            '#r': 'record',
            '#st': ATTR.status,
            '#ipx': ATTR.inProgressExpiry,
            '#cm': ATTR.completion,
          },
          ExpressionAttributeValues: marshall({
            ':r': encodeRecord(event.record),
            ':ra': event.receivedAt,
            ':bh': event.bodyHash,
            ':d': [...event.destinations],
            ':exp': event.expiresAt,
            ':ip': 'INPROGRESS',
            ':ipx': claim.inProgressExpiry,
            ':cm': claim.completion,
            ':now': nowSeconds,
            ':released': 'RELEASED',
          }),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true, stored: storedEventOf(out.Attributes ?? {}) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && error.Item) {
        return { claimed: false, stored: storedEventOf(error.Item), state: stateOf(error.Item) };
      }
      throw error;
    }
  }

  /**
   * Stores an event with no ingest claim, unless its eventId is there already. For tools and tests that
   * seed the store; ingest itself claims (above).
   */
  public async putIfAbsent(event: StoredEvent): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: eventItem(event),
          ConditionExpression: 'attribute_not_exists(eventId)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Takes over a claim no attempt holds any more, by compare-and-set, so of two retries racing for it
   * exactly one wins (undefined for the loser): an attempt that died in progress (`dead` = its claim's
   * expiry), or an item with no claim at all (`dead` undefined: written before claims, and not
   * completed by its Powertools record).
   */
  public async takeOver(
    eventId: string,
    dead: number | undefined,
    claim: Claim,
  ): Promise<StoredEvent | undefined> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ eventId }),
          UpdateExpression: 'SET #st = :ip, #ipx = :ipx, #cm = :cm',
          ConditionExpression:
            dead === undefined
              ? 'attribute_exists(eventId) AND attribute_not_exists(#st)'
              : '#st = :ip AND #ipx = :dead',
          ExpressionAttributeNames: {
            '#st': ATTR.status,
            '#ipx': ATTR.inProgressExpiry,
            '#cm': ATTR.completion,
          },
          ExpressionAttributeValues: marshall({
            ':ip': 'INPROGRESS',
            ...(dead === undefined ? {} : { ':dead': dead }),
            ':ipx': claim.inProgressExpiry,
            ':cm': claim.completion,
          }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return storedEventOf(out.Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Releases a failed attempt's claim; the stored event stays, so the retry enqueues the same bytes. */
  public async release(eventId: string): Promise<void> {
    await this.client
      .send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ eventId }),
          // RELEASED, not removed: an item without a status is one written before claims existed.
          UpdateExpression: 'SET #st = :released REMOVE #ipx, #cm',
          ConditionExpression: 'attribute_exists(eventId)',
          ExpressionAttributeNames: {
            '#st': ATTR.status,
            '#ipx': ATTR.inProgressExpiry,
            '#cm': ATTR.completion,
          },
          ExpressionAttributeValues: marshall({ ':released': 'RELEASED' }),
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }

  /** The event and its ingest state, strongly consistent; undefined when it is not stored. */
  public async get(eventId: string): Promise<{ stored: StoredEvent; state: IngestState } | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ eventId }), ConsistentRead: true }),
    );
    return out.Item ? { stored: storedEventOf(out.Item), state: stateOf(out.Item) } : undefined;
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

function routingOf(raw: Record<string, AttributeValue>): StoredRouting {
  const item = unmarshall(raw) as Pick<EventItem, 'eventId' | 'record' | 'receivedAt' | 'destinations'>;
  return {
    eventId: item.eventId,
    record: decodeRecord(item.record),
    receivedAt: item.receivedAt,
    destinations: [...(item.destinations ?? [])],
  };
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
        const stored = routingOf(item);
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
    items: (res.Items ?? []).map(routingOf),
    cursor: res.LastEvaluatedKey ? unmarshall(res.LastEvaluatedKey) : undefined,
    scanned: res.ScannedCount ?? 0,
  };
}
