import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BACKOFF, decideRetry, type RetryDecision } from '../../lambdas/core/backoff.js';

const HOUR = 3600;
const T0 = new Date('2026-05-26T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
/** The largest number Math.random can return: full jitter then gives the ceiling itself. */
const ALMOST_ONE = 1 - 2 ** -53;

function delayOf(decision: RetryDecision): number {
  if (decision.action !== 'retry') throw new Error(`expected a retry, got ${JSON.stringify(decision)}`);
  return decision.delaySeconds;
}

/**
 * Runs the whole schedule on a fake clock: attempt, fail, wait the decided delay (plus the time the
 * attempt itself took), attempt again, until the message is dead-lettered.
 */
function simulate(random: () => number, attemptSeconds: () => number = () => 0) {
  const delays: number[] = [];
  let clock = 0;
  for (let attempt = 1; ; attempt += 1) {
    clock += attemptSeconds();
    const decision = decideRetry({ firstAttemptAt: T0, now: at(clock), attempt, random });
    if (decision.action === 'dead-letter')
      return { delays, deadLetteredAt: clock, attempts: attempt, decision };
    delays.push(decision.delaySeconds);
    clock += decision.delaySeconds;
    if (attempt > 200_000) throw new Error('the schedule never ends');
  }
}

describe('decideRetry', () => {
  it('grows the ceiling exponentially from 30 s: 30, 60, 120, … s, capped at 12 h', () => {
    const ceilings = Array.from({ length: 14 }, (_, i) =>
      delayOf(decideRetry({ firstAttemptAt: T0, now: T0, attempt: i + 1, random: () => ALMOST_ONE })),
    );
    expect(ceilings).toEqual([
      30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 42600, 42600, 42600,
    ]);
  });

  it('draws the delay uniformly between 0 and the ceiling (full jitter)', () => {
    for (const attempt of [1, 2, 5, 12, 40]) {
      const ceiling = Math.min(BACKOFF.maxDelaySeconds, 30 * 2 ** (attempt - 1));
      const zero = delayOf(decideRetry({ firstAttemptAt: T0, now: T0, attempt, random: () => 0 }));
      const top = delayOf(decideRetry({ firstAttemptAt: T0, now: T0, attempt, random: () => 0.999 }));
      const half = delayOf(decideRetry({ firstAttemptAt: T0, now: T0, attempt, random: () => 0.5 }));
      expect(zero).toBe(0);
      expect(top).toBeLessThanOrEqual(ceiling);
      expect(top).toBeGreaterThanOrEqual(Math.floor(0.999 * ceiling));
      expect(half).toBe(Math.floor(0.5 * (ceiling + 1)));
      expect(Number.isInteger(top)).toBe(true);
    }
  });

  it('never asks for more than SQS’s 12 h visibility timeout, even after thousands of receives', () => {
    for (const attempt of [13, 31, 64, 1_000, 1_000_000]) {
      const delay = delayOf(decideRetry({ firstAttemptAt: T0, now: T0, attempt, random: () => ALMOST_ONE }));
      expect(delay).toBe(BACKOFF.maxDelaySeconds);
      expect(delay).toBe(12 * HOUR - 10 * 60); // 10 min under SQS's 12 h, measured from receipt
    }
  });

  it('clips the last delay so the next attempt is no later than 24 h after the first', () => {
    const delay = delayOf(
      decideRetry({ firstAttemptAt: T0, now: at(23 * HOUR), attempt: 20, random: () => ALMOST_ONE }),
    );
    expect(delay).toBe(HOUR);
  });

  it('dead-letters the attempt at 24 h and after, and retries just before', () => {
    expect(
      decideRetry({ firstAttemptAt: T0, now: at(24 * HOUR - 1), attempt: 9, random: () => 0.5 }),
    ).toEqual({
      action: 'retry',
      delaySeconds: 1,
    });
    for (const seconds of [24 * HOUR, 24 * HOUR + 1, 72 * HOUR]) {
      const decision = decideRetry({ firstAttemptAt: T0, now: at(seconds), attempt: 9, random: () => 0.5 });
      expect(decision.action).toBe('dead-letter');
    }
    expect(decideRetry({ firstAttemptAt: T0, now: at(24 * HOUR), attempt: 9 })).toMatchObject({
      reason: expect.stringContaining('24 h'),
    });
  });
});

describe('the whole schedule on a fake clock', () => {
  it('with the longest delays: 12 retries that grow, each ≤ 12 h, 24 h in all, then the DLQ', () => {
    const run = simulate(() => ALMOST_ONE);
    expect(run.delays).toEqual([
      30,
      60,
      120,
      240,
      480,
      960,
      1920,
      3840,
      7680,
      15360,
      30720,
      86_400 - 61_410, // clipped to the horizon
    ]);
    for (let i = 1; i < run.delays.length - 1; i += 1) {
      expect(run.delays[i]).toBeGreaterThan(run.delays[i - 1] as number);
    }
    expect(run.delays.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(24 * HOUR);
    expect(run.deadLetteredAt).toBe(24 * HOUR);
    expect(run.attempts).toBe(13);
  });

  it('with random = 0.999 every delay is within 0.1 % of its ceiling', () => {
    const run = simulate(() => 0.999);
    run.delays.slice(0, -1).forEach((delay, i) => {
      const ceiling = Math.min(BACKOFF.maxDelaySeconds, 30 * 2 ** i);
      expect(delay).toBeLessThanOrEqual(ceiling);
      expect(delay).toBeGreaterThanOrEqual(Math.floor(0.999 * ceiling));
    });
    expect(run.deadLetteredAt).toBe(24 * HOUR);
  });

  it('with random = 0 every delay is 0 and the message still dead-letters at 24 h', () => {
    const run = simulate(
      () => 0,
      () => 60, // each attempt takes a minute
    );
    expect(new Set(run.delays)).toEqual(new Set([0]));
    expect(run.deadLetteredAt).toBe(24 * HOUR);
  });

  it('for any jitter and attempt durations: delays ≤ 12 h, retries end at 24 h, then the DLQ', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 50,
        }),
        fc.integer({ min: 30, max: 900 }), // an attempt takes 30 s to 15 min
        (randoms, attemptSeconds) => {
          let i = 0;
          const run = simulate(
            () => randoms[i++ % randoms.length] as number,
            () => attemptSeconds,
          );
          for (const delay of run.delays) {
            expect(delay).toBeGreaterThanOrEqual(0);
            expect(delay).toBeLessThanOrEqual(12 * HOUR);
          }
          const lastRetryAt = run.deadLetteredAt - attemptSeconds - (run.delays.at(-1) ?? 0);
          expect(lastRetryAt).toBeLessThan(24 * HOUR);
          expect(run.deadLetteredAt).toBeGreaterThanOrEqual(24 * HOUR);
          // The last delay is clipped to the horizon: no retry waits past 24 h after the first attempt.
          expect(run.deadLetteredAt - attemptSeconds).toBeLessThanOrEqual(24 * HOUR);
        },
      ),
      { numRuns: 100 },
    );
  });
});
