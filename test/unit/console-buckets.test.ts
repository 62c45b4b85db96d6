import { describe, expect, it } from 'vitest';
import { bucketDeadLetters, bucketWidth, selectedWindow } from '../../cli/console/web/buckets.js';

const T0 = Date.parse('2026-05-26T12:00:00.000Z');
const MIN = 60_000;

describe('replay picker buckets', () => {
  it('picks a width that draws at most 60 bars', () => {
    expect(bucketWidth(60 * MIN)).toBe(MIN);
    expect(bucketWidth(6 * 60 * MIN)).toBe(10 * MIN);
    expect(bucketWidth(24 * 60 * MIN)).toBe(30 * MIN);
    expect(bucketWidth(14 * 24 * 60 * MIN)).toBe(3 * 60 * MIN);
  });

  it('counts the events of each dead-letter record in its aligned bucket, leaving out what is outside the span', () => {
    const timeline = bucketDeadLetters(
      [
        { at: '2026-05-26T12:00:00.000Z', eventCount: 2 },
        { at: '2026-05-26T12:00:59.999Z', eventCount: 3 },
        { at: '2026-05-26T12:02:10.000Z', eventCount: 1 },
        { at: '2026-05-26T11:59:59.999Z', eventCount: 100 },
        { at: '2026-05-26T12:05:00.000Z', eventCount: 100 },
        { at: 'not a time', eventCount: 100 },
      ],
      T0 + 30_000,
      T0 + 5 * MIN,
      MIN,
    );
    expect(timeline.from).toBe(T0);
    expect(timeline.buckets.map((b) => b.count)).toEqual([5, 0, 1, 0, 0]);
    expect(timeline.buckets[2]?.start).toBe(T0 + 2 * MIN);
  });

  it('turns a selection of buckets into a replay window, open-ended when it reaches the last bucket', () => {
    const timeline = bucketDeadLetters(
      [
        { at: '2026-05-26T12:01:00.000Z', eventCount: 4 },
        { at: '2026-05-26T12:03:00.000Z', eventCount: 6 },
      ],
      T0,
      T0 + 5 * MIN,
      MIN,
    );
    expect(selectedWindow(timeline, 1, 2)).toEqual({
      from: '2026-05-26T12:01:00.000Z',
      to: '2026-05-26T12:03:00.000Z',
      count: 4,
    });
    // Either order; clamped to the timeline; the last bucket leaves `to` open.
    expect(selectedWindow(timeline, 9, 3)).toEqual({ from: '2026-05-26T12:03:00.000Z', count: 6 });
    expect(selectedWindow(timeline, 0, 4).count).toBe(10);
  });
});
