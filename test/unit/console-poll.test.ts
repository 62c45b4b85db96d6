import { afterEach, describe, expect, it, vi } from 'vitest';
import { poll } from '../../cli/console/web/poll.js';

/** The console's refresh loop (cli/console/web/poll.ts): one wait pending at most, none after stop. */

afterEach(() => vi.useRealTimers());

describe('poll', () => {
  it('keeps one loop when asked to run again while a run is in flight, and stops for good', async () => {
    vi.useFakeTimers();
    const releases: (() => void)[] = [];
    let runs = 0;
    const p = poll(
      () =>
        new Promise<void>((resolve) => {
          runs += 1;
          releases.push(resolve);
        }),
      1000,
    );
    p.now();
    // A filter changes while the first request is still out: a second run starts at once.
    p.now();
    expect(runs).toBe(2);
    for (const release of releases.splice(0)) release();
    await vi.advanceTimersByTimeAsync(0);
    // Both runs ended, but only one wait is pending: one run a second, not two.
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toBe(3);
    for (const release of releases.splice(0)) release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toBe(4);

    p.stop();
    for (const release of releases.splice(0)) release();
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toBe(4);
  });
});
