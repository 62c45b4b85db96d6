import type { Logger } from '@aws-lambda-powertools/logger';
import { type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AttemptLog } from '../adapters/attempt-log.js';
import type { AuditEntry, AuditLog } from '../adapters/audit-log.js';
import type { StoredRouting } from '../adapters/event-store.js';
import type { ReplayCursor, ReplayJournal } from '../adapters/replay-journal.js';
import { changeVisibility, deleteBatch, sendBatch } from '../adapters/sqs-queue.js';
import type { TraceLog } from '../adapters/trace-log.js';
import type { AuditAction } from '../core/audit-actions.js';
import type { JsonValue } from '../core/audit-diff.js';
import { ReplayLeaseLostError } from '../core/errors.js';
import { fromMessage, type ReadMessage, toMessage } from '../core/queue-message.js';
import {
  inWindow,
  type ReplayCounts,
  type ReplayRequest,
  type ReplayResult,
  replayId,
} from '../core/replay-request.js';
import type { DestinationType } from '../destinations/index.js';
import { type ClaimedRun, claimRun, LEASE_MARGIN_MS } from './claim-run.js';

export interface ReplayDeps {
  /** Where `replay.started` and `replay.finished` go (the audit trail of GET /v1/audit); tests may omit it. */
  readonly audit?: Pick<AuditLog, 'append'>;
  /** The destination's customer, for the audit entries. */
  readonly customerExternalId?: string;
  readonly sqs: SQSClient;
  readonly attempts: AttemptLog;
  /** The trace's event attempts (a `replayed` item per event, so a trace shows the replay); optional in tests. */
  readonly trace?: Pick<TraceLog, 'recordEventAttempts'>;
  readonly journal: ReplayJournal;
  readonly destinationType: (destinationId: string) => DestinationType;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly readEvents: (eventIds: readonly string[]) => Promise<Map<string, StoredRouting>>;
  /**
   * One page of the stored events of the request's window routed to the destination. `cursor` is the
   * key to continue after (DynamoDB ExclusiveStartKey; the events table is keyed by `eventId` alone).
   */
  readonly scanWindow: (
    cursor: ReplayCursor | undefined,
  ) => Promise<{ items: StoredRouting[]; cursor: ReplayCursor | undefined }>;
  /** Milliseconds the invocation has left; the run stops with `complete: false` well before 0. */
  readonly remainingMs: () => number;
  /** The Lambda request id: owns the run's lease while this invocation works on it. */
  readonly invocationId: string;
  readonly logger: Logger;
  /** Epoch milliseconds; default `Date.now`. */
  readonly now?: () => number;
}

/** Stop this long before the function's timeout, leaving time to un-hide messages and checkpoint. */
const SAFETY_MS = 20_000;

/** SQS's longest visibility timeout. */
const MAX_HIDE_SECONDS = 43_200;

/** Stored events read per BatchGetItem when replaying event ids. */
const IDS_PER_READ = 100;

interface Tally {
  matched: number;
  replayed: number;
  skipped: number;
  failed: number;
  /** DLQ runs: selected messages skipped because they were dead-lettered after the cut-off. */
  newerThanRun: number;
}

interface Outcome {
  readonly complete: boolean;
  /** Where to continue (events sources only): a scan key, or `{ offset }` into the event id list. */
  readonly cursor?: ReplayCursor;
}

/**
 * Re-delivers events to one destination through the same path as their first delivery: back onto the
 * destination queue, where its consumer applies the same batching, sealing and classification. For S3,
 * an event already sealed rewrites its part byte for byte, so a replay never adds rows.
 *
 * A run stopped by `limit` or by the function's time is journaled as `running`; invoking the same
 * selection again continues it (same counts, same cursor, same DLQ cut-off) instead of starting over,
 * and says so (`resumed`, `startedAt`). One invocation at a time works on a run (claimRun); a dry run
 * reads and writes no journal.
 */
