import { createHash } from 'node:crypto';

/**
 * Trace (DESIGN.md invariant 12, "Trace, health, audit"): the records a delivery leaves per event, and
 * the one function that turns them into an answer to "what happened to event X?". Pure: the adapters
 * (adapters/trace-log.ts, adapters/trace-reader.ts) store and read the records.
 *
 * Two kinds of record, so that the happy path writes nothing per event:
 * - a **receipt** per delivery call and 10-second bucket of the events' `receivedAt`: the members'
 *   8-byte eventId hashes and where they landed. A trace knows its event's `receivedAt` (the event
 *   item), so it reads exactly one bucket per destination, whenever the delivery happened;
 * - an **event attempt** per failed event and attempt (retry scheduled, dead-lettered, replayed),
 *   keyed by the eventId: failures are off the happy path, and keyed so, a failure 20 h ago is one
 *   small Query away, whatever the destination delivered meanwhile.
 */

/** Width of a receipt bucket: at 1,000 events/s one destination's bucket holds 10,000 members. */
export const RECEIPT_BUCKET_SECONDS = 10;
/** Bytes of SHA-256(eventId) a receipt keeps per member: collisions within a bucket are ~1e-11. */
export const MEMBER_HASH_BYTES = 8;
/** Members per receipt item, well under DynamoDB's 400 KB item limit with per-member targets. */
export const MAX_RECEIPT_MEMBERS = 2000;

export type TraceOutcome = 'delivered' | 'failed' | 'retry-scheduled' | 'dead-lettered' | 'replayed';
export const DELIVERY_STATUSES = ['delivered', 'pending', 'retrying', 'dead-lettered', 'paused'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One attempt as the trace shows it (DESIGN.md: `attempts[]`). */
export interface TraceAttempt {
  readonly at: string;
  readonly outcome: TraceOutcome;
  readonly latencyMs?: number;
  readonly errorCode?: string;
  readonly reason?: string;
  readonly target?: string;
}

/** An attempt of one event at one destination, as read back from either kind of record. */
export interface EventAttempt extends TraceAttempt {
  readonly destinationId: string;
  readonly destinationType?: string;
  /** A retry-scheduled attempt's next attempt: when the message becomes visible again. */
  readonly nextAttemptAt?: string;
  /** SHA-256 (hex) of the bytes delivered, where the kind states it: a hash, never a copy. */
  readonly sha256?: string;
}

export interface TraceDelivery {
  readonly destinationId: string;
  readonly type: string;
  readonly status: DeliveryStatus;
  readonly deliveredAt?: string;
  readonly target?: string;
  readonly nextAttemptAt?: string;
  readonly reason?: string;
  readonly attempts: readonly TraceAttempt[];
}

export interface Trace {
  readonly eventId: string;
  readonly customerExternalId: string;
  readonly eventType: string;
  readonly occurredAt: string;
  readonly receivedAt: string;
  readonly idempotencyKey: string;
  readonly correlationId?: string;
  readonly payload?: unknown;
  readonly deliveries: readonly TraceDelivery[];
}

/** The stored event, as much of it as a trace shows. */
export interface TracedEvent {
  readonly eventId: string;
  readonly customerExternalId: string;
  readonly eventType: string;
  readonly occurredAt: string;
  readonly receivedAt: string;
  readonly idempotencyKey: string;
  readonly correlationId?: string;
  readonly payload?: unknown;
  /** The destinations it was routed to when accepted. */
  readonly destinations: readonly string[];
}

/** A routed destination as it stands now; undefined when it has been deleted since. */
export interface TracedDestination {
  readonly type: string;
  readonly paused: boolean;
}

/**
 * The status of one event at one destination, from its attempts (time-ordered) and the destination's
 * state. One table, in this order:
 *
 * | attempts                                   | status                                      |
 * |--------------------------------------------|---------------------------------------------|
 * | any `delivered`                            | delivered (the latest: deliveredAt, target)  |
 * | latest is `dead-lettered`                  | dead-lettered (its reason)                   |
 * | destination paused                         | paused (the event waits in its queue)        |
 * | latest is `retry-scheduled`                | retrying (its reason, nextAttemptAt)         |
 * | latest is `failed` (no retry time known)   | retrying (its reason)                        |
 * | none, or latest is `replayed`              | pending                                      |
 * | destination deleted, never delivered       | dead-lettered (a delete drains or DLQs)      |
 */
export function deliveryOf(
  destinationId: string,
  destination: TracedDestination | undefined,
  attempts: readonly EventAttempt[],
): TraceDelivery {
  const sorted = [...attempts].sort(byTime);
  const type = destination?.type ?? sorted.find((a) => a.destinationType)?.destinationType ?? 'UNKNOWN';
  const shown = sorted.map(toTraceAttempt);
  const base = { destinationId, type, attempts: shown };
  const delivered = sorted.filter((a) => a.outcome === 'delivered').at(-1);
  if (delivered) {
    return {
      ...base,
      status: 'delivered',
      deliveredAt: delivered.at,
      ...(delivered.target ? { target: delivered.target } : {}),
    };
  }
  const latest = sorted.at(-1);
  if (latest?.outcome === 'dead-lettered') {
    return { ...base, status: 'dead-lettered', ...reasonOf(latest) };
  }
  if (!destination) {
    return {
      ...base,
      status: 'dead-lettered',
      reason: 'the destination was deleted before this event was delivered; see its DLQ',
    };
  }
  if (destination.paused) return { ...base, status: 'paused', reason: 'the destination is paused' };
  if (latest?.outcome === 'retry-scheduled' || latest?.outcome === 'failed') {
    return {
      ...base,
      status: 'retrying',
      ...reasonOf(latest),
      ...(latest.nextAttemptAt ? { nextAttemptAt: latest.nextAttemptAt } : {}),
    };
  }
  return { ...base, status: 'pending' };
}

/** The whole trace: one delivery per routed destination (and any other an attempt names). */
export function assembleTrace(
  event: TracedEvent,
  destinations: ReadonlyMap<string, TracedDestination | undefined>,
  attempts: readonly EventAttempt[],
): Trace {
  const ids = [...new Set([...event.destinations, ...attempts.map((a) => a.destinationId)])];
  return {
    eventId: event.eventId,
    customerExternalId: event.customerExternalId,
    eventType: event.eventType,
    occurredAt: event.occurredAt,
    receivedAt: event.receivedAt,
    idempotencyKey: event.idempotencyKey,
    ...(event.correlationId ? { correlationId: event.correlationId } : {}),
    ...(event.payload !== undefined ? { payload: event.payload } : {}),
    deliveries: ids.map((id) =>
      deliveryOf(
        id,
        destinations.get(id),
        attempts.filter((a) => a.destinationId === id),
      ),
    ),
  };
}

// Receipts ------------------------------------------------------------------------------------------

/** The receipt bucket of a receivedAt: its start, as ISO time. */
export function receiptBucket(receivedAt: string): string {
  const ms = Date.parse(receivedAt);
  if (Number.isNaN(ms)) throw new Error(`receivedAt "${receivedAt}" is not a time`);
  const width = RECEIPT_BUCKET_SECONDS * 1000;
  return new Date(Math.floor(ms / width) * width).toISOString();
}

/** The member hash a receipt keeps for an event. */
export function memberHash(eventId: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(eventId).digest().subarray(0, MEMBER_HASH_BYTES));
}

