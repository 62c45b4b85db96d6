/**
 * Per-destination, per-minute health rollups (pure): what one attempt adds to its minute, and the
 * window's numbers from the minutes. The adapter (adapters/health-rollups.ts) writes one UpdateItem
 * per attempt record, ADDing these counters, so `GET /v1/health` reads 15 small items per destination
 * instead of the window's attempt records.
 */

/**
 * Upper bounds (ms, inclusive) of the latency histogram's buckets; the last bucket is open. Coarse on
 * purpose: p50/p95 answer "how slow", to within a bucket, for a fixed 15 attributes per minute item.
 */
export const LATENCY_BOUNDS_MS = [
  5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000,
] as const;
/** One count per bound plus the open bucket above the last. */
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** The histogram bucket of a latency. */
export function latencyBucket(latencyMs: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => latencyMs <= bound);
  return i < 0 ? LATENCY_BOUNDS_MS.length : i;
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram, interpolated linearly inside the bucket that holds the
 * rank; the open last bucket answers its lower bound (a floor: "at least 120 s"). Null when empty.
 */
export function percentile(histogram: readonly number[], q: number): number | null {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const count = histogram[i] ?? 0;
    if (count === 0) continue;
    if (seen + count >= rank) {
      const lower = i === 0 ? 0 : (LATENCY_BOUNDS_MS[i - 1] as number);
      const upper = LATENCY_BOUNDS_MS[i];
      if (upper === undefined) return lower;
      return Math.round(lower + ((upper - lower) * (rank - seen)) / count);
    }
    seen += count;
  }
  return null;
}

/** What the attempt records' outcomes add to a minute (adapters/attempt-log.ts AttemptOutcome). */
export interface RollupDelta {
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  readonly replayed: number;
  /** The histogram bucket of the call's latency, when the attempt was a call with a latency. */
  readonly latencyBucket?: number;
  readonly lastError?: { readonly at: string; readonly errorCode: string; readonly reason: string };
}

/** The fields of an attempt record the rollup reads (a structural subset of AttemptRecord). */
export interface RollupAttempt {
  readonly outcome: 'delivered' | 'failed' | 'dead-lettered' | 'retry-scheduled' | 'replayed';
  readonly eventIds: readonly string[];
  readonly latencyMs?: number;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly test?: boolean;
}

/**
 * What several attempts add to one minute: the sum of their deltas (adapters/attempt-log.ts merges a
 * delivery batch's attempts into one write per destination and minute).
 */
export interface MinuteDelta {
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  readonly replayed: number;
  /** Count per latency histogram bucket (index = bucket). */
  readonly latency: readonly number[];
  /** The latest of the attempts' errors. */
  readonly lastError?: RollupDelta['lastError'];
}

/** `total` plus one attempt's delta (either may be absent). */
export function addDelta(total: MinuteDelta | undefined, delta: RollupDelta): MinuteDelta {
  const latency = [...(total?.latency ?? [])];
  if (delta.latencyBucket !== undefined)
    latency[delta.latencyBucket] = (latency[delta.latencyBucket] ?? 0) + 1;
  const lastError =
    delta.lastError && (!total?.lastError || delta.lastError.at >= total.lastError.at)
      ? delta.lastError
      : total?.lastError;
  return {
    delivered: (total?.delivered ?? 0) + delta.delivered,
    failed: (total?.failed ?? 0) + delta.failed,
    deadLettered: (total?.deadLettered ?? 0) + delta.deadLettered,
    replayed: (total?.replayed ?? 0) + delta.replayed,
    latency,
    ...(lastError ? { lastError } : {}),
  };
}

/** Reasons kept in a rollup: enough to tell the error, short enough for a small item. */
export const ROLLUP_REASON_CHARS = 300;

/**
 * What one attempt adds to its minute; undefined when it adds nothing (a test send's attempt, which is
 * not traffic; a retry decision, whose failure is already counted by its failed attempt).
 */
export function rollupDelta(attempt: RollupAttempt, at: Date): RollupDelta | undefined {
  if (attempt.test) return undefined;
  const events = attempt.eventIds.length;
  const zero = { delivered: 0, failed: 0, deadLettered: 0, replayed: 0 };
  const latency =
    attempt.latencyMs !== undefined && attempt.outcome !== 'dead-lettered' && attempt.outcome !== 'replayed'
      ? { latencyBucket: latencyBucket(attempt.latencyMs) }
      : {};
  const lastError =
    attempt.errorCode !== undefined
      ? {
          lastError: {
            at: at.toISOString(),
            errorCode: attempt.errorCode,
            reason: (attempt.errorMessage ?? '').slice(0, ROLLUP_REASON_CHARS),
          },
        }
      : {};
  switch (attempt.outcome) {
    case 'delivered':
      return { ...zero, delivered: events, ...latency };
    case 'failed':
      return { ...zero, failed: events, ...latency, ...lastError };
    case 'dead-lettered':
      return { ...zero, deadLettered: events, ...lastError };
    case 'replayed':
      return { ...zero, replayed: events };
    case 'retry-scheduled':
      return undefined;
  }
}

/** A minute item as read back (the adapter's shape, without keys). */
export interface MinuteRollup {
  readonly delivered?: number;
  readonly failed?: number;
  readonly deadLettered?: number;
  readonly replayed?: number;
  /** Histogram counts by bucket index. */
  readonly latency?: readonly number[];
  readonly lastError?: { readonly at: string; readonly errorCode: string; readonly reason: string };
}

export interface WindowStats {
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  readonly replayed: number;
  /**
   * delivered ÷ (delivered + failures not settled by a replay), 4 decimals, as the health rules count
   * it (core/health-rules.ts errorRate); null when nothing was attempted.
   */
  readonly successRate: number | null;
  readonly latencyMs: { readonly p50: number | null; readonly p95: number | null };
  readonly lastError?: { readonly at: string; readonly errorCode: string; readonly reason: string };
}

/** The window's numbers: the minutes' counters summed, their histograms merged, the latest error. */
export function windowStats(minutes: readonly MinuteRollup[]): WindowStats {
  let delivered = 0;
  let failed = 0;
  let deadLettered = 0;
  let replayed = 0;
  const histogram = new Array<number>(LATENCY_BUCKETS).fill(0);
  let lastError: MinuteRollup['lastError'];
  for (const m of minutes) {
    delivered += m.delivered ?? 0;
    failed += m.failed ?? 0;
    deadLettered += m.deadLettered ?? 0;
    replayed += m.replayed ?? 0;
    (m.latency ?? []).forEach((count, i) => {
      if (i < LATENCY_BUCKETS) histogram[i] = (histogram[i] as number) + count;
    });
    if (m.lastError && (!lastError || m.lastError.at > lastError.at)) lastError = m.lastError;
  }
  const unsettled = Math.max(0, failed - replayed);
  const attempted = delivered + unsettled;
  return {
    delivered,
    failed,
    deadLettered,
    replayed,
    successRate: attempted === 0 ? null : Math.round((delivered / attempted) * 10_000) / 10_000,
    latencyMs: { p50: percentile(histogram, 0.5), p95: percentile(histogram, 0.95) },
    ...(lastError ? { lastError } : {}),
  };
}

/** A minute's sort key part: `YYYY-MM-DDTHH:MM` in UTC. */
export function minuteOf(at: Date): string {
  return at.toISOString().slice(0, 16);
}
