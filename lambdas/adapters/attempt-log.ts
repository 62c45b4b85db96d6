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
   * Holds health rollups until `flushRollups` (the delivery runtime flushes once per invocation): an
   * EventBridge batch of 100 events makes 10 calls, so 10 attempt records but one rollup write.
   * @default false: each record writes its rollup at once
   */
  readonly bufferRollups?: boolean;
}

/** Event types one record lists at most (a batch usually has one or a few). */
const MAX_EVENT_TYPES = 10;

/**
 * The per-attempt audit trail (table `attempts`, key destinationId + `<ISO time>#<id>`), so the
 * attempts of a destination read back in time order for health rollups. Never holds a secret.
 */
export class AttemptLog {
  /** Health's per-minute counters (adapters/health-rollups.ts), one UpdateItem beside each record. */
  private readonly rollups: HealthRollups;
  /** With `bufferRollups`: what the records since the last flush add, by destination and minute. */
  private readonly pending = new Map<string, { destinationId: string; at: Date; delta: MinuteDelta }>();

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
   * `bufferRollups`, the rollup waits for `flushRollups`.
   */
  public async record(attempt: AttemptRecord, at: Date = new Date()): Promise<void> {
    deliveryMetrics.record(attempt);
    if (this.context.bufferRollups) {
      this.buffer(attempt, at);
      await this.put(attempt, at);
      return;
    }
    const [put, rollup] = await Promise.allSettled([this.put(attempt, at), this.rollups.add(attempt, at)]);
    if (put.status === 'rejected') throw put.reason;
    if (rollup.status === 'rejected')
      throw new Error('the attempt is recorded, but its health rollup was not updated', {
        cause: rollup.reason,
      });
  }

  /**
   * Writes what the records since the last flush add to health: one UpdateItem per destination and
   * minute, however many calls the batch made. Rejects if a write failed (those counts are lost: health
   * is a view, never a delivery decision).
   */
  public async flushRollups(): Promise<void> {
    const minutes = [...this.pending.values()];
    this.pending.clear();
    const results = await Promise.allSettled(
      minutes.map((m) => this.rollups.addMinute(m.destinationId, m.at, m.delta)),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw new Error('health rollups were not updated', { cause: failed.reason });
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

  private eventTypes(attempt: AttemptRecord): string[] {
    const lookup = this.context.eventTypeOf;
    if (!lookup) return [];
    const types = new Set<string>();
    for (const id of attempt.eventIds) {
      const type = lookup(id);
      if (type !== undefined) types.add(type);
      if (types.size >= MAX_EVENT_TYPES) break;
    }
    return [...types];
  }

  private async put(attempt: AttemptRecord, at: Date): Promise<void> {
    const customerExternalId = attempt.customerExternalId ?? this.context.customerOf?.(attempt.destinationId);
    const eventTypes = this.eventTypes(attempt);
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(
          {
            ...attempt,
            ...(customerExternalId !== undefined ? { customerExternalId } : {}),
            ...(eventTypes.length > 0 ? { eventTypes } : {}),
            // The deliveries feed's sparse index (core/deliveries-feed.ts FEED_INDEX): its partition,
            // and the few event ids it projects instead of a big batch's whole list.
            feed: feedBucket(at),
            feedEventIds: attempt.eventIds.slice(0, FEED_EVENT_IDS),
            sk: `${at.toISOString()}#${randomUUID()}`,
            attemptedAt: at.toISOString(),
            eventCount: attempt.eventIds.length,
            expiresAt: Math.floor(at.getTime() / 1000) + this.retentionSeconds,
          },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }
}