export async function runReplay(request: ReplayRequest, deps: ReplayDeps): Promise<ReplayResult> {
  const now = deps.now ?? Date.now;
  const id = replayId(request);
  const run = request.dryRun
    ? undefined
    : await claimRun(request, id, deps.journal, {
        id: deps.invocationId,
        now,
        remainingMs: deps.remainingMs,
      });
  const startedAt = run?.startedAt ?? new Date(now()).toISOString();
  const tally: Tally = { matched: 0, replayed: 0, skipped: 0, failed: 0, newerThanRun: 0 };
  const limit = request.limit ?? Number.POSITIVE_INFINITY;

  let outcome: Outcome;
  try {
    // Before anything moves. A continued run was announced by the invocation that started it.
    if (run && !run.resumed)
      await deps.audit?.append(auditEntry('replay.started', request, id, startedAt, deps));
    if (request.source === 'dlq')
      outcome = await replayDlq(request, deps, tally, limit, id, Date.parse(startedAt));
    else if (request.eventIds)
      outcome = await replayEventIds(request, request.eventIds, deps, tally, limit, id, run?.cursor);
    else outcome = await replayWindow(request, deps, tally, limit, id, run?.cursor);
  } catch (error) {
    // Give the lease up rather than leave it to lapse, so a retry can start at once. The run continues
    // from its old cursor: what this invocation re-sent is sent again, which the consumers absorb.
    if (run)
      await save(request, deps, id, run, tally, { complete: false, ...cursorOf(run) }).catch((e: unknown) =>
        deps.logger.warn('could not release the replay lease; it lapses on its own', {
          replayId: id,
          error: e,
        }),
      );
    throw error;
  }

  const result: ReplayResult = {
    replayId: id,
    dryRun: request.dryRun === true,
    complete: outcome.complete,
    resumed: run?.resumed ?? false,
    startedAt,
    ...countsOf(tally),
    ...(request.source === 'dlq' ? { newerThanRun: tally.newerThanRun } : {}),
  };
  if (run && !(await save(request, deps, id, run, tally, outcome)))
    throw new ReplayLeaseLostError(id, countsOf(tally));
  if (run && outcome.complete) {
    const counts = add(run.counts, countsOf(tally));
    const extra = {
      counts: { ...counts },
      ...(request.source === 'dlq' ? { newerThanRun: tally.newerThanRun } : {}),
    };
    // After the journal says complete: failing here must not make the caller replay the run again.
    await deps.audit
      ?.append(auditEntry('replay.finished', request, id, startedAt, deps, extra))
      .catch((error: unknown) =>
        deps.logger.error('could not write the replay.finished audit entry; the journal has the run', {
          replayId: id,
          error,
        }),
      );
  }
  deps.logger.info('replay run finished', {
    ...result,
    destinationId: request.destinationId,
    source: request.source,
    requestedBy: request.requestedBy,
  });
  return result;
}

/** Checkpoints the run with this invocation's counts added, and releases its lease; false if lost. */
function save(
  request: ReplayRequest,
  deps: ReplayDeps,
  id: string,
  run: ClaimedRun,
  tally: Tally,
  outcome: Outcome,
): Promise<boolean> {
  const now = deps.now ?? Date.now;
  return deps.journal.save(
    id,
    request,
    {
      status: outcome.complete ? 'complete' : 'running',
      ...cursorOf(outcome),
      counts: add(run.counts, countsOf(tally)),
      startedAt: run.startedAt,
    },
    run.claim,
    new Date(now()),
  );
}

/**
 * A `replay.started` or `replay.finished` entry of the audit trail. `who` is the request's
 * `requestedBy`: the function cannot see who invoked it (Lambda's context has no caller identity), so
 * it is what the invoker says — `npx pushrail replay` sends the caller's ARN from STS
 * GetCallerIdentity — and the entry says it is self-reported. Who may invoke is IAM's to decide.
 */
function auditEntry(
  action: Extract<AuditAction, 'replay.started' | 'replay.finished'>,
  request: ReplayRequest,
  id: string,
  startedAt: string,
  deps: ReplayDeps,
  extra: Record<string, JsonValue> = {},
): AuditEntry {
  const now = deps.now ?? Date.now;
  const selection: Record<string, JsonValue> = {
    source: request.source,
    ...(request.from ? { from: request.from } : {}),
    ...(request.to ? { to: request.to } : {}),
    ...(request.on ? { on: request.on } : {}),
    // The ids themselves are in the journal: up to 1,000 of them would crowd an audit page.
    ...(request.eventIds ? { eventIds: request.eventIds.length } : {}),
  };
  return {
    at: new Date(now()).toISOString(),
    who: request.requestedBy ?? 'unknown',
    action,
    destinationId: request.destinationId,
    customerExternalId: deps.customerExternalId ?? 'unknown',
    details: {
      replayId: id,
      selection,
      ...(request.limit ? { limit: request.limit } : {}),
      startedAt,
      whoSelfReported: true,
      ...extra,
    },
  };
}

function cursorOf(from: { readonly cursor?: ReplayCursor }): { cursor?: ReplayCursor } {
  return from.cursor ? { cursor: from.cursor } : {};
}

