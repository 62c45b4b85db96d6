import { describe, expect, it } from 'vitest';
import {
  decideHealth,
  errorRate,
  HEALTH_RULES,
  HEALTH_THRESHOLDS,
  type HealthSignals,
} from '../../lambdas/core/health-rules.js';

/** The one health rules table (core/health-rules.ts): each status, each boundary, first match wins. */

const QUIET: HealthSignals = {
  paused: false,
  delivered: 0,
  failed: 0,
  replayed: 0,
  dlqDepth: 0,
  oldestAgeSeconds: null,
};
const status = (s: Partial<HealthSignals>) => decideHealth({ ...QUIET, ...s }).status;
/** `failed` of 1,000 attempted events for an error rate. */
const rate = (r: number) => ({ delivered: 1000 - Math.round(r * 1000), failed: Math.round(r * 1000) });

describe('health rules', () => {
  it('reads healthy with no traffic and nothing queued, and with every event delivered', () => {
    expect(status({})).toBe('healthy');
    expect(status({ delivered: 5000, oldestAgeSeconds: 3 })).toBe('healthy');
  });

  it('reads paused whatever else holds, and only when paused', () => {
    expect(status({ paused: true })).toBe('paused');
    expect(status({ paused: true, ...rate(1), dlqDepth: 9, oldestAgeSeconds: 99_999 })).toBe('paused');
  });

  it('reads failing from an error rate of exactly 50% up, degraded just below', () => {
    expect(HEALTH_THRESHOLDS.failingErrorRate).toBe(0.5);
    expect(status(rate(0.5))).toBe('failing');
    expect(status(rate(0.499))).toBe('degraded');
    expect(status(rate(1))).toBe('failing');
  });

  it('reads a 70% error rate as failing at any volume (never silent, never disabled)', () => {
    expect(status(rate(0.7))).toBe('failing');
    expect(status({ delivered: 3, failed: 7 })).toBe('failing');
    expect(status({ failed: 1 })).toBe('failing');
    expect(HEALTH_RULES.some((r) => r.status === 'paused' && r.applies({ ...QUIET, ...rate(1) }))).toBe(
      false,
    );
  });

  it('reads degraded from an error rate of exactly 5%, healthy just below', () => {
    expect(status(rate(0.05))).toBe('degraded');
    expect(status(rate(0.049))).toBe('healthy');
  });

  it('reads degraded while the DLQ holds a message, healthy when it is empty', () => {
    expect(status({ delivered: 10, dlqDepth: 1 })).toBe('degraded');
    expect(status({ delivered: 10, dlqDepth: 0 })).toBe('healthy');
  });

  it('reads the oldest queued message: over 5 min degraded, over 1 h failing, unknown as no signal', () => {
    const { degradedOldestAgeSeconds: behind, failingOldestAgeSeconds: stalled } = HEALTH_THRESHOLDS;
    expect(status({ oldestAgeSeconds: behind })).toBe('healthy');
    expect(status({ oldestAgeSeconds: behind + 1 })).toBe('degraded');
    expect(status({ oldestAgeSeconds: stalled })).toBe('degraded');
    expect(status({ oldestAgeSeconds: stalled + 1 })).toBe('failing');
    expect(status({ oldestAgeSeconds: null })).toBe('healthy');
  });

  it('lets the first matching rule decide, and always has a last rule that matches', () => {
    expect(decideHealth({ ...QUIET, ...rate(0.6), dlqDepth: 4 }).rule).toBe(1);
    expect(HEALTH_RULES.at(-1)?.applies(QUIET)).toBe(true);
    expect(HEALTH_RULES.at(-1)?.status).toBe('healthy');
  });

  it('computes the error rate over attempted events, null with none', () => {
    expect(errorRate({ delivered: 0, failed: 0, replayed: 0 })).toBeNull();
    expect(errorRate({ delivered: 3, failed: 1, replayed: 0 })).toBe(0.25);
  });

  it('counts a failure settled once its event is replayed, and a replay that fails again as a failure', () => {
    // Bucket deleted, 3 dead-lettered, fixed, replayed, delivered: healthy at once.
    expect(status({ delivered: 3, failed: 3, replayed: 3 })).toBe('healthy');
    // Replayed while still broken: the 3 replayed fail again.
    expect(status({ delivered: 0, failed: 6, replayed: 3 })).toBe('failing');
    // More replayed than failed in the window (failures before it): never below zero.
    expect(errorRate({ delivered: 5, failed: 1, replayed: 4 })).toBe(0);
  });
});
