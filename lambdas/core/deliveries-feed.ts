import { z } from 'zod';
import type { FieldIssue } from './errors.js';
import { queryInstant } from './query-instant.js';

/**
 * The deliveries feed (DESIGN.md "Deliveries feed and the operator console"): what `GET /v1/deliveries`
 * accepts, how it becomes DynamoDB queries, and its opaque cursor. Pure: the adapter
 * (adapters/deliveries-reader.ts) runs the queries this module plans.
 *
 * Where the records are read from:
 * - with `destinationId`: that destination's own partition of the attempts table (pk destinationId,
 *   sk `<ISO time>#<uuid>`), newest first, `sk` bounded by the window;
 * - without: the sparse `feed` index. Every attempt record carries `feed` = `feed#<10-minute bucket of
 *   its time>` (FEED_INDEX), so "the newest attempts of every destination" is a Query of the current
 *   bucket, then the one before, newest first: one partition per 10 minutes, whatever the number of
 *   destinations, and no Scan. Only attempt records carry the attribute, so trace receipts, failure
 *   items, health rollups and the replay journal never enter the index.
 */

/** The outcomes an attempt record can have (adapters/attempt-log.ts AttemptOutcome). */
export const FEED_OUTCOMES = ['delivered', 'failed', 'dead-lettered', 'retry-scheduled', 'replayed'] as const;
export type FeedOutcome = (typeof FEED_OUTCOMES)[number];

/** The index of the attempts table the feed reads, its keys, and the attributes it projects. */
export const FEED_INDEX = {
  name: 'feed',
  partitionKey: 'feed',
  sortKey: 'sk',
  /**
   * Only what the feed answers: the base record's full `eventIds` (up to 1,000 of an S3 part) and the
   * webhook's response body stay out, so an index write stays about one write unit (1 KiB) whatever
   * the batch size. `feedEventIds` holds the first FEED_EVENT_IDS ids, `eventCount` the number.
   */
  projected: [
    'destinationType',
    'customerExternalId',
    'feedEventIds',
    'eventCount',
    'eventTypes',
    'outcome',
    'latencyMs',
    'errorCode',
    'errorMessage',
    'target',
    'test',
    'attemptedAt',
  ],
} as const;

/** Event ids an attempt's feed entry lists (the trace has every event's own story). */
export const FEED_EVENT_IDS = 10;
/** Minutes per feed partition: 144 a day; a poll of the newest attempts reads one or two of them. */
export const FEED_BUCKET_MINUTES = 10;
/** Most buckets one request walks through (one hour): a quiet window costs at most this many Queries. */
export const FEED_MAX_BUCKETS_PER_PAGE = 6;
/** `from` when none is given: the last day. */
export const FEED_DEFAULT_WINDOW_MS = 24 * 60 * 60 * 1000;
export const FEED_LIMIT = { min: 1, max: 200, default: 50 } as const;
/** Sorts after every `#<uuid>` suffix, so `to` includes every attempt of its millisecond. */
export const AFTER_ANY_ID = '#\uffff';

/** The partition of the feed index an instant falls in: `feed#2026-05-26T14:30`. */
export function feedBucket(at: Date): string {
  const ms = FEED_BUCKET_MINUTES * 60_000;
  const start = new Date(Math.floor(at.getTime() / ms) * ms);
  return `feed#${start.toISOString().slice(0, 16)}`;
}

/** The bucket before this one (older). */
export function previousBucket(bucket: string): string {
  return feedBucket(new Date(bucketStart(bucket).getTime() - 1));
}

export function bucketStart(bucket: string): Date {
  return new Date(`${bucket.slice('feed#'.length)}:00.000Z`);
}

export interface FeedQuery {
  readonly destinationId?: string;
  readonly customerExternalId?: string;
  readonly outcome?: FeedOutcome;
  /** Inclusive, ISO-8601 UTC with milliseconds. */
  readonly from: string;
  /** Inclusive, ISO-8601 UTC with milliseconds. */
  readonly to: string;
  readonly limit: number;
  readonly cursor?: FeedCursor;
}

const DESTINATION_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
const SK = z.string().min(1).max(100);