/**
 * Moves the destination's DLQ back to its queue: receive (hiding each message for the rest of the
 * run, so the scan sees every message once), send the selected ones to the queue, delete them from the
 * DLQ, and make the others visible again at the end.
 *
 * Only messages dead-lettered before the run started are replayed. Without that cut-off, a message
 * replayed into a destination that is still broken comes back to the DLQ within seconds, is received
 * again by this same run, and the run ping-pongs it (and counts it) until its time runs out. A run
 * continued much later keeps its cut-off too; the selected messages it leaves are counted in
 * `newerThanRun`, so the caller knows to run again.
 */
async function replayDlq(
  request: ReplayRequest,
  deps: ReplayDeps,
  tally: Tally,
  limit: number,
  id: string,
  cutoffMs: number,
): Promise<Outcome> {
  // Receipt handles only (not the bodies): a large DLQ with a narrow selection holds many of them.
  const held: string[] = [];
  try {
    for (;;) {
      if (tally.matched >= limit) return { complete: false };
      if (deps.remainingMs() < SAFETY_MS) return { complete: false };
      const hideSeconds = Math.min(
        MAX_HIDE_SECONDS,
        Math.ceil((deps.remainingMs() + LEASE_MARGIN_MS) / 1000),
      );
      const res = await deps.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: hideSeconds,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      const messages = res.Messages ?? [];
      if (messages.length === 0) return { complete: true };
      const selected: { message: Message; read: ReadMessage }[] = [];
      for (const m of messages) {
        const handle = m.ReceiptHandle ?? '';
        const read = fromMessage(m);
        if (tally.matched >= limit) {
          // Past the limit: not looked at, left for the next invocation.
          held.push(handle);
        } else if (!selects(request, read)) {
          tally.skipped += 1;
          held.push(handle);
        } else if (arrivedAfter(m, cutoffMs)) {
          tally.skipped += 1;
          tally.newerThanRun += 1;
          held.push(handle);
        } else {
          tally.matched += 1;
          if (request.dryRun) held.push(handle);
          else selected.push({ message: m, read });
        }
      }
      if (selected.length === 0) continue;
      // The same body bytes, and the eventId attribute wherever the event is known.
      const { sent, failed } = await sendBatch(
        deps.sqs,
        deps.queueUrl,
        selected.map((s) => ({
          key: s,
          ...(s.read.eventId ? toMessage(s.read.body, s.read.eventId) : { body: s.read.body }),
        })),
      );
      // Deleted only after the copy is on the destination queue: a crash in between leaves it in both,
      // and the consumer de-duplicates by eventId.
      await deleteFromDlq(
        deps,
        sent.map((s) => s.message.ReceiptHandle ?? ''),
      );
      tally.replayed += sent.length;
      tally.failed += failed.length;
      held.push(...failed.map((f) => f.key.message.ReceiptHandle ?? ''));
      await audit(
        deps,
        request,
        id,
        sent.map((s) => s.read.eventId ?? ''),
      );
    }
  } finally {
    await unhide(deps, held);
  }
}

/** Re-sends stored events by id, in request order; `{ offset }` is how far a stopped run got. */
async function replayEventIds(
  request: ReplayRequest,
  eventIds: readonly string[],
  deps: ReplayDeps,
  tally: Tally,
  limit: number,
  id: string,
  cursor: ReplayCursor | undefined,
): Promise<Outcome> {
  const ids = [...new Set(eventIds)];
  let offset = typeof cursor?.offset === 'number' ? cursor.offset : 0;
  while (offset < ids.length) {
    if (tally.matched >= limit || deps.remainingMs() < SAFETY_MS)
      return { complete: false, cursor: { offset } };
    const chunk = ids.slice(offset, offset + IDS_PER_READ);
    const stored = await deps.readEvents(chunk);
    const routed: StoredRouting[] = [];
    let looked = 0;
    for (const eventId of chunk) {
      if (tally.matched + routed.length >= limit) break;
      looked += 1;
      const s = stored.get(eventId);
      // Not stored (expired or never accepted) or never routed to this destination: nothing to re-send.
      if (s?.destinations.includes(request.destinationId)) routed.push(s);
      else tally.skipped += 1;
    }
    await resend(request, deps, tally, id, routed);
    offset += looked;
  }
  return { complete: true };
}

/** Re-sends the stored events received in the window and routed to the destination, page by page. */
async function replayWindow(
  request: ReplayRequest,
  deps: ReplayDeps,
  tally: Tally,
  limit: number,
  id: string,
  cursor: ReplayCursor | undefined,
): Promise<Outcome> {
  let next = cursor;
  for (;;) {
    if (tally.matched >= limit || deps.remainingMs() < SAFETY_MS)
      return { complete: false, ...(next ? { cursor: next } : {}) };
    const page = await deps.scanWindow(next);
    const take = page.items.slice(0, Math.max(0, limit - tally.matched));
    await resend(request, deps, tally, id, take);
    const last = take.at(-1);
    if (take.length < page.items.length) {
      // Stopped at the limit inside a page: continue right after the last event sent (a Scan resumes
      // after any key of the table), so the next invocation neither re-sends nor skips one.
      return {
        complete: false,
        ...(last ? { cursor: { eventId: last.eventId } } : next ? { cursor: next } : {}),
      };
    }
    next = page.cursor;
    if (!next) return { complete: true };
  }
}

