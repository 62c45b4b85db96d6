import { describe, expect, it } from 'vitest';
import { formatTrace, parseTraceArgs } from '../../cli/trace-command.js';
import {
  assembleTrace,
  attemptsInReceipt,
  buildReceipts,
  type DeliveredEvent,
  deliveryOf,
  type EventAttempt,
  MAX_RECEIPT_MEMBERS,
  MEMBER_HASH_BYTES,
  packUuids,
  receiptBucket,
  type TracedEvent,
  unpackUuids,
} from '../../lambdas/core/trace.js';

/** Trace assembly (lambdas/core/trace.ts): DESIGN.md invariant 12, every status from its records. */

const active = { type: 'S3', paused: false };
const paused = { type: 'S3', paused: true };
const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 10, minute)).toISOString();

const attempt = (minute: number, fields: Partial<EventAttempt>): EventAttempt => ({
  destinationId: 'archive',
  destinationType: 'S3',
  at: at(minute),
  outcome: 'failed',
  ...fields,
});

const event: TracedEvent = {
  eventId: 'evt_0000000000000000000000000a',
  customerExternalId: 'acct_1',
  eventType: 'order.created',
  occurredAt: '2026-12-01T09:59:00.000Z',
  receivedAt: '2026-12-01T10:00:00.123Z',
  idempotencyKey: 'k-1',
  correlationId: 'corr-1',
  destinations: ['archive', 'bus'],
};

describe('deliveryOf: one status per destination', () => {
  it('pending: routed, no attempt yet', () => {
    const d = deliveryOf('archive', active, []);
    expect(d).toEqual({ destinationId: 'archive', type: 'S3', status: 'pending', attempts: [] });
  });

  it('paused: the destination is paused and the event waits in its queue', () => {
    expect(deliveryOf('archive', paused, []).status).toBe('paused');
    // A paused destination's retry waits for the resume too.
    const retried = deliveryOf('archive', paused, [
      attempt(1, { outcome: 'retry-scheduled', errorCode: 'SlowDown', nextAttemptAt: at(2) }),
    ]);
    expect(retried.status).toBe('paused');
    expect(retried.attempts).toHaveLength(1);
  });

  it('retrying: with the reason of the latest failure and its next attempt time', () => {
    const d = deliveryOf('archive', active, [
      attempt(1, {
        outcome: 'retry-scheduled',
        errorCode: 'InternalError',
        reason: 'a',
        nextAttemptAt: at(2),
      }),
      attempt(3, {
        outcome: 'retry-scheduled',
        errorCode: 'SlowDown',
        reason: 'Please reduce your request rate',
        nextAttemptAt: at(5),
        latencyMs: 12,
        target: 's3://b/k',
      }),
    ]);
    expect(d).toMatchObject({
      status: 'retrying',
      nextAttemptAt: at(5),
      reason: 'SlowDown: Please reduce your request rate',
    });
    expect(d.attempts.map((a) => a.at)).toEqual([at(1), at(3)]);
    expect(d.attempts[1]).toEqual({
      at: at(3),
      outcome: 'retry-scheduled',
      latencyMs: 12,
      errorCode: 'SlowDown',
      reason: 'Please reduce your request rate',
      target: 's3://b/k',
    });
  });

  it('retrying without a known time: a failure whose DLQ move failed comes back after the visibility timeout', () => {
    const d = deliveryOf('archive', active, [attempt(1, { outcome: 'failed', errorCode: 'NoSuchBucket' })]);
    expect(d.status).toBe('retrying');
    expect(d.nextAttemptAt).toBeUndefined();
  });

  it('dead-lettered: with the reason, even if the destination is paused since', () => {
    const records = [
      attempt(1, {
        outcome: 'dead-lettered',
        errorCode: 'NoSuchBucket',
        reason: 'The bucket does not exist',
      }),
    ];
    for (const state of [active, paused]) {
      expect(deliveryOf('archive', state, records)).toMatchObject({
        status: 'dead-lettered',
        reason: 'NoSuchBucket: The bucket does not exist',
      });
    }
  });

  it('delivered: where and when, from the latest delivery, whatever failed before', () => {
    const d = deliveryOf('archive', active, [
      attempt(9, { outcome: 'delivered', target: 's3://b/part-2.ndjson', latencyMs: 30 }),
      attempt(1, { outcome: 'dead-lettered', errorCode: 'NoSuchBucket' }),
      attempt(5, { outcome: 'replayed', target: 'replay:dlq:r1' }),
    ]);
    expect(d).toMatchObject({ status: 'delivered', deliveredAt: at(9), target: 's3://b/part-2.ndjson' });
    expect(d.attempts.map((a) => a.outcome)).toEqual(['dead-lettered', 'replayed', 'delivered']);
  });

  it('a replay after a dead letter makes it pending again until delivered', () => {
    const d = deliveryOf('archive', active, [
      attempt(1, { outcome: 'dead-lettered', errorCode: 'NoSuchBucket' }),
      attempt(2, { outcome: 'replayed' }),
    ]);
    expect(d.status).toBe('pending');
  });

  it('a deleted destination never delivered to is dead-lettered, not unknown', () => {
    const d = deliveryOf('gone', undefined, [
      attempt(1, { destinationId: 'gone', outcome: 'retry-scheduled' }),
    ]);
    expect(d).toMatchObject({ status: 'dead-lettered', type: 'S3' });
    expect(d.reason).toMatch(/deleted/);
  });
});

