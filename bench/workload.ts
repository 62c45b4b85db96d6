import { canonicalJson } from '../lambdas/core/canonical.js';
import { type PushrailConfig, parseConfig } from '../lambdas/core/config.js';
import type { CanonicalEvent, EventRecord } from '../lambdas/core/event.js';
import { deriveEventId } from '../lambdas/core/event-id.js';
import { seededRandom } from '../test/support/fault-suite/workload.js';

/**
 * The benchmark's workload: events of about 1 KiB from one customer, of two event types in one hour
 * (two S3 partitions), routed to one S3 and one EventBridge destination.
 */

/** Target size of an event record (canonical event + eventId + receivedAt) as delivered: one line, one entry. */
export const RECORD_BYTES = 1000;
export const CUSTOMER = 'acct_8K2zRq';
const EVENT_TYPES = ['order.completed', 'user.signed_up'] as const;
/** Stands in for `receivedAt` when sizing: the same length as any ISO timestamp. */
const SAMPLE_RECEIVED_AT = '2026-05-26T14:30:00.000Z';

export const BENCH_CONFIG: PushrailConfig = parseConfig(
  {
    vendor: 'acme',
    destinations: [
      {
        id: 'bench-s3',
        type: 'S3',
        customerExternalId: CUSTOMER,
        name: 'Benchmark S3 archive',
        bucket: 'bench-pushrail-events',
        keyPrefix: 'raw/pushrail/',
        region: 'us-east-1',
        auth: {
          mode: 'ASSUME_ROLE',
          roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
          externalId: 'bench-ext-7Pq2',
        },
      },
      {
        id: 'bench-eventbridge',
        type: 'EVENTBRIDGE',
        customerExternalId: CUSTOMER,
        name: 'Benchmark EventBridge bus',
        busArn: 'arn:aws:events:us-east-1:123456789012:event-bus/bench-events',
        region: 'us-east-1',
        auth: {
          mode: 'ASSUME_ROLE',
          roleArn: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter',
          externalId: 'bench-ext-7Pq2',
        },
      },
    ],
  },
  'bench/workload.ts',
);

/**
 * `count` events, each padded so that its record is RECORD_BYTES bytes of canonical JSON. `tag` makes
 * the idempotency keys unique per run; `eventType` pins one type (the latency probe's own partition).
 */
export function makeEvents(count: number, tag: string, eventType?: string): CanonicalEvent[] {
  // Deterministic, so every run posts the same shapes.
  const random = seededRandom(count + tag.length * 7919);
  return Array.from({ length: count }, (_, i) => {
    const minute = String(Math.floor(random() * 60)).padStart(2, '0');
    const second = String(Math.floor(random() * 60)).padStart(2, '0');
    const amount = 100 + Math.floor(random() * 100_000);
    const event: CanonicalEvent = {
      eventType: eventType ?? (EVENT_TYPES[i % EVENT_TYPES.length] as string),
      occurredAt: `2026-05-26T14:${minute}:${second}.${String(i % 1000).padStart(3, '0')}Z`,
      source: 'billing-service',
      customerExternalId: CUSTOMER,
      idempotencyKey: `${tag}-${i}`,
      correlationId: `req_${tag}_${i}`,
      payload: {
        orderId: `ord_${i.toString(36)}`,
        amount,
        currency: 'USD',
        items: [
          { sku: 'PR-PRO-MONTHLY', qty: 1, price: amount },
          { sku: 'PR-SEAT-ADDON', qty: 1 + (i % 5), price: 900 },
        ],
        notes: '',
      },
      metadata: { tier: 'pro', region: 'us-east-1', plan: 'annual' },
    };
    const size = recordSize(event);
    (event.payload as { notes: string }).notes = 'x'.repeat(Math.max(0, RECORD_BYTES - size));
    return event;
  });
}

/** Bytes of the event's record as delivered (canonical JSON with eventId and receivedAt). */
export function recordSize(event: CanonicalEvent): number {
  const record: EventRecord = {
    ...event,
    eventId: deriveEventId(event.customerExternalId, event.idempotencyKey),
    receivedAt: SAMPLE_RECEIVED_AT,
  };
  return Buffer.byteLength(canonicalJson(record), 'utf8');
}

/** The record as the pipeline would deliver it (for the in-process hot-path benchmark). */
export function toRecord(event: CanonicalEvent): EventRecord {
  return {
    ...event,
    eventId: deriveEventId(event.customerExternalId, event.idempotencyKey),
    receivedAt: SAMPLE_RECEIVED_AT,
  };
}