async function resend(
  request: ReplayRequest,
  deps: ReplayDeps,
  tally: Tally,
  id: string,
  events: readonly StoredRouting[],
): Promise<void> {
  tally.matched += events.length;
  if (request.dryRun || events.length === 0) return;
  const { sent, failed } = await sendBatch(
    deps.sqs,
    deps.queueUrl,
    events.map((e) => ({ key: e.eventId, ...toMessage(e.record, e.eventId) })),
  );
  tally.replayed += sent.length;
  tally.failed += failed.length;
  if (failed.length > 0)
    deps.logger.warn('could not re-send some events', {
      destinationId: request.destinationId,
      failed: failed.slice(0, 20),
    });
  await audit(deps, request, id, sent);
}

/** Whether SQS received the message after the cut-off (a message without the attribute counts as older). */
function arrivedAfter(m: Message, cutoffMs: number): boolean {
  const sent = Number(m.Attributes?.SentTimestamp);
  return Number.isFinite(sent) && sent >= cutoffMs;
}

function selects(request: ReplayRequest, read: ReadMessage): boolean {
  if (!request.eventIds && !request.from && !request.to) return true;
  const { record } = read;
  if (!record) return false; // not an event: replaying it cannot help, so it stays for inspection
  if (request.eventIds) return request.eventIds.includes(record.eventId);
  return inWindow(request, record[request.on ?? 'receivedAt']);
}

/**
 * Deletes replayed messages from the DLQ. A message that cannot be deleted stays hidden until its
 * visibility ends and is then replayed again by a later run: a duplicate the consumer absorbs (S3
 * rewrites the same sealed part), never a loss, so it is logged rather than failing the run.
 */
async function deleteFromDlq(deps: ReplayDeps, receiptHandles: readonly string[]): Promise<void> {
  if (receiptHandles.length === 0) return;
  const failed = await deleteBatch(deps.sqs, deps.dlqUrl, receiptHandles);
  if (failed.length > 0)
    deps.logger.warn('replayed messages could not be deleted from the DLQ; a later replay re-sends them', {
      codes: failed.map((f) => f.reason),
      error: failed.find((f) => f.cause)?.cause,
    });
}

async function unhide(deps: ReplayDeps, receiptHandles: readonly string[]): Promise<void> {
  if (receiptHandles.length === 0) return;
  const failed = await changeVisibility(
    deps.sqs,
    deps.dlqUrl,
    receiptHandles.map((receiptHandle) => ({ receiptHandle, visibilityTimeout: 0 })),
  );
  if (failed.length > 0)
    deps.logger.warn('could not make DLQ messages visible again; they reappear when hidden time ends', {
      messages: failed.length,
      error: failed.find((f) => f.cause)?.cause,
    });
}

async function audit(
  deps: ReplayDeps,
  request: ReplayRequest,
  id: string,
  eventIds: readonly string[],
): Promise<void> {
  if (eventIds.length === 0) return;
  await deps.attempts
    .record({
      destinationId: request.destinationId,
      destinationType: deps.destinationType(request.destinationId),
      eventIds: eventIds.filter((e) => e !== ''),
      outcome: 'replayed',
      target: `${request.source}:${id}${request.requestedBy ? ` by ${request.requestedBy}` : ''}`,
    })
    .catch((error: unknown) => deps.logger.warn('could not record the replay', { error }));
  // Replays are rare and on-call's own doing: one trace item per event is affordable here.
  const at = new Date();
  await deps.trace
    ?.recordEventAttempts(
      request.destinationId,
      deps.destinationType(request.destinationId),
      eventIds
        .filter((e) => e !== '')
        .map((eventId) => ({
          eventId,
          outcome: 'replayed' as const,
          at,
          target: `replay:${request.source}:${id}`,
        })),
    )
    .catch((error: unknown) => deps.logger.warn('could not record the replay in the trace', { error }));
}

function countsOf(t: Tally): ReplayCounts {
  return { matched: t.matched, replayed: t.replayed, skipped: t.skipped, failed: t.failed };
}

function add(a: ReplayCounts, b: ReplayCounts): ReplayCounts {
  return {
    matched: a.matched + b.matched,
    replayed: a.replayed + b.replayed,
    skipped: a.skipped + b.skipped,
    failed: a.failed + b.failed,
  };
}
