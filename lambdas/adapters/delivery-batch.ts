import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ChangeMessageVisibilityBatchCommand,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { decideRetry } from '../core/backoff.js';
import { chunkBy } from '../core/chunks.js';
import { type EventRecord, EventRecordSchema } from '../core/event.js';
import {
  type ClassifiedFailure,
  classifyFailure,
  type DestinationType,
  sanitizeReason,
} from '../core/failure-classification.js';
import { SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES } from '../core/limits.js';
import { DLQ_ATTRIBUTES } from '../core/queue-message.js';
import type { AttemptLog } from './attempt-log.js';

/** A queue message that parsed as an EventRecord. */
export interface QueuedEvent {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly record: EventRecord;
}

export type DeliveryOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly failure: ClassifiedFailure };

/** A destination's delivery: outcome per eventId (duplicates of one event share it). */
export type Deliver = (events: readonly QueuedEvent[]) => Promise<Map<string, DeliveryOutcome>>;

export interface DeliveryBatchDeps {
  readonly destinationId: string;
  readonly destinationType: DestinationType;
  readonly sqs: SQSClient;
  readonly sourceQueueUrl: string;
  readonly dlqUrl: string;
  readonly attempts: AttemptLog;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly random?: () => number;
}

// Where the consumers' callers, and their tests, have always found the names.
export { DLQ_ATTRIBUTES };

interface Failed {
  readonly record: SQSRecord;
  readonly eventId: string | undefined;
  readonly failure: ClassifiedFailure;
}

/**
 * The destination consumer runtime shared by every destination type: one SQS batch in, partial batch
 * failures out (`ReportBatchItemFailures`).
 *
 * Powertools' BatchProcessor handles records one by one; S3 parts and PutEvents calls are built
 * from many records at once, so we keep its contract (report exactly the records that must come
 * back, never an empty list after a whole-batch failure) but drive delivery for the batch as a whole.
 *
 * After delivery, each failed message is classified (core/failure-classification.ts):
 * - permanent, or transient past 24 h since its first receive → sent to the DLQ with the reason as
 *   message attributes, then left out of the failures so the event source mapping deletes it;
 * - transient → its visibility is set to the backoff delay (core/backoff.ts) and it is reported as
 *   a failure, so it comes back after that delay.
 */
export async function runDeliveryBatch(
  event: SQSEvent,
  deliver: Deliver,
  deps: DeliveryBatchDeps,
): Promise<SQSBatchResponse> {
  const now = deps.now ?? (() => new Date());
  const queued: QueuedEvent[] = [];
  const failed: Failed[] = [];
  for (const record of event.Records) {
    const parsed = safeParse(record.body);
    if (parsed)
      queued.push({
        messageId: record.messageId,
        receiptHandle: record.receiptHandle,
        body: record.body,
        record: parsed,
      });
    else
      failed.push({
        record,
        eventId: record.messageAttributes?.eventId?.stringValue,
        failure: {
          failureClass: 'permanent',
          code: 'MalformedMessage',
          message: 'message body is not a Pushrail event record',
        },
      });
  }

  let outcomes: Map<string, DeliveryOutcome>;
  try {
    outcomes = queued.length > 0 ? await deliver(queued) : new Map();
  } catch (error) {
    // An unexpected error fails the whole batch: every record is classified and comes back or dead-letters.
    deps.logger.error('delivery failed for the whole batch', { destinationId: deps.destinationId, error });
    const failure = classifyFailure(deps.destinationType, error);
    outcomes = new Map(queued.map((q) => [q.record.eventId, { ok: false, failure }]));
    // The attempt failed before any delivery call (credentials, bus check): it is an attempt all the same.
    await deps.attempts
      .record({
        destinationId: deps.destinationId,
        destinationType: deps.destinationType,
        eventIds: queued.map((q) => q.record.eventId),
        outcome: 'failed',
        failureClass: failure.failureClass,
        errorCode: failure.code,
        errorMessage: failure.message,
      })
      .catch((recordError: unknown) =>
        deps.logger.warn('could not record the attempt', { error: recordError }),
      );
  }
  const byMessageId = new Map(event.Records.map((r) => [r.messageId, r]));
  for (const q of queued) {
    const outcome = outcomes.get(q.record.eventId) ?? {
      ok: false,
      failure: {
        failureClass: 'transient',
        code: 'NotDelivered',
        message: 'delivery returned no outcome for this event',
      },
    };
    if (!outcome.ok)
      failed.push({
        record: byMessageId.get(q.messageId) as SQSRecord,
        eventId: q.record.eventId,
        failure: outcome.failure,
      });
  }

  const toDeadLetter: { failed: Failed; reason: ClassifiedFailure }[] = [];
  const toRetry: { failed: Failed; delaySeconds: number }[] = [];
  for (const f of failed) {
    if (f.failure.failureClass === 'permanent') {
      toDeadLetter.push({ failed: f, reason: f.failure });
      continue;
    }
    const decision = decideRetry({
      firstAttemptAt: new Date(Number(f.record.attributes.ApproximateFirstReceiveTimestamp)),
      now: now(),
      attempt: Number(f.record.attributes.ApproximateReceiveCount) || 1,
      ...(deps.random ? { random: deps.random } : {}),
    });
    if (decision.action === 'retry') toRetry.push({ failed: f, delaySeconds: decision.delaySeconds });
    else
      toDeadLetter.push({
        failed: f,
        reason: {
          ...f.failure,
          message: sanitizeReason(`${decision.reason}; last error: ${f.failure.message}`),
        },
      });
  }

  const batchItemFailures = new Set<string>(toRetry.map((r) => r.failed.record.messageId));
  const notMoved = await sendToDeadLetterQueue(toDeadLetter, deps, now());
  for (const id of notMoved) batchItemFailures.add(id);
  await scheduleRetries(toRetry, deps);

  if (failed.length > 0) {
    deps.logger.warn('messages not delivered', {
      destinationId: deps.destinationId,
      deadLettered: toDeadLetter.length - notMoved.length,
      retrying: toRetry.length,
      codes: [...new Set(failed.map((f) => f.failure.code))],
    });
  }
  return { batchItemFailures: [...batchItemFailures].map((itemIdentifier) => ({ itemIdentifier })) };
}

