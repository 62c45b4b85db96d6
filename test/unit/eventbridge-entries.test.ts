import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { KiB, MiB, PUT_EVENTS_MAX_REQUEST_BYTES } from '../../lambdas/core/limits.js';
import { chunkEntries, entrySize, toEntry } from '../../lambdas/destinations/eventbridge/entries.js';
import {
  type EventBridgeDestinationConfig,
  sourceNamespace,
} from '../../lambdas/destinations/eventbridge/schema.js';
import { seedEvent } from '../support/seed-event.js';

const BUS = 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-events';

const configWith = (sourceNamespaceField?: string) =>
  parseConfig({
    vendor: 'acme',
    destinations: [
      {
        id: 'bus',
        type: 'EVENTBRIDGE',
        customerExternalId: 'acct_8K2zRq',
        name: 'Customer EventBridge bus',
        busArn: BUS,
        region: 'us-east-1',
        ...(sourceNamespaceField ? { sourceNamespace: sourceNamespaceField } : {}),
        auth: {
          mode: 'ASSUME_ROLE',
          roleArn: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter',
          externalId: 'acme-ext-7Pq2',
        },
      },
    ],
  });

const record = (patch: Partial<EventRecord> = {}): EventRecord => {
  const base = { ...structuredClone(seedEvent), ...patch } as Omit<EventRecord, 'eventId' | 'receivedAt'>;
  return {
    ...base,
    eventId: deriveEventId(base.customerExternalId, base.idempotencyKey),
    receivedAt: '2026-05-26T14:21:09.001Z',
  };
};

const settings = { source: 'pushrail.acme', busArn: BUS };
const many = (n: number, payload: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => {
    const r = record({ idempotencyKey: `key-${i}`, payload });
    return { eventId: r.eventId, entry: toEntry(r, settings) };
  });

describe('toEntry', () => {
  it('builds the contract envelope for the seed event with the default source pushrail.<vendor>', () => {
    const config = configWith();
    const destination = config.destinations[0] as EventBridgeDestinationConfig;
    const seed = record();
    const entry = toEntry(seed, { source: sourceNamespace(config, destination), busArn: destination.busArn });
    expect(entry).toEqual({
      Source: 'pushrail.acme',
      DetailType: 'order.completed',
      Detail: canonicalJson(seed),
      Resources: ['acct_8K2zRq', 'order_38a91f-completed'],
      Time: new Date('2026-05-26T14:21:08.493Z'),
      EventBusName: BUS,
    });
    // The detail is the whole record: the producer's event plus eventId and receivedAt.
    expect(JSON.parse(entry.Detail)).toEqual({
      ...seedEvent,
      eventId: seed.eventId,
      receivedAt: '2026-05-26T14:21:09.001Z',
    });
    expect(entry.Detail.startsWith('{"correlationId":"req_4f30b2","customerExternalId"')).toBe(true);
  });

  it('uses the configured sourceNamespace when there is one', () => {
    const config = configWith('com.acme.billing');
    const destination = config.destinations[0] as EventBridgeDestinationConfig;
    const entry = toEntry(record(), { source: sourceNamespace(config, destination), busArn: BUS });
    expect(entry.Source).toBe('com.acme.billing');
  });
});

describe('entrySize', () => {
  it('counts 14 bytes for Time plus the UTF-8 bytes of Source, DetailType, Detail and each resource', () => {
    const seed = record();
    const entry = toEntry(seed, settings);
    const expected =
      14 +
      'pushrail.acme'.length +
      'order.completed'.length +
      Buffer.byteLength(canonicalJson(seed)) +
      'acct_8K2zRq'.length +
      'order_38a91f-completed'.length;
    expect(entrySize(entry)).toBe(expected);
  });

  it('counts multibyte characters by their UTF-8 bytes, not UTF-16 units, and leaves out EventBusName', () => {
    // é is 2 bytes, € 3, 😀 4 (two UTF-16 units).
    expect(
      entrySize({
        Source: 'src',
        DetailType: 'é',
        Detail: '{"a":"€😀"}',
        Resources: ['ü', '😀'],
        EventBusName: 'a-very-long-bus-name-that-is-not-counted',
      }),
    ).toBe(3 + 2 + (8 + 3 + 4) + 2 + 4);
    expect(entrySize({ Source: 's', DetailType: 't', Time: new Date(0) })).toBe(14 + 1 + 1);
  });
});

describe('chunkEntries', () => {
  it('splits 25 events into requests of 10, 10 and 5 in order', () => {
    const items = many(25);
    const plan = chunkEntries(items);
    expect(plan.tooLarge).toEqual([]);
    expect(plan.chunks.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(plan.chunks.flat().map((c) => c.eventId)).toEqual(items.map((i) => i.eventId));
  });

  it('keeps every request within 10 entries and the request size limit with ten ~200 KiB entries among small ones', () => {
    const big = many(10, { blob: 'x'.repeat(200 * KiB) }).map((b, i) => ({
      ...b,
      eventId: `big-${i}`,
    }));
    const small = many(15).map((s, i) => ({ ...s, eventId: `small-${i}` }));
    const mixed = small.flatMap((s, i) => (big[i] ? [big[i], s] : [s]));
    const plan = chunkEntries(mixed);
    expect(plan.tooLarge).toEqual([]);
    for (const chunk of plan.chunks) {
      expect(chunk.length).toBeLessThanOrEqual(10);
      expect(chunk.reduce((n, c) => n + entrySize(c.entry), 0)).toBeLessThanOrEqual(
        PUT_EVENTS_MAX_REQUEST_BYTES,
      );
    }
    expect(plan.chunks.flat().map((c) => c.eventId)).toEqual(mixed.map((m) => m.eventId));
    // 10 × ~200 KiB cannot go in fewer than 2 requests of 1 MiB, and 25 entries not in fewer than 3.
    expect(plan.chunks.length).toBeGreaterThanOrEqual(3);
    expect(plan.chunks.some((c) => c.length > 1 && c.some((e) => e.eventId.startsWith('big-')))).toBe(true);
  });

  it('fails an entry that alone exceeds the limit with EntryTooLarge, for that event only', () => {
    const items = many(3);
    const huge = many(1, { blob: 'x'.repeat(1 * MiB) }).map((h) => ({ ...h, eventId: 'huge' }));
    const plan = chunkEntries([items[0], huge[0], items[1], items[2]] as typeof items);
    expect(plan.tooLarge).toEqual([
      {
        eventId: 'huge',
        failure: expect.objectContaining({ failureClass: 'permanent', code: 'EntryTooLarge' }),
      },
    ]);
    expect(plan.chunks.flat().map((c) => c.eventId)).toEqual(items.map((i) => i.eventId));
  });

  it('accepts an entry of exactly the limit on its own', () => {
    const base = many(1)[0] as ReturnType<typeof many>[number];
    const padding = PUT_EVENTS_MAX_REQUEST_BYTES - entrySize(base.entry);
    const exact = {
      ...base,
      entry: { ...base.entry, Detail: base.entry.Detail.replace('}', `,"p":"${'x'.repeat(padding - 7)}"}`) },
    };
    expect(entrySize(exact.entry)).toBe(PUT_EVENTS_MAX_REQUEST_BYTES);
    const plan = chunkEntries([exact, ...many(2)]);
    expect(plan.tooLarge).toEqual([]);
    expect(plan.chunks.map((c) => c.length)).toEqual([1, 2]);
  });
});
