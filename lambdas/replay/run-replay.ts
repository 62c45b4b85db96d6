import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { AttemptLog } from '../adapters/attempt-log.js';
import type { StoredRouting } from '../adapters/event-store.js';
import type { ReplayJournal } from '../adapters/replay-journal.js';
import { sendMessages } from '../adapters/sqs-batch.js';
import { EventRecordSchema } from '../core/event.js';
import {
  inWindow,
  type ReplayCounts,
  type ReplayRequest,
  type ReplayResult,
  replayId,
} from '../core/replay-request.js';

export interface ReplayDeps {
  readonly sqs: SQSClient;
  readonly attempts: AttemptLog;
  readonly journal: ReplayJournal;
  readonly destinationType: (destinationId: string) => 'S3' | 'EVENTBRIDGE';
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly readEvents: (eventIds: readonly string[]) => Promise<Map<string, StoredRouting>>;
  readonly scanWindow: (
    cursor: Record<string, unknown> | undefined,
  ) => Promise<{ items: StoredRouting[]; cursor: Record<string, unknown> | undefined }>;
  /** Milliseconds the invocation has left; the run stops with `complete: false` well before 0. */
  readonly remainingMs: () => number;
  readonly logger: Logger;
}

/** Stop this long before the function's timeout, leaving time to un-hide messages and checkpoint. */
const SAFETY_MS = 20_000;

interface Tally {
  matched: number;
  replayed: number;
  skipped: number;
  failed: number;
}

/**
 * Re-delivers events to one destination through the same path as their first delivery: back onto the
 * destination queue, where its consumer applies the same batching, sealing and classification. For S3,
 * an event already sealed rewrites its part byte for byte, so a replay never adds rows.
 */
export async function runReplay(request: ReplayRequest, deps: ReplayDeps): Promise<ReplayResult> {
  const id = replayId(request);
  const previous = await deps.journal.load(request.destinationId, id);
  const resuming = previous?.status === 'running' && !request.dryRun;
  const startedAt = resuming && previous ? previous.startedAt : new Date().toISOString();
  const tally: Tally = { matched: 0, replayed: 0, skipped: 0, failed: 0 };
  const limit = request.limit ?? Number.POSITIVE_INFINITY;

  const outcome =
    request.source === 'dlq'
      ? await replayDlq(request, deps, tally, limit, id)
      : await replayEvents(request, deps, tally, limit, id, resuming ? previous?.cursor : undefined);

  const result: ReplayResult = {
    replayId: id,
    dryRun: request.dryRun === true,
    complete: outcome.complete,
    ...tally,
  };
  if (!request.dryRun) {
    const counts: ReplayCounts = resuming && previous ? add(previous.counts, tally) : tally;
    await deps.journal.save(id, request, {
      status: outcome.complete ? 'complete' : 'running',
      ...(outcome.cursor ? { cursor: outcome.cursor } : {}),
      counts,
      startedAt,
    });
  }
  deps.logger.info('replay run finished', {
    ...result,
    destinationId: request.destinationId,
    source: request.source,
    requestedBy: request.requestedBy,
  });
  return result;
}

async function replayDlq(
  request: ReplayRequest,
  deps: ReplayDeps,
  tally: Tally,
  limit: number,
  id: string,
): Promise<{ complete: boolean; cursor?: Record<string, unknown> }> {
  const held: Message[] = []; // received but staying in the DLQ: made visible again at the end
  let complete = false;
  try {
    while (tally.matched < limit) {
      if (deps.remainingMs() < SAFETY_MS) return { complete: false };
      // Hidden for the rest of the run, so the scan sees every message once.
      const hideSeconds = Math.min(43_200, Math.ceil(deps.remainingMs() / 1000) + 60);
      const res = await deps.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: hideSeconds,
          MessageAttributeNames: ['All'],
        }),
      );
      const messages = res.Messages ?? [];
      if (messages.length === 0) {
        complete = true;
        break;
      }
      const selected: Message[] = [];
      for (const m of messages) {
        if (tally.matched < limit && selects(request, m)) {
          tally.matched += 1;
          if (request.dryRun) held.push(m);
          else selected.push(m);
        } else {
          tally.skipped += 1;
          held.push(m);
        }
      }
      if (selected.length === 0) continue;
      const { sent, failed } = await sendMessages(
        deps.sqs,
        deps.queueUrl,
        selected.map((m) => ({ key: m, body: m.Body ?? '', attributes: eventIdAttribute(m) })),
      );
      // Deleted only after the copy is on the destination queue: a crash in between leaves it in both,
      // and the consumer de-duplicates by eventId.
      if (sent.length > 0) {
        await deps.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: deps.dlqUrl,
            Entries: sent.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
      tally.replayed += sent.length;
      tally.failed += failed.length;
      held.push(...failed.map((f) => f.key));
      await audit(
        deps,
        request,
        id,
        sent.map((m) => m.MessageAttributes?.eventId?.StringValue ?? parseEventId(m.Body)),
      );
    }
    return { complete: complete && tally.matched < limit };
  } finally {
    await unhide(deps, held);
  }
}

