import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { EventRecordSchema } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { MiB } from '../../lambdas/core/limits.js';
import {
  ndjsonLine,
  normalizeKeyPrefix,
  objectKey,
  type PlannedPart,
  partitionOf,
  planParts,
} from '../../lambdas/destinations/s3/parts.js';

const LIMITS = { maxEvents: 1000, maxBytes: 1 * MiB };

function record(n: number, patch: Partial<EventRecord> = {}): EventRecord {
  return {
    eventType: 'order.completed',
    occurredAt: '2026-05-26T14:21:08.493Z',
    source: 'billing-service',
    customerExternalId: 'acct_8K2zRq',
    idempotencyKey: `key-${n}`,
    payload: { n },
    eventId: deriveEventId('acct_8K2zRq', `key-${n}`),
    receivedAt: '2026-05-26T14:21:09.000Z',
    ...patch,
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const lines = (part: PlannedPart) => part.body.toString('utf8').split('\n').slice(0, -1);

describe('partition and key derivation', () => {
  it.each([
    ['2026-05-26T23:30:00-02:00', '2026-05-27', '01'],
    ['2026-05-27T05:30:00+05:30', '2026-05-27', '00'],
    ['2026-05-26T23:59:59.999Z', '2026-05-26', '23'],
    ['2026-05-27T00:00:00.000Z', '2026-05-27', '00'],
    ['2026-05-27T00:59:59.999Z', '2026-05-27', '00'],
    ['2026-05-27T01:00:00Z', '2026-05-27', '01'],
    ['2026-05-27T01:59:59.999+01:00', '2026-05-27', '00'],
    ['2026-05-27T02:00:00+01:00', '2026-05-27', '01'],
    ['2026-12-31T23:00:00-01:00', '2027-01-01', '00'],
    ['2028-02-28T23:30:00-01:00', '2028-02-29', '00'],
    ['2026-05-27T00:30:00+14:00', '2026-05-26', '10'],
  ])('puts an event that occurred at %s in dt=%s/hour=%s (UTC)', (occurredAt, dt, hour) => {
    expect(partitionOf({ eventType: 'order.completed', occurredAt })).toEqual({
      eventType: 'order.completed',
      dt,
      hour,
    });
  });

  it('builds <keyPrefix>event_type=…/dt=…/hour=…/part-<sha256>.ndjson', () => {
    const p = partitionOf({ eventType: 'invoice.sent', occurredAt: '2026-05-26T23:30:00-02:00' });
    expect(objectKey('raw/pushrail/', p, 'ab'.repeat(32))).toBe(
      `raw/pushrail/event_type=invoice.sent/dt=2026-05-27/hour=01/part-${'ab'.repeat(32)}.ndjson`,
    );
  });

  it('gives the same keys for a prefix with and without its trailing slash', () => {
    const records = [1, 2, 3].map((n) => record(n));
    const withSlash = planParts('raw/pushrail/', records, LIMITS).map((p) => p.key);
    const without = planParts('raw/pushrail', records, LIMITS).map((p) => p.key);
    expect(without).toEqual(withSlash);
    expect(withSlash[0]).toMatch(
      /^raw\/pushrail\/event_type=order\.completed\/dt=2026-05-26\/hour=14\/part-[0-9a-f]{64}\.ndjson$/,
    );
    expect(normalizeKeyPrefix('raw/pushrail')).toBe('raw/pushrail/');
    expect(normalizeKeyPrefix('raw/pushrail/')).toBe('raw/pushrail/');
  });

  it('puts objects at the bucket root when the prefix is empty', () => {
    const [part] = planParts('', [record(1)], LIMITS);
    expect(part?.key).toMatch(
      /^event_type=order\.completed\/dt=2026-05-26\/hour=14\/part-[0-9a-f]{64}\.ndjson$/,
    );
    expect(normalizeKeyPrefix('')).toBe('');
  });

  it('names every object by the SHA-256 of its bytes', () => {
    const records = Array.from({ length: 50 }, (_, n) =>
      record(n, { occurredAt: `2026-05-26T1${n % 3}:00:0${n % 10}Z`, eventType: n % 2 ? 'a.b' : 'c-d' }),
    );
    const parts = planParts('raw/', records, LIMITS);
    expect(parts).toHaveLength(6);
    for (const part of parts) {
      expect(part.sha256Hex).toBe(sha256(part.body));
      expect(part.key).toBe(objectKey('raw/', part.partition, sha256(part.body)));
      for (const line of lines(part)) {
        expect(partitionOf(JSON.parse(line) as EventRecord)).toEqual(part.partition);
      }
    }
  });
});

describe('canonical lines', () => {
  it('writes the event plus eventId and receivedAt as RFC 8785 JSON, one line each', () => {
    const r = record(1, {
      correlationId: 'req_4f30b2',
      payload: { b: 1, a: [3, 2, 1], é: 'é', A: { z: true, y: null }, '10': 'x', '2': 'y' },
      metadata: { tier: 'pro' },
    });
    expect(ndjsonLine(r)).toBe(
      '{"correlationId":"req_4f30b2","customerExternalId":"acct_8K2zRq",' +
        `"eventId":"${r.eventId}","eventType":"order.completed","idempotencyKey":"key-1",` +
        '"metadata":{"tier":"pro"},"occurredAt":"2026-05-26T14:21:08.493Z",' +
        '"payload":{"10":"x","2":"y","A":{"y":null,"z":true},"a":[3,2,1],"b":1,"é":"é"},' +
        '"receivedAt":"2026-05-26T14:21:09.000Z","source":"billing-service"}\n',
    );
  });

  it('formats numbers and escapes strings as RFC 8785 says', () => {
    const r = record(1, {
      payload: { big: 1e21, small: 1e-7, float: 0.1 + 0.2, negZero: -0, whole: 100.0, exp: 1.5e300 },
      metadata: { s: 'tab\tquote"back\\ctl\u000f\u2028€' },
    });
    const line = ndjsonLine(r);
    expect(line).toContain(
      '"payload":{"big":1e+21,"exp":1.5e+300,"float":0.30000000000000004,"negZero":0,"small":1e-7,"whole":100}',
    );
    expect(line).toContain('"metadata":{"s":"tab\\tquote\\"back\\\\ctl\\u000f\u2028€"}');
  });

  it('ends every line with \\n, has no other newline, and round-trips to the record', () => {
    const r = record(7, { payload: { text: 'line one\nline two' } });
    const line = ndjsonLine(r);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(r);
    expect(canonicalJson(JSON.parse(line))).toBe(line.slice(0, -1));
    expect(EventRecordSchema.parse(JSON.parse(line))).toEqual(r);
  });

  it('orders lines by occurredAt instant, then eventId, whatever the offset they were written with', () => {
    const late = record(1, { occurredAt: '2026-05-26T14:30:00+00:00' });
    const early = record(2, { occurredAt: '2026-05-26T16:10:00+02:00' }); // 14:10Z
    const [part] = planParts('', [late, early], LIMITS);
    expect(lines(part as PlannedPart).map((l) => JSON.parse(l).eventId)).toEqual([
      early.eventId,
      late.eventId,
    ]);
    expect(part?.firstOccurredAt).toBe('2026-05-26T14:10:00.000Z');
    expect(part?.lastOccurredAt).toBe('2026-05-26T14:30:00.000Z');
  });
});

describe('splitting', () => {
  it('keeps exactly 1,000 events in one part', () => {
    const parts = planParts(
      '',
      Array.from({ length: 1000 }, (_, n) => record(n)),
      LIMITS,
    );
    expect(parts).toHaveLength(1);
    expect(lines(parts[0] as PlannedPart)).toHaveLength(1000);
  });

  it('cuts 1,001 events into 1,000 + 1', () => {
    const parts = planParts(
      '',
      Array.from({ length: 1001 }, (_, n) => record(n)),
      LIMITS,
    );
    expect(parts.map((p) => p.records.length)).toEqual([1000, 1]);
    expect(new Set(parts.map((p) => p.key)).size).toBe(2);
  });

  /** Eight records whose lines add up to exactly `total` bytes. */
  function recordsTotalling(total: number): EventRecord[] {
    const each = Math.floor(total / 8);
    return Array.from({ length: 8 }, (_, n) => {
      const shape = { occurredAt: `2026-05-26T14:00:0${n}Z` };
      const base = Buffer.byteLength(ndjsonLine(record(n, { ...shape, payload: { pad: '' } })));
      const size = each + (n === 7 ? total - each * 8 : 0);
      return record(n, { ...shape, payload: { pad: 'x'.repeat(size - base) } });
    });
  }

  it('fills a part up to exactly batchSizeMb (1 MiB = 1,048,576 bytes)', () => {
    const records = recordsTotalling(MiB);
    const parts = planParts('', records, LIMITS);
    expect(parts).toHaveLength(1);
    expect(parts[0]?.body.length).toBe(1_048_576);
  });

  it('splits a part that would be one byte over batchSizeMb', () => {
    const records = recordsTotalling(MiB + 1);
    const parts = planParts('', records, LIMITS);
    expect(parts).toHaveLength(2);
    for (const part of parts) expect(part.body.length).toBeLessThanOrEqual(MiB);
    expect(parts.flatMap((p) => p.records.map((r) => r.eventId))).toEqual(records.map((r) => r.eventId));
  });

  it('honours fractional batchSizeMb and small maxEvents together', () => {
    const records = Array.from({ length: 40 }, (_, n) => record(n, { payload: { pad: 'y'.repeat(20_000) } }));
    const limits = { maxEvents: 7, maxBytes: Math.floor(0.5 * MiB) };
    const parts = planParts('', records, limits);
    for (const part of parts) {
      expect(part.records.length).toBeLessThanOrEqual(7);
      expect(part.body.length).toBeLessThanOrEqual(0.5 * MiB);
    }
    expect(parts.reduce((n, p) => n + p.records.length, 0)).toBe(40);
  });
});

describe('determinism', () => {
  const eventTypes = ['order.completed', 'invoice.sent', 'user-signed_up'];
  interface Generated {
    readonly n: number;
    readonly type: string;
    readonly minute: number;
    readonly offset: string;
    readonly payload: Record<string, unknown>;
  }
  const OFFSET_MINUTES: Record<string, number> = {
    Z: 0,
    '+00:00': 0,
    '-02:00': -120,
    '+05:30': 330,
    '+14:00': 840,
  };
  const recordArb: fc.Arbitrary<Generated> = fc.record({
    n: fc.integer({ min: 0, max: 1_000_000 }),
    type: fc.constantFrom(...eventTypes),
    // Three hours around midnight, written with one of several offsets.
    minute: fc.integer({ min: 0, max: 179 }),
    offset: fc.constantFrom(...Object.keys(OFFSET_MINUTES)),
    payload: fc.dictionary(
      fc.string(),
      fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()),
    ),
  });
  const toRecord = (g: Generated): EventRecord => {
    const utc = Date.UTC(2026, 4, 26, 23, 0) + g.minute * 60_000;
    const local = new Date(utc + (OFFSET_MINUTES[g.offset] ?? 0) * 60_000).toISOString().slice(0, 19);
    return record(g.n, { eventType: g.type, occurredAt: `${local}${g.offset}`, payload: g.payload });
  };
  const setArb = fc
    .uniqueArray(recordArb, { selector: (r) => r.n, maxLength: 60 })
    .map((rs) => rs.map(toRecord));

  it('gives identical bytes and keys for the same set in any order, with duplicates collapsed', () => {
    fc.assert(
      fc.property(
        setArb.chain((records) =>
          fc.tuple(
            fc.constant(records),
            fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }),
            fc.subarray(records),
          ),
        ),
        fc.integer({ min: 1, max: 25 }),
        ([records, shuffled, dupes], maxEvents) => {
          const limits = { maxEvents, maxBytes: MiB };
          const a = planParts('raw/pushrail', records, limits);
          const b = planParts('raw/pushrail/', [...dupes, ...shuffled, ...dupes], limits);
          expect(b.map((p) => p.key)).toEqual(a.map((p) => p.key));
          expect(b.map((p) => p.body.toString('hex'))).toEqual(a.map((p) => p.body.toString('hex')));
          // Every record exactly once, in its own partition, within the limits.
          const ids = a.flatMap((p) => p.records.map((r) => r.eventId));
          expect(ids.sort()).toEqual(records.map((r) => r.eventId).sort());
          for (const part of a) {
            expect(part.records.length).toBeLessThanOrEqual(maxEvents);
            expect(part.key.endsWith(`part-${sha256(part.body)}.ndjson`)).toBe(true);
            for (const r of part.records) expect(partitionOf(r)).toEqual(part.partition);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('collapses duplicates of one eventId into one line', () => {
    const r = record(1);
    const parts = planParts('', [r, r, { ...r }], LIMITS);
    expect(parts).toHaveLength(1);
    expect(lines(parts[0] as PlannedPart)).toEqual([ndjsonLine(r).slice(0, -1)]);
  });
});
