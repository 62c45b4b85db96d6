/**
 * The replay picker's timeline (pure, shared by the page and its unit test): dead-letters per time
 * bucket for one destination, and the replay window a selection of buckets stands for.
 *
 * Where the times come from: the deliveries feed's `dead-lettered` attempt records of the destination
 * (`GET /v1/deliveries?destinationId=&outcome=dead-lettered&from=&to=`), one record per DLQ move of a
 * batch, with its time and its number of events. The DLQ itself has no cheap per-message time to read
 * without receiving every message; the replay's dry run, which does read the DLQ, gives the exact count
 * of what a window selects before anything is replayed.
 */

export interface DeadLetterRecord {
  /** ISO-8601 time the events were moved to the DLQ. */
  readonly at: string;
  /** Events the record moved. */
  readonly eventCount: number;
}

export interface Bucket {
  /** Start of the bucket, epoch ms. */
  readonly start: number;
  /** Dead-lettered events in [start, start + bucketMs). */
  readonly count: number;
}

export interface Timeline {
  readonly from: number;
  readonly bucketMs: number;
  readonly buckets: readonly Bucket[];
}

/** Bucket widths the picker uses, smallest first: about 60 bars for any span. */
const WIDTHS_MS = [60_000, 5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000, 60 * 60_000, 3 * 60 * 60_000];

/** The bucket width for a span: the smallest that draws at most `maxBars` bars. */
export function bucketWidth(spanMs: number, maxBars = 60): number {
  return WIDTHS_MS.find((w) => spanMs / w <= maxBars) ?? (WIDTHS_MS.at(-1) as number);
}

/**
 * Counts dead-lettered events per bucket over [from, to): buckets aligned to the width (so the same
 * minute is the same bar on every refresh), records outside the span left out.
 */
export function bucketDeadLetters(
  records: readonly DeadLetterRecord[],
  from: number,
  to: number,
  bucketMs: number = bucketWidth(to - from),
): Timeline {
  const first = Math.floor(from / bucketMs) * bucketMs;
  const n = Math.max(1, Math.ceil((to - first) / bucketMs));
  const counts = new Array<number>(n).fill(0);
  for (const record of records) {
    const at = Date.parse(record.at);
    if (Number.isNaN(at) || at < first || at >= to) continue;
    const i = Math.floor((at - first) / bucketMs);
    counts[i] = (counts[i] ?? 0) + Math.max(0, record.eventCount);
  }
  return {
    from: first,
    bucketMs,
    buckets: counts.map((count, i) => ({ start: first + i * bucketMs, count })),
  };
}

export interface ReplayWindow {
  /** ISO-8601, inclusive. */
  readonly from: string;
  /** ISO-8601, exclusive; absent when the selection reaches the last bucket (up to now). */
  readonly to?: string;
  /** Dead-lettered events in the selected buckets, as the timeline counts them. */
  readonly count: number;
}

/**
 * The replay window of buckets `first..last` (inclusive, in either order). The last bucket of the
 * timeline leaves `to` open, so what was dead-lettered since the page loaded is included too.
 */
export function selectedWindow(timeline: Timeline, first: number, last: number): ReplayWindow {
  const n = timeline.buckets.length;
  const lo = Math.max(0, Math.min(first, last, n - 1));
  const hi = Math.min(n - 1, Math.max(first, last, 0));
  const selected = timeline.buckets.slice(lo, hi + 1);
  const count = selected.reduce((sum, b) => sum + b.count, 0);
  const from = new Date((timeline.buckets[lo] as Bucket).start).toISOString();
  if (hi === n - 1) return { from, count };
  return {
    from,
    to: new Date((timeline.buckets[hi] as Bucket).start + timeline.bucketMs).toISOString(),
    count,
  };
}
