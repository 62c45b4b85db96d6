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

export type PartStatus = 'claiming' | 'sealed' | 'aborted';

export interface PartItem {
  readonly key: string;
  readonly status: PartStatus;
  /** Members in their sealed order: the part's bytes are a pure function of this list. */
  readonly eventIds: readonly string[];
}

export type ClaimResult = { readonly claimed: true } | { readonly claimed: false; readonly sealedTo: string };

/**
 * DynamoDB store of S3 part membership for one destination (table `seals`).
 *
 * - A part item (`part#<dest>#<key>`) lists its members in order, with a status that only ever moves
 *   claiming → sealed or claiming → aborted (aborted → claiming when the same content is planned again).
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
  public async sealsOf(eventIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < eventIds.length; i += 100) {
      let keys: Record<string, unknown>[] = eventIds.slice(i, i + 100).map((id) => ({ pk: this.sealPk(id) }));
      for (let attempt = 0; keys.length > 0; attempt += 1) {
        const res = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: keys.map((k) => marshall(k)) } },
          }),
        );
        for (const item of res.Responses?.[this.tableName] ?? []) {
          const seal = unmarshall(item) as { eventId: string; part: string };
          out.set(seal.eventId, seal.part);
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
    return res.Item ? (unmarshall(res.Item) as PartItem) : undefined;
  }

  /** Creates a part in `claiming` state, or returns the part already stored under that key. */
  public async createPart(key: string, eventIds: readonly string[]): Promise<PartItem> {
    const item: PartItem = { key, status: 'claiming', eventIds };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            pk: this.partPk(key),
            ...item,
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
        return unmarshall(error.Item) as PartItem;
      throw error;
    }
  }

  /** Seals an event into a part, unless it is sealed in another one (then says which). */
  public async claim(eventId: string, key: string): Promise<ClaimResult> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            pk: this.sealPk(eventId),
            eventId,
            part: key,
            sealedAt: new Date().toISOString(),
            expiresAt: this.expiresAt(),
          }),
          ConditionExpression: 'attribute_not_exists(pk) OR part = :part',
          ExpressionAttributeValues: marshall({ ':part': key }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && error.Item) {
        return { claimed: false, sealedTo: String(unmarshall(error.Item).part) };
      }
      throw error;
    }
  }

  /** Moves a part from one status to another; false when it was not in `from` any more. */
  public async transition(key: string, from: PartStatus, to: PartStatus): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: this.partPk(key) }),
          UpdateExpression: 'SET #s = :to',
          ConditionExpression: '#s = :from',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: marshall({ ':to': to, ':from': from }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Releases an event's seal if (and only if) it still points at the given aborted part. */
  public async release(eventId: string, key: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: this.sealPk(eventId) }),
          ConditionExpression: 'part = :part',
          ExpressionAttributeValues: marshall({ ':part': key }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
