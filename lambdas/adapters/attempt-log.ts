import { randomUUID } from 'node:crypto';
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { FEED_EVENT_IDS, feedBucket } from '../core/deliveries-feed.js';
import type { FailureClass } from '../core/failure-classification.js';
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

  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionSeconds: number,
    private readonly context: AttemptContext = {},
  ) {
    this.rollups = new HealthRollups(client, tableName);
  }

  /** Writes the record and, at the same time, its health rollup; rejects if either write failed. */
  public async record(attempt: AttemptRecord, at: Date = new Date()): Promise<void> {
    deliveryMetrics.record(attempt);
    const [put, rollup] = await Promise.allSettled([this.put(attempt, at), this.rollups.add(attempt, at)]);
    if (put.status === 'rejected') throw put.reason;
    if (rollup.status === 'rejected')
      throw new Error('the attempt is recorded, but its health rollup was not updated', {
        cause: rollup.reason,
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
