import { randomUUID } from 'node:crypto';
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { FEED_EVENT_IDS, feedBucket } from '../core/deliveries-feed.js';
import type { FailureClass } from '../core/failure-classification.js';
import { addDelta, type MinuteDelta, minuteOf, rollupDelta } from '../core/health-rollup.js';
import type { DestinationType } from '../destinations/index.js';
import { deliveryMetrics } from './delivery-metrics.js';
import { HealthRollups } from './health-rollups.js';

export type AttemptOutcome = 'delivered' | 'failed' | 'dead-lettered' | 'retry-scheduled' | 'replayed';

/** One delivery attempt (one PutObject, one PutEvents call) or one decision about failed messages. */
export interface AttemptRecord {
  readonly destinationId: string;
  readonly destinationType: DestinationType;
  /**
   * The destination's customer, for the deliveries feed's filter. Call sites need not set it: the
   * AttemptLog's `customerOf` fills it in from the destination the batch runs for.
   */
  readonly customerExternalId?: string;
  readonly eventIds: readonly string[];
  readonly outcome: AttemptOutcome;
  readonly failureClass?: FailureClass;
  readonly errorCode?: string;
  /** Sanitized: see core/failure-classification.ts sanitizeReason. */
  readonly errorMessage?: string;
  readonly latencyMs?: number;
  readonly credentialsMode?: 'ASSUME_ROLE' | 'ACCESS_KEY';
  /** S3 object key, EventBridge call number, DLQ move... whatever locates the attempt. */
  readonly target?: string;
  /**
   * A test send's attempt (POST /v1/destinations/{id}/test): a synthetic event, not real traffic.
   * Health rates and the trace leave these out; the deliveries feed may show them as tests.
   */
  readonly test?: boolean;
  /**
   * The record is one call of several that make one delivery, and joins the batch's record of the same
   * outcome, failure and target (with `buffered`): an EventBridge batch of 100 events is 10 PutEvents
   * calls of 10 entries (the API's limit) to one bus, one delivery to the customer. S3 parts (one object
   * each) and webhook POSTs (one signed request each, answered on its own) keep a record each.
   * @default false
   */
  readonly joinsBatch?: boolean;
  /** Webhooks: the receiver's HTTP status (absent when no answer came: timeout, refused address...). */
  readonly httpStatus?: number;
  /** Webhooks: the first 1 KiB of the receiver's answer, sanitized (core/failure-classification.ts). */
  readonly responseBody?: string;
}

/**
 * What the runtime that records attempts knows besides each record, stamped on every record for the
 * deliveries feed, so no call site has to pass it.
 */
export interface AttemptContext {
  /**
   * The customerExternalId of a destination the caller runs batches for.
   * @default none
   */
  readonly customerOf?: (destinationId: string) => string | undefined;
  /**
   * The eventType of an event of a batch in flight.
   * @default none
   */
  readonly eventTypeOf?: (eventId: string) => string | undefined;
  /**
   * Holds records and health rollups until `flush` (the delivery runtime flushes once per invocation):
   * an EventBridge batch of 100 events makes 10 PutEvents calls, which become one attempt item (and one
   * index entry) per outcome (`joinsBatch`) and one rollup write per minute, instead of 10 of each.
   * Metrics and the rollups' latency histogram still count every call.
   * @default false: each record writes its item and its rollup at once
   */
  readonly buffered?: boolean;
}

/** Event types one record lists at most (a batch usually has one or a few). */
const MAX_EVENT_TYPES = 10;

/**
 * The attempt item as written: a record, or the `joinsBatch` records of one invocation that share a
 * destination, an outcome, a failure and a target, merged. A delivered item names its first
 * FEED_EVENT_IDS events and counts them all: which delivery an event had is the trace's to answer (its
 * receipts hold every delivered event), so a 1,000-event S3 part costs one write unit here, not 36.
 * Items of trouble (failed, retry-scheduled, dead-lettered, replayed) list every event: they are the
 * audit of what went wrong, and off the happy path.
 */
interface AttemptItem extends Omit<AttemptRecord, 'eventIds' | 'joinsBatch'> {
  readonly eventIds: string[];
  readonly eventCount: number;
  readonly eventTypes: string[];
  /** Calls the item stands for (1 unless merged); `latencyMs` is the slowest, `target` the first's. */
  readonly calls: number;
  readonly at: Date;
}

/**
 * The per-attempt audit trail (table `attempts`, key destinationId + `<ISO time>#<id>`), so the
 * attempts of a destination read back in time order for health rollups. Never holds a secret.
 */
