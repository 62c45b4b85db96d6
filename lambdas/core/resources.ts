/**
 * The one description of the tables and queues Pushrail runs on. The CDK stack (lib/) and the local
 * runtime (local/provision.ts) both build from it, so what runs on a laptop cannot drift from what
 * `cdk deploy` creates.
 */

import { FEED_INDEX } from './deliveries-feed.js';

export const DAY_SECONDS = 24 * 60 * 60;

/**
 * The ingest function's memory. Ingest waits on DynamoDB and SQS far more than it computes (about 16 ms
 * of CPU per request of 100 events, measured by `npm run bench`), and Lambda bills GB-seconds: 512 MB
 * halves the bill of 1024 MB for the same wait. Its CPU share (about 0.3 vCPU) still parses a full
 * 5 MiB request well inside API Gateway's 29 s.
 */
export const INGEST_MEMORY_MB = 512;
/**
 * The HTTP API authorizer's memory in MB (lib/http-ingest-api.ts and the bench): it hashes a header
 * and compares digests against a cached list, and runs about once per key per 5 minutes.
 */
export const AUTHORIZER_MEMORY_MB = 256;

/** A global secondary index (string keys), projecting its keys and the `projected` attributes. */
export interface IndexDescription {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  readonly projected: readonly string[];
}

export interface TableDescription {
  /** Role of the table; also the suffix of its local name and the key in `.pushrail/local.json`. */
  readonly role: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** Attribute holding the expiry epoch seconds (DynamoDB TTL). */
  readonly ttlAttribute: string;
  /** Environment variable through which functions receive the table name. */
  readonly envVar: string;
  /** @default none */
  readonly globalIndexes?: readonly IndexDescription[];
}

export const TABLES = {
  /** The event store: one item per accepted event, keyed by its derived eventId. */
  events: { role: 'events', partitionKey: 'eventId', ttlAttribute: 'expiresAt', envVar: 'EVENTS_TABLE' },
  /**
   * Ingest's completion markers (adapters/event-idempotency.ts: one per request, the eventIds whose
   * fan-out finished), with Powertools' default key and expiry attribute names. The events' own
   * idempotency records live in their event items.
   */
  idempotency: {
    role: 'idempotency',
    partitionKey: 'id',
    ttlAttribute: 'expiration',
    envVar: 'IDEMPOTENCY_TABLE',
  },
  /**
   * S3 part membership (invariant 5): `seal#<destination>#<eventId>` → the part an event is sealed in,
   * and `part#<destination>#<key>` → a part's ordered members and its status.
   */
  seals: { role: 'seals', partitionKey: 'pk', ttlAttribute: 'expiresAt', envVar: 'SEALS_TABLE' },
  /** The per-attempt audit trail (and replay journal): one item per delivery call, time-ordered per destination. */
  attempts: {
    role: 'attempts',
    partitionKey: 'destinationId',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    envVar: 'ATTEMPTS_TABLE',
    /** The deliveries feed (core/deliveries-feed.ts): sparse, only attempt records carry its key. */
    globalIndexes: [FEED_INDEX],
  },
  /**
   * The destinations at runtime (DESIGN.md "Management API"): `dest#<id>` → one DestinationRecord
   * (core/destination-record.ts), and `catalog` → the version every change bumps, so a cache of the
   * destinations refreshes with one small read when nothing changed. Never expires.
   */
  destinations: {
    role: 'destinations',
    partitionKey: 'pk',
    ttlAttribute: 'expiresAt',
    envVar: 'DESTINATIONS_TABLE',
  },
  /**
   * The audit trail of changes (DESIGN.md "Trace, health, audit"): one item per change to a
   * destination or replay run, key `pk` = `audit` + `sk` = `<ISO time>#<id>`, so entries read back in
   * time order with a range on `sk`. Changes are rare, so one partition holds them.
   */
  audit: {
    role: 'audit',
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    envVar: 'AUDIT_TABLE',
  },
} as const satisfies Record<string, TableDescription>;

export const TABLE_LIST: readonly TableDescription[] = Object.values(TABLES);

/**
 * Queue settings shared by every destination queue.
 *
 * - The source queue keeps messages 4 days: at least the 24 h retry horizon plus time for on-call to
 *   notice an outage of the consumer itself.
 * - The DLQ keeps them 14 days, SQS's maximum, so a failure found after a long weekend can be replayed.
 * - `maxReceiveCount` is a crash guard, not the retry policy: consumers classify failures and move
 *   messages to the DLQ themselves with a reason. It only catches a message whose processing keeps
 *   crashing the function. It must exceed the receives a message can legitimately use during 24 h of
 *   backed-off retries (the backoff schedule starts at 30 s and doubles), so it is set well above that.
 */
export const QUEUE_SETTINGS = {
  retentionSeconds: 4 * DAY_SECONDS,
  dlqRetentionSeconds: 14 * DAY_SECONDS,
  maxReceiveCount: 100,
  /** Visibility timeout before a consumer exists to set one from its function timeout. */
  defaultVisibilityTimeoutSeconds: 300,
} as const;

/** Max length of SQS queue names. */
const MAX_QUEUE_NAME = 80;

/** The prefix every physical name gets: the stack name, so two stacks in one account never collide. */
export const MAX_NAME_PREFIX = MAX_QUEUE_NAME - '-'.length - 40 /* destination id */ - '-dlq'.length;

/**
 * Queue names are explicit (not generated) because the ingest function builds queue URLs from them at
 * run time: a routing table of names fits in the bundle, whereas CloudFormation-generated URLs would
 * have to travel in environment variables, which are limited to 4 KB in all.
 */
export function queueNames(namePrefix: string, destinationId: string): { queue: string; dlq: string } {
  if (namePrefix.length > MAX_NAME_PREFIX || !/^[A-Za-z0-9_-]+$/.test(namePrefix)) {
    throw new Error(
      `name prefix "${namePrefix}" must be 1-${MAX_NAME_PREFIX} letters, digits, "_" or "-" (it prefixes SQS queue names)`,
    );
  }
  return { queue: `${namePrefix}-${destinationId}`, dlq: `${namePrefix}-${destinationId}-dlq` };
}

/** Local table names: the prefix plus the table's role. */
export function localTableName(namePrefix: string, table: TableDescription): string {
  return `${namePrefix}-${table.role}`;
}

/**
 * The destination a queue belongs to, from its ARN (an SQS record's `eventSourceARN`) or its name:
 * the inverse of `queueNames`. Undefined for a queue outside this prefix (another stack's). A DLQ's
 * name is not told apart: ids may end in `-dlq`, and only destination queues trigger a consumer.
 */
export function destinationIdOfQueue(namePrefix: string, queueArnOrName: string): string | undefined {
  const name = queueArnOrName.slice(queueArnOrName.lastIndexOf(':') + 1);
  const head = `${namePrefix}-`;
  if (!name.startsWith(head)) return undefined;
  const id = name.slice(head.length);
  return id.length > 0 ? id : undefined;
}
