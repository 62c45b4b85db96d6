import { describe, expect, it } from 'vitest';
import { floorEventItemBytes, sqsFloor } from '../../bench/cost.js';
import { makeEvents, RECORD_BYTES, toRecord } from '../../bench/workload.js';

describe('the bench floor', () => {
  const bytes = Array.from({ length: 1000 }, () => 1050);

  it('sends one message per single-event POST: a SendMessageBatch cannot span two requests', () => {
    // 1,000 sends, then 100 receives and 100 deletes of ten.
    expect(
      sqsFloor(
        Array.from({ length: 1000 }, () => 1),
        bytes,
      ),
    ).toBe(1200);
  });

  it('sends ten messages per request within one batched POST', () => {
    expect(
      sqsFloor(
        Array.from({ length: 10 }, () => 100),
        bytes,
      ),
    ).toBe(300);
  });

  it('bills each started 64 KiB of a request as one more request', () => {
    // Ten 10 KiB messages are 100 KiB: two chunks per send and per receive.
    const large = Array.from({ length: 10 }, () => 10 * 1024);
    expect(sqsFloor([10], large)).toBe(2 + 2 + 1);
  });

  it("sizes the event item as the event store writes it: one write unit for the workload's 1 KB event", () => {
    const [event] = makeEvents(1, 'floor-test');
    expect(event).toBeDefined();
    const bytes = floorEventItemBytes(toRecord(event as NonNullable<typeof event>), [
      'bench-s3',
      'bench-eventbridge',
    ]);
    // Deflated, the record and its routing and claim are well under the record's own bytes.
    expect(bytes).toBeLessThan(RECORD_BYTES);
    expect(Math.ceil(bytes / 1024)).toBe(1);
  });
});