/** One delivery call of a receipt: members share its time and latency, and its target if they all do. */
export interface ReceiptCall {
  readonly at: string;
  readonly latencyMs?: number;
  readonly target?: string;
  readonly sha256?: string;
}

/** A receipt as stored: `members` concatenated hashes, `calls[callOf[i]]` the call of member i. */
export interface Receipt {
  readonly bucket: string;
  readonly destinationType: string;
  readonly members: Uint8Array;
  /** Omitted when there is one call. */
  readonly callOf?: Uint16Array;
  readonly calls: readonly ReceiptCall[];
  /** Per-member targets (EventBridge entry ids), when members of a call did not share one. */
  readonly targets?: readonly string[];
}

/** A delivered event as a kind's delivery reports it. */
export interface DeliveredEvent {
  readonly eventId: string;
  readonly receivedAt: string;
  /** Groups the events of one delivery call (a PutObject, a PutEvents call, a POST). */
  readonly call: string;
  readonly at: string;
  readonly latencyMs?: number;
  readonly target?: string;
  readonly sha256?: string;
}

/**
 * The receipts of a batch's delivered events: one per bucket of receivedAt (and per
 * MAX_RECEIPT_MEMBERS). A batch's events arrive within seconds of each other, so a full batch makes
 * one or two receipts, whatever its size.
 */
export function buildReceipts(destinationType: string, delivered: readonly DeliveredEvent[]): Receipt[] {
  const byBucket = new Map<string, DeliveredEvent[]>();
  const seen = new Set<string>();
  for (const d of delivered) {
    if (seen.has(d.eventId)) continue;
    seen.add(d.eventId);
    const bucket = receiptBucket(d.receivedAt);
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), d]);
  }
  const out: Receipt[] = [];
  for (const [bucket, all] of byBucket) {
    for (let i = 0; i < all.length; i += MAX_RECEIPT_MEMBERS) {
      out.push(receiptOf(destinationType, bucket, all.slice(i, i + MAX_RECEIPT_MEMBERS)));
    }
  }
  return out;
}

