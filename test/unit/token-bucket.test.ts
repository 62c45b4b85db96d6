import { describe, expect, it } from 'vitest';
import { createTokenBucket } from '../../lambdas/core/token-bucket.js';

describe('the token bucket that paces mapping changes', () => {
  it('lets a burst through, then one call per 1/rate seconds', async () => {
    let now = 0;
    const slept: number[] = [];
    const bucket = createTokenBucket({
      ratePerSecond: 10,
      burst: 3,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    const at: number[] = [];
    await Promise.all(Array.from({ length: 6 }, () => bucket.take().then(() => at.push(now))));
    expect(at).toEqual([0, 0, 0, 100, 200, 300]);
    // 60 calls at 10/s take about 6 s, whatever the callers' concurrency.
    for (let i = 0; i < 60; i += 1) await bucket.take();
    expect(now).toBeGreaterThanOrEqual(6_000);
    expect(now).toBeLessThanOrEqual(6_300);
    expect(slept.every((ms) => ms > 0)).toBe(true);
  });
});