describe('assembleTrace', () => {
  it('answers the event fields and one delivery per routed destination', () => {
    const trace = assembleTrace(
      event,
      new Map([
        ['archive', active],
        ['bus', { type: 'EVENTBRIDGE', paused: false }],
      ]),
      [
        attempt(1, { outcome: 'delivered', target: 's3://b/k' }),
        attempt(1, {
          destinationId: 'bus',
          destinationType: 'EVENTBRIDGE',
          outcome: 'retry-scheduled',
          nextAttemptAt: at(2),
        }),
      ],
    );
    expect(trace).toMatchObject({
      eventId: event.eventId,
      customerExternalId: 'acct_1',
      eventType: 'order.created',
      occurredAt: event.occurredAt,
      receivedAt: event.receivedAt,
      idempotencyKey: 'k-1',
      correlationId: 'corr-1',
    });
    expect(trace).not.toHaveProperty('payload');
    expect(trace.deliveries.map((d) => [d.destinationId, d.type, d.status])).toEqual([
      ['archive', 'S3', 'delivered'],
      ['bus', 'EVENTBRIDGE', 'retrying'],
    ]);
  });

  it('includes the payload only when the event carries it (?include=payload)', () => {
    const trace = assembleTrace({ ...event, payload: { a: 1 } }, new Map(), []);
    expect(trace.payload).toEqual({ a: 1 });
  });
});

describe('receipts', () => {
  const delivered = (i: number, fields: Partial<DeliveredEvent> = {}): DeliveredEvent => ({
    eventId: `evt_${String(i).padStart(26, '0')}`,
    receivedAt: '2026-12-01T10:00:01.000Z',
    call: 'part-1',
    at: at(3),
    latencyMs: 40,
    target: 's3://b/part-1.ndjson',
    ...fields,
  });

  it('buckets by receivedAt in 10 s steps', () => {
    expect(receiptBucket('2026-12-01T10:00:09.999Z')).toBe('2026-12-01T10:00:00.000Z');
    expect(receiptBucket('2026-12-01T10:00:10.000Z')).toBe('2026-12-01T10:00:10.000Z');
  });

  it('one receipt for a part whose members were received within one bucket, with a shared target', () => {
    const receipts = buildReceipts(
      'S3',
      Array.from({ length: 1000 }, (_, i) => delivered(i)),
    );
    expect(receipts).toHaveLength(1);
    const [r] = receipts;
    expect(r?.members.length).toBe(1000 * MEMBER_HASH_BYTES);
    expect(r?.targets).toBeUndefined();
    expect(r?.callOf).toBeUndefined();
    expect(attemptsInReceipt(r as never, 'archive', delivered(517).eventId)).toEqual([
      {
        destinationId: 'archive',
        destinationType: 'S3',
        at: at(3),
        outcome: 'delivered',
        latencyMs: 40,
        target: 's3://b/part-1.ndjson',
      },
    ]);
    expect(attemptsInReceipt(r as never, 'archive', 'evt_notamember0000000000000')).toEqual([]);
  });

  it('per-member targets and calls (EventBridge entry ids), split by bucket and size', () => {
    const events = Array.from({ length: 30 }, (_, i) =>
      delivered(i, {
        call: `PutEvents#${Math.floor(i / 10) + 1}`,
        at: at(Math.floor(i / 10)),
        target: `entry-${i}`,
        receivedAt: i < 25 ? '2026-12-01T10:00:01.000Z' : '2026-12-01T10:00:12.000Z',
      }),
    );
    const receipts = buildReceipts('EVENTBRIDGE', events);
    expect(receipts.map((r) => r.bucket)).toEqual(['2026-12-01T10:00:00.000Z', '2026-12-01T10:00:10.000Z']);
    const found = receipts.flatMap((r) => attemptsInReceipt(r, 'bus', events[17]?.eventId as string));
    expect(found).toEqual([expect.objectContaining({ outcome: 'delivered', target: 'entry-17', at: at(1) })]);
    const many = buildReceipts(
      'S3',
      Array.from({ length: MAX_RECEIPT_MEMBERS + 1 }, (_, i) => delivered(i)),
    );
    expect(many).toHaveLength(2);
  });

  it('a duplicate of an event in one batch is one member', () => {
    const [r] = buildReceipts('S3', [delivered(1), delivered(1)]);
    expect(r?.members.length).toBe(MEMBER_HASH_BYTES);
  });
});

describe('npx pushrail trace', () => {
  it('takes one eventId, --json and the target flags', () => {
    expect(parseTraceArgs(['evt_x', '--json', '--local'], () => false)).toMatchObject({
      eventId: 'evt_x',
      json: true,
      target: { kind: 'local' },
    });
    expect(() => parseTraceArgs([], () => false)).toThrow(/exactly one eventId/);
  });

  it('prints a short timeline per destination', () => {
    const trace = assembleTrace(event, new Map([['archive', active]]), [
      attempt(1, {
        outcome: 'dead-lettered',
        errorCode: 'NoSuchBucket',
        reason: 'The bucket does not exist',
      }),
    ]);
    const lines = formatTrace(trace);
    expect(lines.join('\n')).toContain(
      'archive (S3): dead-lettered: NoSuchBucket: The bucket does not exist',
    );
    expect(lines.join('\n')).toContain(`  ${at(1)}  dead-lettered  NoSuchBucket`);
    expect(lines.join('\n')).toContain('bus (UNKNOWN): dead-lettered');
  });
});

describe('packUuids', () => {
  it('packs EventBridge entry ids in 16 bytes each and back; anything else stays strings', () => {
    const ids = ['11710aed-b79e-4468-a20b-bb3c0c3b4860', '00000000-0000-4000-8000-00000000000f'];
    const packed = packUuids(ids);
    expect(packed?.length).toBe(32);
    expect(unpackUuids(packed as Uint8Array)).toEqual(ids);
    expect(packUuids(['https://example.com 200'])).toBeUndefined();
  });
});
