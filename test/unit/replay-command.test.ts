import { describe, expect, it } from 'vitest';
import { addResults, newerDeadLettersNote, resumedNote } from '../../cli/replay-command.js';
import type { ReplayRequest, ReplayResult } from '../../lambdas/core/replay-request.js';

const dlq: ReplayRequest = { destinationId: 'dest', source: 'dlq' };
const STARTED = '2026-05-20T09:00:00.000Z';

const result = (fields: Partial<ReplayResult> = {}): ReplayResult => ({
  replayId: 'rpl_1',
  dryRun: false,
  complete: true,
  resumed: false,
  startedAt: STARTED,
  matched: 0,
  replayed: 0,
  skipped: 0,
  failed: 0,
  ...fields,
});

describe('the replay command', () => {
  it('says a DLQ run is a continuation, with its start: dead letters newer than that wait for the next run', () => {
    expect(resumedNote(result({ resumed: true }), dlq)).toBe(
      `continuing the run started at ${STARTED}: messages dead-lettered after that are left for the next run`,
    );
    expect(
      resumedNote(result({ resumed: true }), {
        destinationId: 'dest',
        source: 'events',
        from: '2026-05-20T00:00:00Z',
        to: '2026-05-21T00:00:00Z',
      }),
    ).toBe(`continuing the run started at ${STARTED}`);
    expect(resumedNote(result(), dlq)).toBeUndefined();
  });

  it('tells to run the same command again when a finished DLQ run left newer dead letters', () => {
    expect(newerDeadLettersNote(result({ newerThanRun: 3 }))).toBe(
      `3 matching message(s) were dead-lettered after this run started (${STARTED}) and are still in the DLQ: run the same command again to replay them`,
    );
    expect(newerDeadLettersNote(result({ newerThanRun: 0 }))).toBeUndefined();
    expect(newerDeadLettersNote(result())).toBeUndefined();
    // Stopped early, or a dry run: running again would not be about the newer ones.
    expect(newerDeadLettersNote(result({ newerThanRun: 3, complete: false }))).toBeUndefined();
    expect(newerDeadLettersNote(result({ newerThanRun: 3, dryRun: true }))).toBeUndefined();
  });

  it('sums the counts of successive invocations, keeping the first one’s resumed and the last one’s newer dead letters', () => {
    const first = result({ resumed: true, complete: false, matched: 10, replayed: 10, newerThanRun: 2 });
    const second = result({ resumed: true, matched: 5, replayed: 4, failed: 1, skipped: 2, newerThanRun: 2 });
    expect(addResults(first, second)).toEqual(
      result({ resumed: true, matched: 15, replayed: 14, skipped: 2, failed: 1, newerThanRun: 2 }),
    );
    expect(addResults(result(), result({ resumed: true, matched: 1 }))).toMatchObject({
      resumed: false,
      matched: 1,
    });
  });
});