async function replayEvents(
  request: ReplayRequest,
  deps: ReplayDeps,
  tally: Tally,
  limit: number,
  id: string,
  cursor: Record<string, unknown> | undefined,
): Promise<{ complete: boolean; cursor?: Record<string, unknown> }> {
  if (request.eventIds) {
    const stored = await deps.readEvents(request.eventIds);
    const routed: StoredRouting[] = [];
    for (const eventId of request.eventIds) {
      const s = stored.get(eventId);
      if (s?.destinations.includes(request.destinationId) && routed.length < limit) routed.push(s);
      else tally.skipped += 1;
    }
    await resend(request, deps, tally, id, routed);
    return { complete: routed.length + tally.skipped >= request.eventIds.length };
  }
  let next = cursor;
  for (;;) {
    if (deps.remainingMs() < SAFETY_MS) return { complete: false, ...(next ? { cursor: next } : {}) };
    const page = await deps.scanWindow(next);
    const take = page.items.slice(0, Math.max(0, limit - tally.matched));
    await resend(request, deps, tally, id, take);
    if (take.length < page.items.length) {
      // Stopped at the limit inside a page: resume from this page's start; resent events are harmless
      // (consumers de-duplicate by eventId) but none is skipped.
      return { complete: false, ...(next ? { cursor: next } : {}) };
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
  const { sent, failed } = await sendMessages(
    deps.sqs,
    deps.queueUrl,
    events.map((e) => ({
      key: e.eventId,
      body: e.record,
      attributes: { eventId: { DataType: 'String', StringValue: e.eventId } },
    })),
  );
  tally.replayed += sent.length;
  tally.failed += failed.length;
  await audit(deps, request, id, sent);
}

function selects(request: ReplayRequest, m: Message): boolean {
  if (!request.eventIds && !request.from && !request.to) return true;
  let record: { eventId: string; receivedAt: string; occurredAt: string } | undefined;
  try {
    const parsed = EventRecordSchema.safeParse(JSON.parse(m.Body ?? ''));
    record = parsed.success ? parsed.data : undefined;
  } catch {
    record = undefined;
  }
  if (!record) return false; // not an event: replaying it cannot help, so it stays for inspection
  if (request.eventIds) return request.eventIds.includes(record.eventId);
  return inWindow(request, record[request.on ?? 'receivedAt']);
}

function eventIdAttribute(m: Message) {
  const id = m.MessageAttributes?.eventId?.StringValue ?? parseEventId(m.Body);
  return id ? { eventId: { DataType: 'String', StringValue: id } } : undefined;
}

function parseEventId(body: string | undefined): string {
  try {
    return String(JSON.parse(body ?? '').eventId ?? '');
  } catch {
    return '';
  }
}

async function unhide(deps: ReplayDeps, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await deps.sqs
      .send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: deps.dlqUrl,
          Entries: chunk.map((m, n) => ({
            Id: String(n),
            ReceiptHandle: m.ReceiptHandle ?? '',
            VisibilityTimeout: 0,
          })),
        }),
      )
      .catch((error: unknown) =>
        deps.logger.warn('could not make DLQ messages visible again; they reappear when hidden time ends', {
          error,
        }),
      );
  }
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
}

function add(a: ReplayCounts, b: ReplayCounts): ReplayCounts {
  return {
    matched: a.matched + b.matched,
    replayed: a.replayed + b.replayed,
    skipped: a.skipped + b.skipped,
    failed: a.failed + b.failed,
  };
}