function receiptOf(destinationType: string, bucket: string, members: readonly DeliveredEvent[]): Receipt {
  const callIds = [...new Set(members.map((m) => m.call))];
  const calls = callIds.map((id): ReceiptCall => {
    const of = members.filter((m) => m.call === id);
    const first = of[0] as DeliveredEvent;
    const shared = of.every((m) => m.target === first.target) ? first.target : undefined;
    return {
      at: first.at,
      ...(first.latencyMs !== undefined ? { latencyMs: first.latencyMs } : {}),
      ...(shared ? { target: shared } : {}),
      ...(first.sha256 ? { sha256: first.sha256 } : {}),
    };
  });
  const hashes = new Uint8Array(members.length * MEMBER_HASH_BYTES);
  members.forEach((m, i) => {
    hashes.set(memberHash(m.eventId), i * MEMBER_HASH_BYTES);
  });
  const perMember = calls.some((c, i) =>
    members.some((m) => m.call === callIds[i] && m.target !== undefined && c.target === undefined),
  );
  return {
    bucket,
    destinationType,
    members: hashes,
    ...(calls.length > 1 ? { callOf: Uint16Array.from(members, (m) => callIds.indexOf(m.call)) } : {}),
    calls,
    ...(perMember ? { targets: members.map((m) => m.target ?? '') } : {}),
  };
}

/** The delivered attempts of an event in a receipt (usually none or one). */
export function attemptsInReceipt(receipt: Receipt, destinationId: string, eventId: string): EventAttempt[] {
  const wanted = memberHash(eventId);
  const out: EventAttempt[] = [];
  const count = receipt.members.length / MEMBER_HASH_BYTES;
  for (let i = 0; i < count; i += 1) {
    let match = true;
    for (let b = 0; b < MEMBER_HASH_BYTES && match; b += 1) {
      match = receipt.members[i * MEMBER_HASH_BYTES + b] === wanted[b];
    }
    if (!match) continue;
    const call = receipt.calls[receipt.callOf?.[i] ?? 0];
    if (!call) continue;
    const target = call.target ?? (receipt.targets?.[i] || undefined);
    out.push({
      destinationId,
      destinationType: receipt.destinationType,
      at: call.at,
      outcome: 'delivered',
      ...(call.latencyMs !== undefined ? { latencyMs: call.latencyMs } : {}),
      ...(target ? { target } : {}),
      ...(call.sha256 ? { sha256: call.sha256 } : {}),
    });
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Per-member targets as 16 bytes each when every one is a UUID (EventBridge's entry ids are): half
 * the bytes of the strings, so a full bucket of EventBridge receipts stays well under the read
 * budget. Undefined when any is not a UUID: those are stored as strings.
 */
export function packUuids(targets: readonly string[]): Uint8Array | undefined {
  if (!targets.every((t) => UUID.test(t))) return undefined;
  const out = new Uint8Array(targets.length * 16);
  targets.forEach((t, i) => {
    out.set(Buffer.from(t.replaceAll('-', ''), 'hex'), i * 16);
  });
  return out;
}

export function unpackUuids(packed: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i + 16 <= packed.length; i += 16) {
    const hex = Buffer.from(packed.subarray(i, i + 16)).toString('hex');
    out.push(
      `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------

const OUTCOME_ORDER: Record<TraceOutcome, number> = {
  failed: 0,
  'retry-scheduled': 1,
  'dead-lettered': 2,
  replayed: 3,
  delivered: 4,
};

function byTime(a: EventAttempt, b: EventAttempt): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return OUTCOME_ORDER[a.outcome] - OUTCOME_ORDER[b.outcome];
}

function toTraceAttempt(a: EventAttempt): TraceAttempt {
  return {
    at: a.at,
    outcome: a.outcome,
    ...(a.latencyMs !== undefined ? { latencyMs: a.latencyMs } : {}),
    ...(a.errorCode ? { errorCode: a.errorCode } : {}),
    ...(a.reason ? { reason: a.reason } : {}),
    ...(a.target ? { target: a.target } : {}),
  };
}

function reasonOf(a: EventAttempt): { reason?: string } {
  const reason = a.errorCode && a.reason ? `${a.errorCode}: ${a.reason}` : (a.reason ?? a.errorCode);
  return reason ? { reason } : {};
}
