import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ReplayCounts, ReplayRequest } from '../core/replay-request.js';

export interface ReplayCheckpoint {
  readonly status: 'running' | 'complete';
  /** Where an events-window scan stopped (DynamoDB LastEvaluatedKey). */
  readonly cursor?: Record<string, unknown>;
  readonly counts: ReplayCounts;
  readonly startedAt: string;
}

/**
 * The audit trail of replays (who, what, when), kept in the attempts table next to the destination's
 * delivery attempts (sort key `replay#<replayId>`). It doubles as the checkpoint that lets a run cut
 * short by `limit` or the function's timeout continue where it stopped.
 */
export class ReplayJournal {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionSeconds: number,
  ) {}

  public async load(destinationId: string, replayId: string): Promise<ReplayCheckpoint | undefined> {
    const res = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ destinationId, sk: `replay#${replayId}` }),
        ConsistentRead: true,
      }),
    );
    if (!res.Item) return undefined;
    const item = unmarshall(res.Item);
    return {
      status: item.status,
      ...(item.cursor ? { cursor: JSON.parse(item.cursor) } : {}),
      counts: item.counts,
      startedAt: item.startedAt,
    };
  }

  public async save(
    replayId: string,
    request: ReplayRequest,
    checkpoint: ReplayCheckpoint,
    at: Date = new Date(),
  ): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(
          {
            destinationId: request.destinationId,
            sk: `replay#${replayId}`,
            kind: 'replay',
            replayId,
            request: JSON.stringify(request),
            requestedBy: request.requestedBy ?? 'unknown',
            status: checkpoint.status,
            cursor: checkpoint.cursor ? JSON.stringify(checkpoint.cursor) : undefined,
            counts: checkpoint.counts,
            startedAt: checkpoint.startedAt,
            updatedAt: at.toISOString(),
            expiresAt: Math.floor(at.getTime() / 1000) + this.retentionSeconds,
          },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }
}
