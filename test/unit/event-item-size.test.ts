import { describe, expect, it } from 'vitest';
import {
  eventItem,
  type StoredEvent,
  storedEventFor,
  storedEventOf,
  storedItemBytes,
} from '../../lambdas/adapters/event-store.js';
import { canonicalJson, sha256Hex } from '../../lambdas/core/canonical.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { decodeRecord, encodeRecord } from '../../lambdas/core/record-codec.js';

/**
 * What accepting a 1 KiB event costs in the event store: its item (record, routing and Powertools
 * claim, adapters/event-idempotency.ts) is one write unit. The event is a realistic order, not padding
 * (which deflates to nothing): ids, an address, line items, all different.
 */
function oneKibEvent(): EventRecord {
  const customerExternalId = 'acct_8K2zRq';
  const idempotencyKey = 'order_7f3c9e21-b4d8-4c6a-9e0f-2d5b8a1c7e43-completed';
  const record: EventRecord = {
    eventType: 'order.completed',
    occurredAt: '2026-05-26T14:21:08.493Z',
    source: 'billing-service',
    customerExternalId,
    idempotencyKey,
    correlationId: 'req_4f30b2c8e1a94d7b',
    eventId: deriveEventId(customerExternalId, idempotencyKey),
    receivedAt: '2026-05-26T14:21:08.912Z',
    payload: {
      orderId: 'ord_7f3c9e21b4d8',
      customer: { id: 'cus_Q8zL2mN4', email: 'dana.whitfield@northwind-example.com', country: 'DE' },
      amount: 48_710,
      currency: 'EUR',
      tax: { rate: 0.19, amount: 7777 },
      shipping: {
        name: 'Dana Whitfield',
        line1: 'Kastanienallee 42',
        city: 'Berlin',
        postalCode: '10435',
        method: 'express',
      },
      items: [
        { sku: 'PR-PRO-MONTHLY', qty: 1, price: 12_900, discount: 0 },
        { sku: 'PR-SEAT-ADDON', qty: 7, price: 900, discount: 450 },
        { sku: 'PR-STORAGE-1TB', qty: 2, price: 4_500, discount: 0 },
        { sku: 'PR-SUPPORT-GOLD', qty: 1, price: 19_900, discount: 1_990 },
      ],
      paymentIntent: 'pi_3PqR7sT2uV9wX4yZ1aB6cD8e',
    },
    metadata: { tier: 'pro', region: 'eu-central-1', plan: 'annual' },
  };
  return record;
}

function stored(record: EventRecord): StoredEvent {
  return storedEventFor(record, {
    bodyHash: sha256Hex(canonicalJson(record)),
    destinations: ['acme-prod-s3', 'acme-prod-bus'],
    expiresAt: 1_780_000_000,
  });
}

const claim = {
  inProgressExpiry: 1_779_999_999_123,
  completion: 'done#6f1d0c4e-3b7a-4f2e-9c8d-1a2b3c4d5e6f',
};

describe('the event item of a 1 KiB event', () => {
  const record = oneKibEvent();
  const event = stored(record);

  it('is a 1 KiB event', () => {
    expect(Buffer.byteLength(event.record)).toBeGreaterThanOrEqual(1000);
    expect(Buffer.byteLength(event.record)).toBeLessThanOrEqual(1024);
  });

  it('costs one write unit, and is no larger than it is today', () => {
    const bytes = storedItemBytes(event, claim);
    expect(Math.ceil(bytes / 1024)).toBe(1);
    // Pinned: a change that makes the item larger fails here, and must say why in this number.
    expect(bytes).toBeLessThanOrEqual(PINNED_ITEM_BYTES);
    // What compression buys: the same item with the record as plain JSON would be two write units.
    const plain = bytes - encodeRecord(event.record).byteLength + Buffer.byteLength(event.record);
    expect(Math.ceil(plain / 1024)).toBe(2);
  });

  it('reads back the record byte for byte, and the fields it no longer stores twice', () => {
    const back = storedEventOf(eventItem(event, claim));
    expect(back).toEqual(event);
    expect(decodeRecord(encodeRecord(event.record))).toBe(event.record);
  });

  it('still reads an item written before compression (the record as a string)', () => {
    const item = eventItem(event);
    const legacy = { ...item, record: { S: event.record } };
    expect(storedEventOf(legacy).record).toBe(event.record);
  });
});

/** storedItemBytes of the event above, measured when this test was written. */
const PINNED_ITEM_BYTES = 875;
