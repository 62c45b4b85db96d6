import {
  type AttributeValue,
  type ConsumedCapacity,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  assembleTrace,
  attemptsInReceipt,
  type EventAttempt,
  MEMBER_HASH_BYTES,
  type Receipt,
  type ReceiptCall,
  receiptBucket,
  type Trace,
  type TracedDestination,
  type TraceOutcome,
  unpackUuids,
} from '../core/trace.js';
import type { DestinationStore } from './destination-store.js';
import { itemSize, readUnits } from './dynamodb-size.js';
import { storedEventOf } from './event-store.js';
import { TRACE_KEYS } from './trace-log.js';

/** What a trace read: requests, read units as AWS bills them by size, and what DynamoDB reported. */
export interface TraceReads {
  readonly requests: number;
  readonly bytes: number;
  /** Eventually consistent read units, computed from the sizes of the items read (4 KiB each). */
  readonly readUnits: number;
  /** The sum of DynamoDB's own ReturnConsumedCapacity answers (moto answers a constant per call). */
  readonly consumedCapacity: number;
}

export interface TraceResult {
  readonly trace: Trace;
  readonly reads: TraceReads;
}

/**
 * Reads one event's trace (lambdas/core/trace.ts): the event item, its event attempts (one Query of
 * `evt#<eventId>`), and per routed destination one Query of the receipt bucket its `receivedAt` falls
 * in, plus the destination's record (paused? deleted?). Everything eventually consistent: a trace is
 * a report, and a delivery a second old may show on the next read.
 */
export class TraceReader {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tables: { readonly events: string; readonly attempts: string },
    private readonly destinations: Pick<DestinationStore, 'get'>,
  ) {}

  public async read(
    eventId: string,
    options: { includePayload?: boolean } = {},
  ): Promise<TraceResult | undefined> {
    const meter = new Meter();
    const got = await this.client.send(
      new GetItemCommand({
        TableName: this.tables.events,
        Key: { eventId: { S: eventId } },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    meter.add(got.Item ? [got.Item] : [], got.ConsumedCapacity);
    if (!got.Item) return undefined;
    const stored = storedEventOf(got.Item);
    const record = JSON.parse(stored.record) as { correlationId?: string; payload?: unknown };
    const routed = [...stored.destinations];
    const bucket = receiptBucket(stored.receivedAt);

    const [failures, delivered, states] = await Promise.all([
      this.eventAttempts(eventId, meter),
      Promise.all(routed.map((d) => this.receipts(d, bucket, eventId, meter))),
      Promise.all(routed.map(async (d) => [d, await this.destinationState(d, meter)] as const)),
    ]);
    const trace = assembleTrace(
      {
        eventId: stored.eventId,
        customerExternalId: stored.customerExternalId,
        eventType: stored.eventType,
        occurredAt: stored.occurredAt,
        receivedAt: stored.receivedAt,
        idempotencyKey: stored.idempotencyKey,
        ...(record.correlationId ? { correlationId: record.correlationId } : {}),
        ...(options.includePayload ? { payload: record.payload } : {}),
        destinations: routed,
      },
      new Map(states),
      [...failures, ...delivered.flat()],
    );
    return { trace, reads: meter.total() };
  }

  private async destinationState(id: string, meter: Meter): Promise<TracedDestination | undefined> {
    const record = await this.destinations.get(id);
    // A destination record is well under 4 KiB: one strongly consistent GetItem (the store's).
    meter.addFixed(1);
    if (!record || record.desired === 'DELETED') return undefined;
    return {
      type: record.destination.type,
      paused: record.desired === 'PAUSED' || record.status === 'PAUSED',
    };
  }

  private async eventAttempts(eventId: string, meter: Meter): Promise<EventAttempt[]> {
    const items = await this.queryAll(TRACE_KEYS.eventPk(eventId), meter);
    return items.map((raw) => {
      const i = unmarshall(raw);
      return {
        destinationId: String(i.dest),
        destinationType: String(i.type),
        at: String(i.at),
        outcome: i.outcome as TraceOutcome,
        ...(typeof i.ms === 'number' ? { latencyMs: i.ms } : {}),
        ...(i.errorCode ? { errorCode: String(i.errorCode) } : {}),
        ...(i.reason ? { reason: String(i.reason) } : {}),
        ...(i.target ? { target: String(i.target) } : {}),
        ...(i.nextAttemptAt ? { nextAttemptAt: String(i.nextAttemptAt) } : {}),
      };
    });
  }

  private async receipts(
    destinationId: string,
    bucket: string,
    eventId: string,
    meter: Meter,
  ): Promise<EventAttempt[]> {
    const items = await this.queryAll(TRACE_KEYS.receiptPk(destinationId, bucket), meter);
    return items.flatMap((raw) => attemptsInReceipt(receiptOfItem(bucket, raw), destinationId, eventId));
  }

  private async queryAll(pk: string, meter: Meter): Promise<Record<string, AttributeValue>[]> {
    const out: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tables.attempts,
          KeyConditionExpression: 'destinationId = :pk',
          ExpressionAttributeValues: { ':pk': { S: pk } },
          ReturnConsumedCapacity: 'TOTAL',
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      meter.add(page.Items ?? [], page.ConsumedCapacity);
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

function receiptOfItem(bucket: string, raw: Record<string, AttributeValue>): Receipt {
  const members = raw.m?.B ?? new Uint8Array();
  const callBytes = raw.c?.B;
  const { type, calls, t } = unmarshall({
    type: raw.type ?? { S: 'UNKNOWN' },
    calls: raw.calls ?? { L: [] },
    ...(raw.t ? { t: raw.t } : {}),
  }) as { type: string; calls: { at: string; ms?: number; t?: string; h?: string }[]; t?: string[] };
  return {
    bucket,
    destinationType: type,
    members: members.length % MEMBER_HASH_BYTES === 0 ? members : new Uint8Array(),
    ...(callBytes ? { callOf: new Uint16Array(Uint8Array.from(callBytes).buffer) } : {}),
    calls: calls.map(
      (c): ReceiptCall => ({
        at: c.at,
        ...(c.ms !== undefined ? { latencyMs: c.ms } : {}),
        ...(c.t ? { target: c.t } : {}),
        ...(c.h ? { sha256: c.h } : {}),
      }),
    ),
    ...(raw.u?.B ? { targets: unpackUuids(raw.u.B) } : t ? { targets: t } : {}),
  };
}

/** Adds up a trace's reads: DynamoDB bills a Query by the total size of the items it returns. */
class Meter {
  private requests = 0;
  private bytes = 0;
  private units = 0;
  private consumed = 0;

  public add(items: readonly Record<string, AttributeValue>[], consumed: ConsumedCapacity | undefined): void {
    this.requests += 1;
    const size = items.reduce((n, i) => n + itemSize(i), 0);
    this.bytes += size;
    this.units += readUnits(size, false);
    this.consumed += consumed?.CapacityUnits ?? 0;
  }

  /** A read made through another adapter (the destination store), counted at its known cost. */
  public addFixed(units: number): void {
    this.requests += 1;
    this.units += units;
  }

  public total(): TraceReads {
    return {
      requests: this.requests,
      bytes: this.bytes,
      readUnits: this.units,
      consumedCapacity: this.consumed,
    };
  }
}