export class AttemptLog {
  /** Health's per-minute counters (adapters/health-rollups.ts), one UpdateItem beside each record. */
  private readonly rollups: HealthRollups;
  /** With `buffered`: what the records since the last flush add, by destination and minute. */
  private readonly pending = new Map<string, { destinationId: string; at: Date; delta: MinuteDelta }>();
  /** With `buffered`: the items since the last flush, by destination, outcome and failure. */
  private readonly items = new Map<string, AttemptItem>();
  /** Numbers the items of records that keep their own. */
  private ownItems = 0;

  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionSeconds: number,
    private readonly context: AttemptContext = {},
  ) {
    this.rollups = new HealthRollups(client, tableName);
  }

  /**
   * Writes the record and, at the same time, its health rollup; rejects if either write failed. With
   * `buffered`, both wait for `flush`.
   */
  public async record(attempt: AttemptRecord, at: Date = new Date()): Promise<void> {
    deliveryMetrics.record(attempt);
    // Stamped now: the runtime forgets a batch's event types when the batch ends, before the flush.
    const item = this.itemOf(attempt, at);
    if (this.context.buffered) {
      this.buffer(attempt, at);
      const key = attempt.joinsBatch ? mergeKey(attempt) : `own\u0000${this.ownItems++}`;
      this.items.set(key, merge(this.items.get(key), item));
      return;
    }
    const [put, rollup] = await Promise.allSettled([this.put(item), this.rollups.add(attempt, at)]);
    if (put.status === 'rejected') throw put.reason;
    if (rollup.status === 'rejected')
      throw new Error('the attempt is recorded, but its health rollup was not updated', {
        cause: rollup.reason,
      });
  }

  /**
   * Writes what the records since the last flush hold: one item per destination, outcome and failure,
   * and one rollup UpdateItem per destination and minute, however many calls the batch made. Rejects
   * if a write failed (those records are lost: the audit and health are views, never a delivery
   * decision; the trace has its own records).
   */
  public async flush(): Promise<void> {
    const minutes = [...this.pending.values()];
    const items = [...this.items.values()];
    this.pending.clear();
    this.items.clear();
    const results = await Promise.allSettled([
      ...items.map((item) => this.put(item)),
      ...minutes.map((m) => this.rollups.addMinute(m.destinationId, m.at, m.delta)),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed)
      throw new Error('attempt records or health rollups were not written', { cause: failed.reason });
  }

  private buffer(attempt: AttemptRecord, at: Date): void {
    const delta = rollupDelta(attempt, at);
    if (!delta) return;
    const key = `${attempt.destinationId}\u0000${minuteOf(at)}`;
    const pending = this.pending.get(key);
    this.pending.set(key, {
      destinationId: attempt.destinationId,
      at: pending && pending.at > at ? pending.at : at,
      delta: addDelta(pending?.delta, delta),
    });
  }

  private itemOf(attempt: AttemptRecord, at: Date): AttemptItem {
    const customerExternalId = attempt.customerExternalId ?? this.context.customerOf?.(attempt.destinationId);
    const { joinsBatch: _joins, ...fields } = attempt;
    return {
      ...fields,
      ...(customerExternalId !== undefined ? { customerExternalId } : {}),
      eventIds: listed(attempt.outcome, attempt.eventIds),
      eventCount: attempt.eventIds.length,
      eventTypes: this.eventTypes(attempt.eventIds),
      calls: 1,
      at,
    };
  }

  private eventTypes(eventIds: readonly string[]): string[] {
    const lookup = this.context.eventTypeOf;
    if (!lookup) return [];
    const types = new Set<string>();
    for (const id of eventIds) {
      const type = lookup(id);
      if (type !== undefined) types.add(type);
      if (types.size >= MAX_EVENT_TYPES) break;
    }
    return [...types];
  }

  private async put(item: AttemptItem): Promise<void> {
    const { at, eventTypes, ...fields } = item;
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(
          {
            ...fields,
            ...(eventTypes.length > 0 ? { eventTypes } : {}),
            // The deliveries feed's sparse index (core/deliveries-feed.ts FEED_INDEX): its partition,
            // and the few event ids it projects instead of a big batch's whole list.
            feed: feedBucket(at),
            feedEventIds: item.eventIds.slice(0, FEED_EVENT_IDS),
            sk: `${at.toISOString()}#${randomUUID()}`,
            attemptedAt: at.toISOString(),
            expiresAt: Math.floor(at.getTime() / 1000) + this.retentionSeconds,
          },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }
}

/** Records that join a batch merge when they agree on what the feed and health tell apart. */
function mergeKey(a: AttemptRecord): string {
  return [
    'batch',
    a.destinationId,
    a.outcome,
    a.failureClass,
    a.errorCode,
    a.httpStatus,
    a.test === true,
    a.target,
  ]
    .map((v) => String(v ?? ''))
    .join('\u0000');
}

/** The event ids an item lists: a delivered one's first few, every one of any other. */
function listed(outcome: AttemptOutcome, eventIds: readonly string[]): string[] {
  return outcome === 'delivered' ? eventIds.slice(0, FEED_EVENT_IDS) : [...eventIds];
}

/** One item for two records of the same key: the first's time and reason, every event counted. */
function merge(into: AttemptItem | undefined, next: AttemptItem): AttemptItem {
  if (!into) return next;
  const slowest = Math.max(into.latencyMs ?? -1, next.latencyMs ?? -1);
  return {
    ...into,
    eventIds: listed(into.outcome, [...into.eventIds, ...next.eventIds]),
    eventCount: into.eventCount + next.eventCount,
    eventTypes: [...new Set([...into.eventTypes, ...next.eventTypes])].slice(0, MAX_EVENT_TYPES),
    calls: into.calls + next.calls,
    ...(slowest >= 0 ? { latencyMs: slowest } : {}),
  };
}