/**
 * The cursor: base64url of the LastEvaluatedKey to continue after, and, on the index, the bucket it
 * belongs to (a bucket walked to its end continues at the start of the one before: no key yet).
 */
const CursorSchema = z.union([
  z.strictObject({
    d: z.strictObject({ destinationId: z.string().regex(DESTINATION_ID), sk: SK }),
  }),
  z.strictObject({
    b: z.string().regex(/^feed#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/),
    k: z
      .strictObject({
        feed: z.string().max(40),
        destinationId: z.string().regex(DESTINATION_ID),
        sk: SK,
      })
      .optional(),
  }),
]);
export type FeedCursor = z.output<typeof CursorSchema>;

export function encodeFeedCursor(cursor: FeedCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** The cursor back from a caller; undefined when it is not one this API handed out. */
export function decodeFeedCursor(text: string): FeedCursor | undefined {
  if (text.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The query string of `GET /v1/deliveries`, as strings (absent parameters absent). */
export type FeedParams = Partial<
  Record<'destinationId' | 'customerExternalId' | 'outcome' | 'from' | 'to' | 'cursor' | 'limit', string>
>;

export type FeedParse = { ok: true; query: FeedQuery } | { ok: false; issues: FieldIssue[] };

/** Validates the parameters; every problem is named by its field, for the 400 answer. */
export function parseFeedQuery(params: FeedParams, now: Date = new Date()): FeedParse {
  const issues: FieldIssue[] = [];
  const instant = (field: 'from' | 'to') => queryInstant(field, params[field], issues);
  const to = instant('to') ?? now.toISOString();
  const from = instant('from') ?? new Date(Date.parse(to) - FEED_DEFAULT_WINDOW_MS).toISOString();
  if (params.from !== undefined && params.to !== undefined && from > to)
    issues.push({ field: 'from', message: 'must not be after to' });

  let limit: number = FEED_LIMIT.default;
  if (params.limit !== undefined) {
    limit = Number(params.limit);
    if (!/^\d{1,4}$/.test(params.limit) || limit < FEED_LIMIT.min || limit > FEED_LIMIT.max)
      issues.push({
        field: 'limit',
        message: `must be a whole number from ${FEED_LIMIT.min} to ${FEED_LIMIT.max}`,
      });
  }
  if (params.outcome !== undefined && !(FEED_OUTCOMES as readonly string[]).includes(params.outcome))
    issues.push({ field: 'outcome', message: `must be one of ${FEED_OUTCOMES.join(', ')}` });
  if (params.destinationId !== undefined && !DESTINATION_ID.test(params.destinationId))
    issues.push({ field: 'destinationId', message: 'must be 1-40 lowercase letters, digits and "-"' });
  if (
    params.customerExternalId !== undefined &&
    (params.customerExternalId.length === 0 || params.customerExternalId.length > 256)
  )
    issues.push({ field: 'customerExternalId', message: 'must be 1 to 256 characters' });

  let cursor: FeedCursor | undefined;
  if (params.cursor !== undefined) {
    cursor = decodeFeedCursor(params.cursor);
    // A cursor belongs to the kind of query that made it: a destination's partition, or the index.
    if (!cursor || 'd' in cursor !== (params.destinationId !== undefined))
      issues.push({ field: 'cursor', message: 'is not a cursor this route returned for this query' });
  }
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    query: {
      ...(params.destinationId !== undefined ? { destinationId: params.destinationId } : {}),
      ...(params.customerExternalId !== undefined ? { customerExternalId: params.customerExternalId } : {}),
      ...(params.outcome !== undefined ? { outcome: params.outcome as FeedOutcome } : {}),
      from,
      to,
      limit,
      ...(cursor ? { cursor } : {}),
    },
  };
}

/** One DynamoDB Query of the feed, as the adapter sends it (names and values unmarshalled). */
export interface FeedQueryInput {
  readonly IndexName?: string;
  readonly KeyConditionExpression: string;
  readonly FilterExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, string>;
  readonly ExclusiveStartKey?: Record<string, string>;
  readonly ScanIndexForward: false;
}

/**
 * The Query of one partition: the destination's, or one bucket of the index, within [from, to], with
 * the other filters as a FilterExpression (they do not narrow what is read, only what is answered).
 */
export function feedQueryInput(
  query: FeedQuery,
  partition: { destinationId: string } | { bucket: string },
  startKey?: Record<string, string>,
): FeedQueryInput {
  const names: Record<string, string> = { '#pk': 'destinationId', '#sk': 'sk' };
  const values: Record<string, string> = { ':from': query.from, ':to': `${query.to}${AFTER_ANY_ID}` };
  let index: string | undefined;
  if ('bucket' in partition) {
    index = FEED_INDEX.name;
    names['#pk'] = FEED_INDEX.partitionKey;
    values[':pk'] = partition.bucket;
  } else values[':pk'] = partition.destinationId;
  const filters: string[] = [];
  for (const field of ['customerExternalId', 'outcome'] as const) {
    const value = query[field];
    if (value === undefined) continue;
    filters.push(`#${field} = :${field}`);
    names[`#${field}`] = field;
    values[`:${field}`] = value;
  }
  return {
    ...(index ? { IndexName: index } : {}),
    KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
    ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ...(startKey ? { ExclusiveStartKey: startKey } : {}),
    ScanIndexForward: false,
  };
}

/** The first bucket a request reads: the cursor's, or the one `to` falls in. */
export function firstBucket(query: FeedQuery): string {
  if (query.cursor && 'b' in query.cursor) return query.cursor.b;
  return feedBucket(new Date(query.to));
}

/** Whether a bucket can hold attempts of the window (it ends after `from`). */
export function bucketInWindow(bucket: string, query: FeedQuery): boolean {
  return bucketStart(bucket).getTime() + FEED_BUCKET_MINUTES * 60_000 > Date.parse(query.from);
}

/** One delivery of the answer (DESIGN.md), from an attempt record of the table or the index. */
export interface FeedDelivery {
  readonly at: string;
  readonly destinationId: string;
  readonly type: string;
  readonly customerExternalId?: string;
  /** The first FEED_EVENT_IDS ids of the attempt's events. */
  readonly eventIds: string[];
  /** How many events the attempt covered (more than `eventIds` lists for big batches). */
  readonly eventCount: number;
  readonly eventTypes?: string[];
  readonly outcome: string;
  readonly latencyMs?: number;
  readonly errorCode?: string;
  readonly reason?: string;
  readonly target?: string;
  /** A test send's attempt (`POST /v1/destinations/{id}/test`), not real traffic. */
  readonly test?: true;
}

const RecordSchema = z.object({
  destinationId: z.string(),
  sk: z.string(),
  attemptedAt: z.string(),
  destinationType: z.string(),
  customerExternalId: z.string().optional(),
  eventIds: z.array(z.string()).optional(),
  feedEventIds: z.array(z.string()).optional(),
  eventCount: z.number().optional(),
  eventTypes: z.array(z.string()).optional(),
  outcome: z.string(),
  latencyMs: z.number().optional(),
  errorCode: z.string().optional(),
  errorMessage: z.string().optional(),
  target: z.string().optional(),
  test: z.boolean().optional(),
});

/** An item read back; undefined for one that is not an attempt record (never answered, never fatal). */
export function deliveryOf(item: Record<string, unknown>): FeedDelivery | undefined {
  const parsed = RecordSchema.safeParse(item);
  if (!parsed.success) return undefined;
  const r = parsed.data;
  const ids = (r.feedEventIds ?? r.eventIds ?? []).slice(0, FEED_EVENT_IDS);
  return {
    at: r.attemptedAt,
    destinationId: r.destinationId,
    type: r.destinationType,
    ...(r.customerExternalId !== undefined ? { customerExternalId: r.customerExternalId } : {}),
    eventIds: ids,
    eventCount: r.eventCount ?? r.eventIds?.length ?? ids.length,
    ...(r.eventTypes ? { eventTypes: r.eventTypes } : {}),
    outcome: r.outcome,
    ...(r.latencyMs !== undefined ? { latencyMs: r.latencyMs } : {}),
    ...(r.errorCode !== undefined ? { errorCode: r.errorCode } : {}),
    ...(r.errorMessage !== undefined ? { reason: r.errorMessage } : {}),
    ...(r.target !== undefined ? { target: r.target } : {}),
    ...(r.test ? { test: true as const } : {}),
  };
}
