import { z } from 'zod';
import { canonicalJson, sha256Hex } from './canonical.js';

/** Event ids one request may name; more belong in a window or in several requests. */
export const MAX_REPLAY_EVENT_IDS = 1000;

const instant = (field: string) =>
  z.iso.datetime({ offset: true, error: `${field} must be an ISO-8601 date-time with an offset or Z` });

/**
 * A replay request (DESIGN.md "Replay"): what to re-deliver to one destination.
 * - `source: "dlq"` moves the destination's dead-lettered messages back to its queue: all of them, those
 *   whose `on` time (`receivedAt` by default, or `occurredAt`) is in [from, to), or those of `eventIds`.
 * - `source: "events"` re-sends stored events that were routed to the destination: those received in
 *   [from, to), or those of `eventIds`.
 */
export const ReplayRequestSchema = z
  .strictObject({
    destinationId: z.string({ error: 'destinationId is required' }).min(1, 'destinationId is required'),
    source: z.enum(['dlq', 'events'], { error: 'source must be "dlq" or "events"' }),
    from: instant('from').optional(),
    to: instant('to').optional(),
    on: z.enum(['receivedAt', 'occurredAt'], { error: 'on must be "receivedAt" or "occurredAt"' }).optional(),
    eventIds: z
      .array(z.string().regex(/^evt_[0-9a-z]{26}$/, 'each eventId must be a Pushrail event id (evt_…)'))
      .min(1, 'eventIds must not be empty')
      .max(MAX_REPLAY_EVENT_IDS, `eventIds must list at most ${MAX_REPLAY_EVENT_IDS} ids`)
      .optional(),
    limit: z
      .number()
      .int()
      .min(1, 'limit must be between 1 and 1000000')
      .max(1_000_000, 'limit must be between 1 and 1000000')
      .optional(),
    dryRun: z.boolean().optional(),
    /** Who asked, for the audit trail (the CLI sends the caller's identity). */
    requestedBy: z.string().max(512).optional(),
  })
  .superRefine((r, ctx) => {
    const window = r.from !== undefined || r.to !== undefined;
    if (window && r.eventIds)
      ctx.addIssue({
        code: 'custom',
        path: ['eventIds'],
        message: 'give either a from/to window or eventIds, not both',
      });
    if (r.source === 'events' && !window && !r.eventIds) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: 'source "events" needs a from/to window or eventIds',
      });
    }
    if (r.source === 'events' && r.on === 'occurredAt') {
      ctx.addIssue({
        code: 'custom',
        path: ['on'],
        message: 'source "events" selects by receivedAt; use source "dlq" to select by occurredAt',
      });
    }
    if (r.from && r.to && Date.parse(r.from) >= Date.parse(r.to))
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must be after from' });
  });

export type ReplayRequest = z.output<typeof ReplayRequestSchema>;

export interface ReplayCounts {
  /** Messages or events that matched the selection. */
  readonly matched: number;
  /** Sent back to the destination queue (0 on a dry run). */
  readonly replayed: number;
  /** Looked at but not selected (outside the window, another destination, or not found). */
  readonly skipped: number;
  readonly failed: number;
}

export interface ReplayResult extends ReplayCounts {
  readonly replayId: string;
  readonly dryRun: boolean;
  /** False when the run stopped at `limit` or before the function's time ran out: invoke again to continue. */
  readonly complete: boolean;
  /** True when this invocation continued a run stopped earlier instead of starting one. */
  readonly resumed: boolean;
  /**
   * When the run started (ISO-8601). For a DLQ run also its cut-off, kept when the run is continued
   * later: messages dead-lettered after it are left for the next run.
   */
  readonly startedAt: string;
  /**
   * DLQ runs only: selected messages left in the DLQ (and counted in `skipped`) because they were
   * dead-lettered after `startedAt`; invoking again once the run is complete starts a run that moves them.
   */
  readonly newerThanRun?: number;
}

/** Whether an instant is inside the request's [from, to) window (no window: everything). */
export function inWindow(request: Pick<ReplayRequest, 'from' | 'to'>, at: string): boolean {
  const t = Date.parse(at);
  if (request.from && t < Date.parse(request.from)) return false;
  if (request.to && t >= Date.parse(request.to)) return false;
  return true;
}

/** Same selection → same id, so an interrupted run invoked again resumes its own checkpoint. */
export function replayId(request: ReplayRequest): string {
  const { dryRun: _d, limit: _l, requestedBy: _r, ...selection } = request;
  return `rpl_${sha256Hex(canonicalJson(selection)).slice(0, 20)}`;
}
