import { describe, expect, it } from 'vitest';
import type { DeliveryOutcome, QueuedEvent } from '../../lambdas/adapters/delivery-batch.js';
import { recordTrace } from '../../lambdas/adapters/trace-batch.js';
import type { EventAttemptInput } from '../../lambdas/adapters/trace-log.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import type { DeliveredEvent } from '../../lambdas/core/trace.js';

/** What a batch's outcomes and decisions become in the trace (adapters/trace-batch.ts). */

const queued = (eventId: string, receivedAt = '2026-12-01T10:00:01.000Z'): QueuedEvent => ({
  messageId: `m-${eventId}`,
  receiptHandle: 'h',
  body: '{}',
  record: { eventId, receivedAt } as unknown as EventRecord,
});

function fakeTrace() {
  const delivered: DeliveredEvent[] = [];
  const attempts: EventAttemptInput[] = [];
  return {
    delivered,
    attempts,
    log: {
      recordDelivered: async (_d: string, _t: string, events: readonly DeliveredEvent[]) => {
        delivered.push(...events);
        return { items: 0, writeUnits: 0 };
      },
      recordEventAttempts: async (_d: string, _t: string, a: readonly EventAttemptInput[]) => {
        attempts.push(...a);
        return { items: 0, writeUnits: 0 };
      },
    },
  };
}

describe('recordTrace', () => {
  it('delivered events become receipt members (once each); failures one item each with the decision', async () => {
    const trace = fakeTrace();
    const at = new Date('2026-12-01T10:00:05.000Z');
    const slowDown = { failureClass: 'transient' as const, code: 'SlowDown', message: 'slow down' };
    const noBucket = { failureClass: 'permanent' as const, code: 'NoSuchBucket', message: 'no bucket' };
    const outcomes = new Map<string, DeliveryOutcome>([
      ['evt_a', { ok: true, target: 's3://b/k', at, latencyMs: 40, call: 'k', sha256: 'ab' }],
      ['evt_b', { ok: false, failure: slowDown, target: 's3://b/k2', latencyMs: 900 }],
      ['evt_c', { ok: false, failure: noBucket }],
      ['evt_d', { ok: false, failure: noBucket }],
    ]);
    await recordTrace(trace.log, {
      destinationId: 'archive',
      destinationType: 'S3',
      queued: [queued('evt_a'), queued('evt_a'), queued('evt_b'), queued('evt_c'), queued('evt_d')],
      outcomes,
      retried: [{ eventId: 'evt_b', failure: slowDown, delaySeconds: 60 }],
      deadLettered: [{ eventId: 'evt_c', failure: noBucket }],
      notMoved: [{ eventId: 'evt_d', failure: noBucket }],
      at,
    });
    expect(trace.delivered).toEqual([
      {
        eventId: 'evt_a',
        receivedAt: '2026-12-01T10:00:01.000Z',
        call: 'k',
        at: at.toISOString(),
        latencyMs: 40,
        target: 's3://b/k',
        sha256: 'ab',
      },
    ]);
    expect(trace.attempts).toEqual([
      {
        eventId: 'evt_b',
        outcome: 'retry-scheduled',
        at,
        failureClass: 'transient',
        errorCode: 'SlowDown',
        reason: 'slow down',
        latencyMs: 900,
        target: 's3://b/k2',
        nextAttemptAt: new Date('2026-12-01T10:01:05.000Z'),
      },
      {
        eventId: 'evt_c',
        outcome: 'dead-lettered',
        at,
        failureClass: 'permanent',
        errorCode: 'NoSuchBucket',
        reason: 'no bucket',
      },
      {
        eventId: 'evt_d',
        outcome: 'failed',
        at,
        failureClass: 'permanent',
        errorCode: 'NoSuchBucket',
        reason: 'no bucket',
      },
    ]);
  });

  it('a malformed message (no eventId) leaves no trace item', async () => {
    const trace = fakeTrace();
    const failure = { failureClass: 'permanent' as const, code: 'MalformedMessage', message: 'bad' };
    await recordTrace(trace.log, {
      destinationId: 'archive',
      destinationType: 'S3',
      queued: [],
      outcomes: new Map(),
      retried: [],
      deadLettered: [{ eventId: undefined, failure }],
      notMoved: [],
      at: new Date(),
    });
    expect(trace.attempts).toEqual([]);
  });
});