function safeParse(body: string): EventRecord | undefined {
  try {
    const result = EventRecordSchema.safeParse(JSON.parse(body));
    return result.success ? (result.data as EventRecord) : undefined;
  } catch {
    return undefined;
  }
}

const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });

/** Moves messages to the DLQ with their reason; returns the message ids that could not be moved. */
async function sendToDeadLetterQueue(
  items: readonly { failed: Failed; reason: ClassifiedFailure }[],
  deps: DeliveryBatchDeps,
  at: Date,
): Promise<string[]> {
  const notMoved: string[] = [];
  // 1 KiB per entry covers the reason attributes.
  const limits = { maxCount: SQS_MAX_BATCH_ENTRIES, maxBytes: SQS_MAX_BATCH_BYTES };
  for (const chunk of chunkBy(items, limits, (i) => Buffer.byteLength(i.failed.record.body) + 1024)) {
    try {
      const res = await deps.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: deps.dlqUrl,
          Entries: chunk.map(({ failed, reason }, n) => ({
            Id: String(n),
            MessageBody: failed.record.body,
            MessageAttributes: {
              [DLQ_ATTRIBUTES.failureClass]: text(reason.failureClass),
              [DLQ_ATTRIBUTES.errorCode]: text(reason.code),
              [DLQ_ATTRIBUTES.reason]: text(reason.message || reason.code),
              [DLQ_ATTRIBUTES.destinationId]: text(deps.destinationId),
              [DLQ_ATTRIBUTES.failedAt]: text(at.toISOString()),
              [DLQ_ATTRIBUTES.firstAttemptAt]: text(
                new Date(
                  Number(failed.record.attributes.ApproximateFirstReceiveTimestamp) || at.getTime(),
                ).toISOString(),
              ),
              [DLQ_ATTRIBUTES.attempts]: {
                DataType: 'Number',
                StringValue: failed.record.attributes.ApproximateReceiveCount || '1',
              },
              ...(failed.eventId ? { [DLQ_ATTRIBUTES.eventId]: text(failed.eventId) } : {}),
            },
          })),
        }),
      );
      for (const f of res.Failed ?? [])
        notMoved.push((chunk[Number(f.Id)] as (typeof chunk)[number]).failed.record.messageId);
      const moved = (res.Successful ?? []).map((s) => chunk[Number(s.Id)] as (typeof chunk)[number]);
      const byCode = new Map<string, typeof moved>();
      for (const m of moved) byCode.set(m.reason.code, [...(byCode.get(m.reason.code) ?? []), m]);
      for (const [, group] of byCode) {
        const first = group[0] as (typeof group)[number];
        await deps.attempts
          .record(
            {
              destinationId: deps.destinationId,
              destinationType: deps.destinationType,
              eventIds: group.flatMap((g) => (g.failed.eventId ? [g.failed.eventId] : [])),
              outcome: 'dead-lettered',
              failureClass: first.reason.failureClass,
              errorCode: first.reason.code,
              errorMessage: first.reason.message,
              target: 'dlq',
            },
            at,
          )
          .catch((error: unknown) => deps.logger.warn('could not record the DLQ move', { error }));
      }
    } catch (error) {
      deps.logger.error('could not move messages to the DLQ; they will be retried', {
        destinationId: deps.destinationId,
        error,
      });
      notMoved.push(...chunk.map((c) => c.failed.record.messageId));
    }
  }
  return notMoved;
}

/** Sets each retried message's visibility to its backoff delay. Best effort: on failure it returns
 * after the queue's own visibility timeout instead. */
async function scheduleRetries(
  items: readonly { failed: Failed; delaySeconds: number }[],
  deps: DeliveryBatchDeps,
): Promise<void> {
  for (let i = 0; i < items.length; i += SQS_MAX_BATCH_ENTRIES) {
    const chunk = items.slice(i, i + SQS_MAX_BATCH_ENTRIES);
    try {
      await deps.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: deps.sourceQueueUrl,
          Entries: chunk.map((r, n) => ({
            Id: String(n),
            ReceiptHandle: r.failed.record.receiptHandle,
            VisibilityTimeout: r.delaySeconds,
          })),
        }),
      );
    } catch (error) {
      deps.logger.warn('could not set the backoff delay; the queue visibility timeout applies', { error });
    }
  }
}
