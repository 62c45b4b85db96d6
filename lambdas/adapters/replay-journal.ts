import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ReplayCounts, ReplayRequest } from '../core/replay-request.js';

/**
 * Where a stopped run continues: for a window, the events-table key to scan on from (DynamoDB
 * ExclusiveStartKey); for event ids, `{ offset }` into the request's de-duplicated id list.
 */
export type ReplayCursor = Readonly<Record<string, unknown>>;

export interface ReplayCheckpoint {
  readonly status: 'running' | 'complete';
  readonly cursor?: ReplayCursor;
  /** Counts of the whole run, over every invocation. */
  readonly counts: ReplayCounts;
  /** When the run started; for a DLQ run also the cut-off: later dead letters wait for the next run. */
  readonly startedAt: string;
}

/**
 * The audit trail of replays (who, what, when), kept in the attempts table next to the destination's
 * delivery attempts:
 * - `replay#<replayId>`: the latest run of a selection, which doubles as the checkpoint that lets a
 *   run cut short by `limit` or the function's timeout continue where it stopped;
 * - `replay#<replayId>#<startedAt>`: one item per finished run, never overwritten, so replaying the
 *   same selection again (the whole DLQ next week) keeps the record of the earlier run.
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
    const item = {
      destinationId: request.destinationId,
      sk: `replay#${replayId}`,
      kind: 'replay',
      replayId,
      source: request.source,
      request: JSON.stringify(request),
      requestedBy: request.requestedBy ?? 'unknown',
      status: checkpoint.status,
      cursor: checkpoint.cursor ? JSON.stringify(checkpoint.cursor) : undefined,
      counts: checkpoint.counts,
      startedAt: checkpoint.startedAt,
      updatedAt: at.toISOString(),
      expiresAt: Math.floor(at.getTime() / 1000) + this.retentionSeconds,
    };
    await this.put(item);
    if (checkpoint.status === 'complete') {
      await this.put({
        ...item,
        sk: `replay#${replayId}#${checkpoint.startedAt}`,
        kind: 'replay-run',
        cursor: undefined,
        finishedAt: at.toISOString(),
      });
    }
  }

  private async put(item: Record<string, unknown>): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(item, { removeUndefinedValues: true }),
      }),
    );
  }
}
