import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LATENCY_BOUNDS_MS,
  LATENCY_BUCKETS,
  latencyBucket,
  percentile,
  rollupDelta,
  windowStats,
} from '../../lambdas/core/health-rollup.js';

/** Rollup math (core/health-rollup.ts): what an attempt adds, and p50/p95 from the histogram. */

const AT = new Date('2026-12-01T10:00:30.000Z');
const histogramOf = (latencies: number[]) => {
  const h = new Array<number>(LATENCY_BUCKETS).fill(0);
  for (const l of latencies) h[latencyBucket(l)] = (h[latencyBucket(l)] as number) + 1;
  return h;
};

describe('latency histogram', () => {
  it('puts a latency in the first bucket whose upper bound holds it, above the last in the open one', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(5)).toBe(0);
    expect(latencyBucket(6)).toBe(1);
    expect(latencyBucket(100)).toBe(4);
    expect(latencyBucket(101)).toBe(5);
    expect(latencyBucket(10 ** 7)).toBe(LATENCY_BOUNDS_MS.length);
  });

  it('answers p50 and p95 by interpolating inside the bucket of the rank', () => {
    // 100 calls: 50 in (50, 100], 45 in (100, 250], 5 in (1000, 2500].
    const h = histogramOf([...Array(50).fill(80), ...Array(45).fill(200), ...Array(5).fill(2000)]);
    expect(percentile(h, 0.5)).toBe(100); // rank 50: the top of (50, 100]
    expect(percentile(h, 0.95)).toBe(250); // rank 95: the top of (100, 250]
    expect(percentile(h, 0.96)).toBe(1300); // rank 96: 1 of 5 into (1000, 2500]
    expect(percentile(histogramOf([40]), 0.5)).toBe(50);
  });

  it('answers null for an empty histogram and the lower bound of the open bucket', () => {
    expect(percentile(new Array(LATENCY_BUCKETS).fill(0), 0.5)).toBeNull();
    expect(percentile(histogramOf([500_000]), 0.95)).toBe(LATENCY_BOUNDS_MS.at(-1));
  });

  it('never answers a percentile outside the bucket that holds the true one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom(0.5, 0.95),
        (latencies, q) => {
          const sorted = [...latencies].sort((a, b) => a - b);
          const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
          const b = latencyBucket(exact);
          const lower = b === 0 ? 0 : (LATENCY_BOUNDS_MS[b - 1] as number);
          const upper = LATENCY_BOUNDS_MS[b] ?? lower;
          const estimate = percentile(histogramOf(latencies), q) as number;
          expect(estimate).toBeGreaterThanOrEqual(lower);
          expect(estimate).toBeLessThanOrEqual(upper);
        },
      ),
    );
  });
});

describe('rollup of attempts', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `evt_${i}`);

  it('counts events by outcome and the call latency once per attempt', () => {
    expect(rollupDelta({ outcome: 'delivered', eventIds: ids(100), latencyMs: 42 }, AT)).toEqual({
      delivered: 100,
      failed: 0,
      deadLettered: 0,
      replayed: 0,
      latencyBucket: 3,
    });
    const failed = rollupDelta(
      { outcome: 'failed', eventIds: ids(3), latencyMs: 7, errorCode: 'NoSuchBucket', errorMessage: 'gone' },
      AT,
    );
    expect(failed).toMatchObject({ failed: 3, latencyBucket: 1 });
    expect(failed?.lastError).toEqual({ at: AT.toISOString(), errorCode: 'NoSuchBucket', reason: 'gone' });
    expect(
      rollupDelta({ outcome: 'dead-lettered', eventIds: ids(3), errorCode: 'NoSuchBucket' }, AT),
    ).toMatchObject({ deadLettered: 3, failed: 0 });
    expect(rollupDelta({ outcome: 'replayed', eventIds: ids(2) }, AT)).toMatchObject({ replayed: 2 });
  });

  it('leaves test sends and retry decisions out', () => {
    expect(rollupDelta({ outcome: 'delivered', eventIds: ids(1), test: true }, AT)).toBeUndefined();
    expect(rollupDelta({ outcome: 'retry-scheduled', eventIds: ids(1) }, AT)).toBeUndefined();
  });

  it('sums minutes into the window, merging histograms and keeping the latest error', () => {
    const latency = (bucket: number, count: number) => {
      const h = new Array<number>(LATENCY_BUCKETS).fill(0);
      h[bucket] = count;
      return h;
    };
    const stats = windowStats([
      { delivered: 90, failed: 0, latency: latency(3, 9) },
      {
        delivered: 6,
        failed: 4,
        deadLettered: 4,
        latency: latency(5, 1),
        lastError: { at: '2026-12-01T10:01:10.000Z', errorCode: 'SlowDown', reason: 'r1' },
      },
      { failed: 0, lastError: { at: '2026-12-01T10:00:10.000Z', errorCode: 'Old', reason: 'r0' } },
    ]);
    expect(stats).toMatchObject({ delivered: 96, failed: 4, deadLettered: 4, successRate: 0.96 });
    // 10 calls: 9 in (25, 50], 1 in (100, 250]: rank 5 is 5/9 into the first, rank 10 the top of the second.
    expect(stats.latencyMs).toEqual({ p50: 39, p95: 250 });
    expect(stats.lastError?.errorCode).toBe('SlowDown');
    expect(windowStats([])).toMatchObject({ successRate: null, latencyMs: { p50: null, p95: null } });
  });
});
