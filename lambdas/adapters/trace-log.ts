import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  buildReceipts,
  type DeliveredEvent,
  packUuids,
  type Receipt,
  type TraceOutcome,
} from '../core/trace.js';
import { itemSize, writeUnits } from './dynamodb-size.js';

/**
 * The trace's records in the attempts table (lambdas/core/trace.ts says why two kinds). Their
 * partition keys never collide with a destination's: destination ids are `[a-z0-9-]`, and these
 * start with `rcpt#` or `evt#`, so a Query of a destination's attempts (health, the deliveries feed)
 * never meets them.
 *
 * - receipt: `destinationId` = `rcpt#<destinationId>#<bucket start>`, `sk` = `<at>#<uuid>`;
 *   `type`, `m` (member hashes), `c` (uint16 call index per member, absent with one call),
 *   `calls` ([{at, ms?, t?, h?}]), per-member targets as `u` (16-byte UUIDs: EventBridge entry ids)
 *   or `t` (strings), `expiresAt`.
 * - event attempt: `destinationId` = `evt#<eventId>`, `sk` = `<destinationId>#<at>#<uuid>`;
 *   `dest`, `type`, `outcome`, `at`, `ms`?, `failureClass`?, `errorCode`?, `reason`?, `target`?,
 *   `nextAttemptAt`?, `expiresAt`.
 */
export const TRACE_KEYS = {
  receiptPk: (destinationId: string, bucket: string) => `rcpt#${destinationId}#${bucket}`,
  eventPk: (eventId: string) => `evt#${eventId}`,
} as const;

/** A failed (or replayed) event's attempt: off the happy path, so one item per event is affordable. */
export interface EventAttemptInput {
  readonly eventId: string;
  readonly outcome: Exclude<TraceOutcome, 'delivered'>;
  readonly at: Date;
  readonly latencyMs?: number;
  readonly failureClass?: 'transient' | 'permanent';
  readonly errorCode?: string;
  /** Sanitized (core/failure-classification.ts sanitizeReason). */
  readonly reason?: string;
  readonly target?: string;
  readonly nextAttemptAt?: Date;
}

export interface TraceWrites {
  readonly items: number;
  /** Write request units as AWS bills them (item size, 1 KiB each): moto answers a constant. */
  readonly writeUnits: number;
}

/** Writes receipts and event attempts; `written` adds up what this instance wrote (bench, tests). */
export class TraceLog {
  public readonly written = { receipts: 0, eventAttempts: 0, receiptWriteUnits: 0, eventWriteUnits: 0 };

  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionSeconds: number,
  ) {}

  /** The receipts of delivered events: one item per call-batch and 10 s bucket, not per event. */
  public async recordDelivered(
    destinationId: string,
    destinationType: string,
    delivered: readonly DeliveredEvent[],
  ): Promise<TraceWrites> {
    if (delivered.length === 0) return { items: 0, writeUnits: 0 };
    const receipts = buildReceipts(destinationType, delivered);
    const items = receipts.map((r) => this.receiptItem(destinationId, r));
    const writes = await this.put(items);
    this.written.receipts += writes.items;
    this.written.receiptWriteUnits += writes.writeUnits;
    return writes;
  }

  /** One item per event: the attempt's outcome, why, and when the next attempt is due. */
  public async recordEventAttempts(
    destinationId: string,
    destinationType: string,
    attempts: readonly EventAttemptInput[],
  ): Promise<TraceWrites> {
    if (attempts.length === 0) return { items: 0, writeUnits: 0 };
    const items = attempts.map((a) =>
      marshall(
        {
          destinationId: TRACE_KEYS.eventPk(a.eventId),
          sk: `${destinationId}#${a.at.toISOString()}#${randomUUID()}`,
          dest: destinationId,
          type: destinationType,
          outcome: a.outcome,
          at: a.at.toISOString(),
          ms: a.latencyMs,
          failureClass: a.failureClass,
          errorCode: a.errorCode,
          reason: a.reason,
          target: a.target,
          nextAttemptAt: a.nextAttemptAt?.toISOString(),
          expiresAt: this.expiresAt(a.at),
        },
        { removeUndefinedValues: true },
      ),
    );
    const writes = await this.put(items);
    this.written.eventAttempts += writes.items;
    this.written.eventWriteUnits += writes.writeUnits;
    return writes;
  }

  private receiptItem(destinationId: string, r: Receipt): Record<string, AttributeValue> {
    const first = r.calls[0]?.at ?? new Date().toISOString();
    const item: Record<string, AttributeValue> = marshall(
      {
        destinationId: TRACE_KEYS.receiptPk(destinationId, r.bucket),
        sk: `${first}#${randomUUID()}`,
        type: r.destinationType,
        calls: r.calls.map((c) => ({ at: c.at, ms: c.latencyMs, t: c.target, h: c.sha256 })),
        expiresAt: this.expiresAt(new Date(first)),
      },
      { removeUndefinedValues: true },
    );
    item.m = { B: r.members };
    if (r.targets) {
      const packed = packUuids(r.targets);
      item[packed ? 'u' : 't'] = packed ? { B: packed } : { L: r.targets.map((S) => ({ S })) };
    }
    if (r.callOf) item.c = { B: new Uint8Array(r.callOf.buffer, r.callOf.byteOffset, r.callOf.byteLength) };
    return item;
  }

  private expiresAt(at: Date): number {
    return Math.floor(at.getTime() / 1000) + this.retentionSeconds;
  }

  /** BatchWriteItem in 25s, retrying what DynamoDB leaves unprocessed (throttling) with backoff. */
  private async put(items: readonly Record<string, AttributeValue>[]): Promise<TraceWrites> {
    let units = 0;
    for (const item of items) units += writeUnits(itemSize(item));
    for (let i = 0; i < items.length; i += 25) {
      let requests: WriteRequest[] = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt += 1) {
        if (attempt > 8) throw new Error(`${requests.length} trace records left unprocessed by DynamoDB`);
        const res = await this.client.send(
          new BatchWriteItemCommand({ RequestItems: { [this.tableName]: requests } }),
        );
        requests = res.UnprocessedItems?.[this.tableName] ?? [];
        if (requests.length > 0) await sleep(Math.min(1000, 25 * 2 ** attempt));
      }
    }
    return { items: items.length, writeUnits: units };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
