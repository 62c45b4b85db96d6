import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { toFieldIssues } from '../core/issues.js';
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

/** An invocation's hold on a run: while it lasts, no other invocation of the selection may start. */
export interface ReplayLease {
  /** The holding invocation (its Lambda request id). */
  readonly owner: string;
  /** Epoch milliseconds when the lease lapses, so a crashed holder does not block the run for ever. */
  readonly until: number;
}

/** The `replay#<replayId>` item as read back. */
export interface StoredReplay extends ReplayCheckpoint {
  /** Who invoked it last: while leased, who is running it now. */
  readonly requestedBy: string;
  /** When it was last written: while leased, when the holder claimed the run. */
  readonly updatedAt: string;
  readonly lease?: ReplayLease;
  /** Bumped by every write; 0 when there is no item (or one written before revisions existed). */
  readonly revision: number;
}

/** What an invocation holds after claiming a run: the lease it must still own to save. */
export interface ReplayClaim {
  readonly owner: string;
  readonly revision: number;
}

const StoredReplaySchema = z.object({
  status: z.enum(['running', 'complete']),
  cursor: z.string().optional(),
  counts: z.object({
    matched: z.number(),
    replayed: z.number(),
    skipped: z.number(),
    failed: z.number(),
  }),
  startedAt: z.string(),
  requestedBy: z.string(),
  updatedAt: z.string(),
  leaseOwner: z.string().optional(),
  leaseUntil: z.number().optional(),
  revision: z.number().int().min(0).default(0),
});

/**
 * The audit trail of replays (who, what, when), kept in the attempts table next to the destination's
 * delivery attempts:
 * - `replay#<replayId>`: the latest run of a selection, which doubles as the checkpoint that lets a
 *   run cut short by `limit` or the function's timeout continue where it stopped, and carries the
 *   lease of the invocation working on it;
 * - `replay#<replayId>#<startedAt>`: one item per finished run, never overwritten, so replaying the
 *   same selection again (the whole DLQ next week) keeps the record of the earlier run.
 *
 * Only GetItem and PutItem (the function's permissions): the lease is taken by a PutItem conditional
 * on the item's `revision`, so a claim never builds on a stale read of counts and cursor.
 */
export class ReplayJournal {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionSeconds: number,
  ) {}

  public async load(destinationId: string, replayId: string): Promise<StoredReplay | undefined> {
    const sk = `replay#${replayId}`;
    const res = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ destinationId, sk }),
        ConsistentRead: true,
      }),
    );
    if (!res.Item) return undefined;
    const parsed = StoredReplaySchema.safeParse(unmarshall(res.Item));
    if (!parsed.success) {
      const issues = toFieldIssues(parsed.error).map((i) => `${i.field}: ${i.message}`);
      throw new Error(
        `replay journal item ${sk} of destination ${destinationId} is malformed: ${issues.join('; ')}`,
      );
    }
    const item = parsed.data;
    return {
      status: item.status,
      ...(item.cursor ? { cursor: JSON.parse(item.cursor) } : {}),
      counts: item.counts,
      startedAt: item.startedAt,
      requestedBy: item.requestedBy,
      updatedAt: item.updatedAt,
      ...(item.leaseOwner && item.leaseUntil !== undefined
        ? { lease: { owner: item.leaseOwner, until: item.leaseUntil } }
        : {}),
      revision: item.revision,
    };
  }

  /**
   * Writes the run's checkpoint with the invocation's lease, if the item is still at `seenRevision`
   * (the read that found no live lease); answers undefined when another invocation wrote it meanwhile.
   */
  public async claim(
    replayId: string,
    request: ReplayRequest,
    checkpoint: ReplayCheckpoint,
    lease: ReplayLease,
    seenRevision: number,
    at: Date,
  ): Promise<ReplayClaim | undefined> {
    const revision = seenRevision + 1;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(
            {
              ...this.item(replayId, request, checkpoint, at),
              leaseOwner: lease.owner,
              leaseUntil: lease.until,
              revision,
            },
            { removeUndefinedValues: true },
          ),
          // No item and an item from before revisions both lack the attribute.
          ConditionExpression: seenRevision === 0 ? 'attribute_not_exists(revision)' : 'revision = :seen',
          ...(seenRevision === 0 ? {} : { ExpressionAttributeValues: marshall({ ':seen': seenRevision }) }),
        }),
      );
      return { owner: lease.owner, revision };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /**
   * Saves the checkpoint and releases the lease, if `claim` still holds it; answers false (and writes
   * nothing) when it does not. A complete run is also kept as its own `replay#<replayId>#<startedAt>`.
   */
  public async save(
    replayId: string,
    request: ReplayRequest,
    checkpoint: ReplayCheckpoint,
    claim: ReplayClaim,
    at: Date = new Date(),
  ): Promise<boolean> {
    const item = this.item(replayId, request, checkpoint, at);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ ...item, revision: claim.revision + 1 }, { removeUndefinedValues: true }),
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: marshall({ ':owner': claim.owner }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    if (checkpoint.status === 'complete') {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(
            {
              ...item,
              sk: `replay#${replayId}#${checkpoint.startedAt}`,
              kind: 'replay-run',
              cursor: undefined,
              finishedAt: at.toISOString(),
            },
            { removeUndefinedValues: true },
          ),
        }),
      );
    }
    return true;
  }

  private item(replayId: string, request: ReplayRequest, checkpoint: ReplayCheckpoint, at: Date) {
    return {
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
  }
}
