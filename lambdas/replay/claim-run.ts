import type { ReplayClaim, ReplayCursor, ReplayJournal } from '../adapters/replay-journal.js';
import { ReplayInProgressError } from '../core/errors.js';
import type { ReplayCounts, ReplayRequest } from '../core/replay-request.js';

/**
 * How long a lease outlives its invocation's deadline. It covers clock differences between hosts, and
 * equals the extra time a DLQ run hides the messages it receives, so the run of a crashed invocation is
 * taken over about when the messages it was holding are visible again.
 */
export const LEASE_MARGIN_MS = 60_000;

/** The run an invocation works on, under its lease. */
export interface ClaimedRun {
  /** Whether it continues a run stopped earlier (by `limit`, the function's time, or a crash). */
  readonly resumed: boolean;
  /** When the run started; for a DLQ run also its cut-off. */
  readonly startedAt: string;
  readonly cursor?: ReplayCursor;
  /** Counts of the run's earlier invocations (zero for a new run). */
  readonly counts: ReplayCounts;
  readonly claim: ReplayClaim;
}

export interface Invocation {
  /** The Lambda request id: owns the lease, and is named to an invocation refused meanwhile. */
  readonly id: string;
  readonly now: () => number;
  readonly remainingMs: () => number;
}

const NO_COUNTS: ReplayCounts = { matched: 0, replayed: 0, skipped: 0, failed: 0 };

/**
 * Takes the lease of a selection's run for one invocation, before anything is read or moved: two
 * invocations of the same selection at once would otherwise both work (overlapping windows, DLQ
 * messages split between them) and both save, the last one's counts and cursor winning. A `running`
 * run is continued (counts, cursor and DLQ cut-off kept), anything else starts a new run.
 *
 * Throws ReplayInProgressError while another invocation holds a lease that has not lapsed.
 */
export async function claimRun(
  request: ReplayRequest,
  replayId: string,
  journal: ReplayJournal,
  invocation: Invocation,
): Promise<ClaimedRun> {
  // A claim fails only when another invocation wrote the item after this one read it. If that was a
  // claim, the next read finds its lease and refuses; if it was a save, that invocation is done: so
  // this loop ends as soon as no other invocation finishes a whole run between a read and a write.
  for (;;) {
    const stored = await journal.load(request.destinationId, replayId);
    const at = invocation.now();
    if (stored?.lease && stored.lease.until > at) {
      throw new ReplayInProgressError({
        replayId,
        destinationId: request.destinationId,
        requestedBy: stored.requestedBy,
        since: stored.updatedAt,
        retryAfter: new Date(stored.lease.until).toISOString(),
        invocationId: stored.lease.owner,
      });
    }
    const resumed = stored?.status === 'running';
    const run = {
      startedAt: resumed ? stored.startedAt : new Date(at).toISOString(),
      ...(resumed && stored.cursor ? { cursor: stored.cursor } : {}),
      counts: resumed ? stored.counts : NO_COUNTS,
    };
    const claim = await journal.claim(
      replayId,
      request,
      { status: 'running', ...run },
      { owner: invocation.id, until: at + invocation.remainingMs() + LEASE_MARGIN_MS },
      stored?.revision ?? 0,
      new Date(at),
    );
    if (claim) return { resumed, claim, ...run };
  }
}
