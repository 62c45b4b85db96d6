import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { packEventIds, unpackEventIds } from '../core/event-id.js';

export type PartStatus = 'claiming' | 'sealed' | 'aborted';

export interface PartItem {
  readonly key: string;
  readonly status: PartStatus;
  /**
   * Bumped each time an aborted part is opened again. Claims and releases name the generation they
   * belong to, so a slow worker releasing the claims of an aborted generation can never delete a claim
   * made for a later generation of the same part.
   */
  readonly generation: number;
  /** Members in their sealed order: the part's bytes are a pure function of this list. */
  readonly eventIds: readonly string[];
}

/** Where an event is sealed: a part and the generation of that part the claim was made for. */
export interface Seal {
  readonly part: string;
  readonly generation: number;
}

export type ClaimResult = { readonly claimed: true } | { readonly claimed: false; readonly sealedTo: Seal };

/**
 * DynamoDB store of S3 part membership for one destination (table `seals`).
 *
 * - A part item (`part#<dest>#<key>`) lists its members in order (packed: core/event-id.ts), with a status that only ever moves
 *   claiming → sealed or claiming → aborted; an aborted part planned again opens a new generation.
 * - A seal item (`seal#<dest>#<eventId>`) says which part an event belongs to; it is claimed with a
 *   conditional write, so two parts can never both own an event.
 * - A part is written to S3 only once it is `sealed`, which happens only after every member's seal
 *   points to it; a sealed part's seals are never released. Hence an event is in one object at most.
 */
export class SealStore {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly destinationId: string,
    private readonly expiresAt: () => number,
  ) {}

  private sealPk(eventId: string): string {
    return `seal#${this.destinationId}#${eventId}`;
  }

  private partPk(key: string): string {
    return `part#${this.destinationId}#${key}`;
  }

  /** The part each event is sealed in, for those that are. Eventually consistent: a hint only. */
  public async sealsOf(eventIds: readonly string[]): Promise<Map<string, Seal>> {
    const out = new Map<string, Seal>();
    for (let i = 0; i < eventIds.length; i += 100) {
      let keys: Record<string, unknown>[] = eventIds.slice(i, i + 100).map((id) => ({ pk: this.sealPk(id) }));
      for (let attempt = 0; keys.length > 0; attempt += 1) {
        const res = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: keys.map((k) => marshall(k)) } },
          }),
        );
        for (const item of res.Responses?.[this.tableName] ?? []) {
          const seal = unmarshall(item) as { eventId: string; part: string; generation?: number };
          out.set(seal.eventId, { part: seal.part, generation: seal.generation ?? 0 });
        }
        keys = (res.UnprocessedKeys?.[this.tableName]?.Keys ?? []).map((k) => unmarshall(k));
        if (keys.length > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    return out;
  }

  public async getPart(key: string): Promise<PartItem | undefined> {
    const res = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: this.partPk(key) }),
        ConsistentRead: true,
      }),
    );
    return res.Item ? withGeneration(unmarshall(res.Item)) : undefined;
  }

  /** Creates a part in `claiming` state, or returns the part already stored under that key. */
  public async createPart(key: string, eventIds: readonly string[]): Promise<PartItem> {
    const item: PartItem = { key, status: 'claiming', eventIds, generation: 0 };
    // The members packed (16 bytes an id, not 30 characters) when they are all derived ids: the part is
    // written twice (created, then sealed) and both writes are billed by its size.
    const packed = packEventIds(eventIds);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            pk: this.partPk(key),
            key,
            status: item.status,
            generation: item.generation,
            ...(packed ? { members: packed } : { eventIds }),
            createdAt: new Date().toISOString(),
            expiresAt: this.expiresAt(),
          }),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return item;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && error.Item)
        return withGeneration(unmarshall(error.Item));
      throw error;
    }
  }

  /**
   * Seals an event into a generation of a part, unless it is sealed in another part (then says which).
   * A claim left by an earlier, aborted generation of the same part is taken over.
   */
  public async claim(eventId: string, key: string, generation: number): Promise<ClaimResult> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            pk: this.sealPk(eventId),
            eventId,
            part: key,
            generation,
            sealedAt: new Date().toISOString(),
            expiresAt: this.expiresAt(),
          }),
          ConditionExpression:
            'attribute_not_exists(pk) OR (part = :part AND (attribute_not_exists(generation) OR generation <= :g))',
          ExpressionAttributeValues: marshall({ ':part': key, ':g': generation }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && error.Item) {
        const seal = unmarshall(error.Item);
        return {
          claimed: false,
          sealedTo: { part: String(seal.part), generation: Number(seal.generation ?? 0) },
        };
      }
      throw error;
    }
  }

  /** Moves a generation of a part from one status to another; false when it was not in `from` any more. */
  public async transition(
    key: string,
    generation: number,
    from: PartStatus,
    to: PartStatus,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: this.partPk(key) }),
          UpdateExpression: 'SET #s = :to',
          ConditionExpression: '#s = :from AND (attribute_not_exists(generation) OR generation = :g)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: marshall({ ':to': to, ':from': from, ':g': generation }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Opens a new generation of an aborted part (the same content planned again). Returns the part as it
   * now stands: the new generation, or whatever another worker made of it meanwhile.
   */
  public async reopen(part: PartItem): Promise<PartItem> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: this.partPk(part.key) }),
          UpdateExpression: 'SET #s = :claiming, generation = :next',
          ConditionExpression: '#s = :aborted AND (attribute_not_exists(generation) OR generation = :g)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: marshall({
            ':claiming': 'claiming',
            ':aborted': 'aborted',
            ':g': part.generation,
            ':next': part.generation + 1,
          }),
        }),
      );
      return { ...part, status: 'claiming', generation: part.generation + 1 };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.getPart(part.key)) ?? part;
    }
  }

  /** Releases an event's seal if (and only if) it still belongs to that generation of that part. */
  public async release(eventId: string, key: string, generation: number): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: this.sealPk(eventId) }),
          ConditionExpression: 'part = :part AND (attribute_not_exists(generation) OR generation = :g)',
          ExpressionAttributeValues: marshall({ ':part': key, ':g': generation }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

/** A part item as read: packed members (or a list written before they were packed), generation 0 if none. */
function withGeneration(item: Record<string, unknown>): PartItem {
  const { members, ...rest } = item;
  return {
    ...(rest as unknown as PartItem),
    ...(members instanceof Uint8Array ? { eventIds: unpackEventIds(members) } : {}),
    generation: Number(item.generation ?? 0),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
