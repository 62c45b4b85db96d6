import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  addDelta,
  LATENCY_BUCKETS,
  type MinuteDelta,
  type MinuteRollup,
  minuteOf,
  type RollupAttempt,
  rollupDelta,
} from '../core/health-rollup.js';
import type { HealthStatus } from '../core/health-rules.js';
import { DAY_SECONDS, TABLES } from '../core/resources.js';

/**
 * Health rollups and the last announced status, stored in the attempts table beside the attempt
 * records but in partitions of their own (`health#<destinationId>`; destination ids cannot contain
 * `#`), so no reader of a destination's attempts ever sees them, and the functions that record
 * attempts need no other table:
 *
 * - `m#<YYYY-MM-DDTHH:MM>`: one item per destination and minute, counters ADDed by one UpdateItem per
 *   attempt record (core/health-rollup.ts), kept 2 days;
 * - `status`: the status last decided and whether its change was announced, written only by a
 *   conditional transition, so a change is announced once however many evaluators run.
 *
 * The key attribute names come from TABLES.attempts, so a change of the table's keys carries over.
 */

const PK = TABLES.attempts.partitionKey;
const SK = TABLES.attempts.sortKey;
const PARTITION_PREFIX = 'health#';
const MINUTE_PREFIX = 'm#';
const STATUS_SK = 'status';
/** Rollups serve a 15-minute window; 2 days leave room for a console's timeline. */
const ROLLUP_RETENTION_SECONDS = 2 * DAY_SECONDS;

export const healthPartition = (destinationId: string): string => `${PARTITION_PREFIX}${destinationId}`;

/** The stored status of a destination: what was last decided, since when, and whether it was announced. */
export interface StoredHealthStatus {
  readonly status: HealthStatus;
  readonly since: string;
  readonly announced: boolean;
  readonly from?: HealthStatus;
}

export interface HealthPartition {
  readonly minutes: MinuteRollup[];
  readonly status?: StoredHealthStatus;
  /** Read units the query consumed (for the cost the README states). */
  readonly readUnits: number;
}

export class HealthRollups {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** Adds one attempt to its destination's minute: one UpdateItem, nothing when the attempt adds nothing. */
  public async add(attempt: RollupAttempt & { readonly destinationId: string }, at: Date): Promise<void> {
    const delta = rollupDelta(attempt, at);
    if (!delta) return;
    await this.addMinute(attempt.destinationId, at, addDelta(undefined, delta));
  }

  /** Adds what several attempts of one destination did in the minute of `at`: one UpdateItem. */
  public async addMinute(destinationId: string, at: Date, delta: MinuteDelta): Promise<void> {
    const adds: string[] = [];
    const sets = ['expiresAt = :exp'];
    const values: Record<string, unknown> = {
      ':exp': Math.floor(at.getTime() / 1000) + ROLLUP_RETENTION_SECONDS,
    };
    for (const field of ['delivered', 'failed', 'deadLettered', 'replayed'] as const) {
      if (delta[field] > 0) {
        adds.push(`${field} :${field}`);
        values[`:${field}`] = delta[field];
      }
    }
    delta.latency.forEach((count, bucket) => {
      if (!count) return;
      adds.push(`l${bucket} :l${bucket}`);
      values[`:l${bucket}`] = count;
    });
    if (delta.lastError) {
      sets.push('lastErrorAt = :errAt', 'lastErrorCode = :errCode', 'lastErrorReason = :errReason');
      values[':errAt'] = delta.lastError.at;
      values[':errCode'] = delta.lastError.errorCode;
      values[':errReason'] = delta.lastError.reason;
    }
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({
          [PK]: healthPartition(destinationId),
          [SK]: `${MINUTE_PREFIX}${minuteOf(at)}`,
        }),
        UpdateExpression: `SET ${sets.join(', ')}${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
        ExpressionAttributeValues: marshall(values),
      }),
    );
  }

  /**
   * The minutes from `from` on and the stored status, in one Query: `status` sorts after every
   * `m#...` key, so `sk >= m#<first minute>` reads both.
   */
  public async read(destinationId: string, from: Date): Promise<HealthPartition> {
    const minutes: MinuteRollup[] = [];
    let status: StoredHealthStatus | undefined;
    let readUnits = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk >= :from',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: marshall({
            ':pk': healthPartition(destinationId),
            ':from': `${MINUTE_PREFIX}${minuteOf(from)}`,
          }),
          ReturnConsumedCapacity: 'TOTAL',
          ...(start ? { ExclusiveStartKey: marshall(start) } : {}),
        }),
      );
      readUnits += res.ConsumedCapacity?.CapacityUnits ?? 0;
      for (const raw of res.Items ?? []) {
        const item = unmarshall(raw);
        const sk = String(item[SK]);
        if (sk === STATUS_SK) status = statusOf(item);
        else if (sk.startsWith(MINUTE_PREFIX)) minutes.push(minuteRollupOf(item));
      }
      start = res.LastEvaluatedKey ? unmarshall(res.LastEvaluatedKey) : undefined;
    } while (start);
    return { minutes, ...(status ? { status } : {}), readUnits };
  }

  /**
   * Moves the stored status from `from` (undefined: no status stored yet) to `to`, unannounced.
   * Answers false when another evaluator moved it first: that one announces.
   */
  public async transition(
    destinationId: string,
    from: StoredHealthStatus | undefined,
    to: HealthStatus,
    at: Date,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ [PK]: healthPartition(destinationId), [SK]: STATUS_SK }),
          UpdateExpression: 'SET #status = :to, since = :at, announced = :false, #from = :from',
          ConditionExpression: from
            ? '#status = :expected AND since = :expectedSince'
            : 'attribute_not_exists(#status)',
          ExpressionAttributeNames: { '#status': 'status', '#from': 'from' },
          ExpressionAttributeValues: marshall({
            ':to': to,
            ':at': at.toISOString(),
            ':false': false,
            ':from': from?.status ?? 'healthy',
            ...(from ? { ':expected': from.status, ':expectedSince': from.since } : {}),
          }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Marks the change made at `since` announced (unless a newer change replaced it meanwhile). */
  public async markAnnounced(destinationId: string, since: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ [PK]: healthPartition(destinationId), [SK]: STATUS_SK }),
          UpdateExpression: 'SET announced = :true',
          ConditionExpression: 'since = :since',
          ExpressionAttributeValues: marshall({ ':true': true, ':since': since }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function statusOf(item: Record<string, unknown>): StoredHealthStatus {
  return {
    status: item.status as HealthStatus,
    since: String(item.since),
    announced: item.announced === true,
    ...(typeof item.from === 'string' ? { from: item.from as HealthStatus } : {}),
  };
}

function minuteRollupOf(item: Record<string, unknown>): MinuteRollup {
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const latency = Array.from({ length: LATENCY_BUCKETS }, (_, i) => num(item[`l${i}`]));
  return {
    delivered: num(item.delivered),
    failed: num(item.failed),
    deadLettered: num(item.deadLettered),
    replayed: num(item.replayed),
    latency,
    ...(typeof item.lastErrorAt === 'string'
      ? {
          lastError: {
            at: item.lastErrorAt,
            errorCode: String(item.lastErrorCode ?? ''),
            reason: String(item.lastErrorReason ?? ''),
          },
        }
      : {}),
  };
}
