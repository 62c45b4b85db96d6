import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { decideRetry } from '../core/backoff.js';
import type { EventRecord } from '../core/event.js';
import { type ClassifiedFailure, classifyFailure, sanitizeReason } from '../core/failure-classification.js';
import { MALFORMED_MESSAGE } from '../core/failure-codes.js';
import { correlationIdsOf, eventIdsField } from '../core/log-summary.js';
import { fromMessage } from '../core/queue-message.js';
import type { DestinationType } from '../destinations/index.js';
import type { AttemptLog } from './attempt-log.js';
import { changeVisibility, moveToDlq } from './sqs-queue.js';
import { recordTrace } from './trace-batch.js';
import type { TraceLog } from './trace-log.js';

/** A queue message that parsed as an EventRecord. */
export interface QueuedEvent {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly record: EventRecord;
  /**
   * The message is on its first receive (SQS ApproximateReceiveCount 1): no earlier attempt of this
   * message can have left state behind. A hint for cost only (the S3 batcher skips its seal lookup),
   * never for correctness: the same event may still arrive in another message.
   * @default false
   */
  readonly firstReceive?: boolean;
}

/**
 * What the kind's delivery says of one event. Besides ok or the failure, where it can: where the event
 * went (`s3://bucket/key`, the EventBridge entry id, the webhook URL and status), when and how long
 * the call took, and which call it was (events of one call share one receipt entry; see core/trace.ts).
 */
export type DeliveryOutcome = (
  | { readonly ok: true; readonly target?: string; readonly sha256?: string }
  | { readonly ok: false; readonly failure: ClassifiedFailure; readonly target?: string }
) & {
  readonly at?: Date;
  readonly latencyMs?: number;
  readonly call?: string;
};

/** A destination's delivery: outcome per eventId (duplicates of one event share it). */
export type Deliver = (events: readonly QueuedEvent[]) => Promise<Map<string, DeliveryOutcome>>;

export interface DeliveryBatchDeps {
  readonly destinationId: string;
  readonly destinationType: DestinationType;
  readonly sqs: SQSClient;
  readonly sourceQueueUrl: string;
  readonly dlqUrl: string;
  readonly attempts: AttemptLog;
  /** The trace's records (adapters/trace-log.ts); absent, none are written (unit tests of the batch). */
  readonly trace?: Pick<TraceLog, 'recordDelivered' | 'recordEventAttempts'>;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly random?: () => number;
}

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
    const message = fromMessage(record);
    if (message.record)
      queued.push({
        messageId: record.messageId,
        receiptHandle: record.receiptHandle,
        body: message.body,
        record: message.record,
        firstReceive: record.attributes?.ApproximateReceiveCount === '1',
      });
    else
      failed.push({
        record,
        eventId: message.eventId,
        failure: {
          failureClass: 'permanent',
          code: MALFORMED_MESSAGE,
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
  let undelivered = 0;
  for (const q of queued) {
    const outcome = outcomes.get(q.record.eventId) ?? {
      ok: false,
      failure: {
        failureClass: 'transient',
        code: 'NotDelivered',
        message: 'delivery returned no outcome for this event',
      },
    };
    if (!outcome.ok) {
      undelivered += 1;
      failed.push({
        record: byMessageId.get(q.messageId) as SQSRecord,
        eventId: q.record.eventId,
        failure: outcome.failure,
      });
    }
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
      ...(f.failure.retryAfterSeconds === undefined
        ? {}
        : { retryAfterSeconds: f.failure.retryAfterSeconds }),
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
  const decidedAt = now();
  const notMoved = await sendToDeadLetterQueue(toDeadLetter, deps, decidedAt);
  for (const id of notMoved) batchItemFailures.add(id);
  await scheduleRetries(toRetry, deps);
  if (deps.trace) {
    await recordTrace(deps.trace, {
      destinationId: deps.destinationId,
      destinationType: deps.destinationType,
      queued,
      outcomes,
      retried: toRetry.map((r) => ({
        eventId: r.failed.eventId,
        failure: r.failed.failure,
        delaySeconds: r.delaySeconds,
      })),
      deadLettered: toDeadLetter
        .filter((d) => !notMoved.includes(d.failed.record.messageId))
        .map((d) => ({ eventId: d.failed.eventId, failure: d.reason })),
      notMoved: toDeadLetter
        .filter((d) => notMoved.includes(d.failed.record.messageId))
        .map((d) => ({ eventId: d.failed.eventId, failure: d.reason })),
      at: decidedAt,
    }).catch((error: unknown) => deps.logger.warn('could not record the trace', { error }));
  }

  // The batch's one log line (not one per event): warn when some did not get through.
  const summary = {
    destinationId: deps.destinationId,
    kind: deps.destinationType,
    messages: event.Records.length,
    delivered: queued.length - undelivered,
    retrying: toRetry.length,
    deadLettered: toDeadLetter.length - notMoved.length,
    ...eventIdsField(queued.map((q) => q.record.eventId)),
    correlationIds: correlationIdsOf(queued.map((q) => q.record.correlationId)),
    ...(failed.length > 0 ? { codes: [...new Set(failed.map((f) => f.failure.code))] } : {}),
  };
  if (failed.length > 0) deps.logger.warn('delivery batch', summary);
  else deps.logger.info('delivery batch', summary);
  return { batchItemFailures: [...batchItemFailures].map((itemIdentifier) => ({ itemIdentifier })) };
}

/** Moves messages to the DLQ with their reason; returns the message ids that could not be moved. */
async function sendToDeadLetterQueue(
  items: readonly { failed: Failed; reason: ClassifiedFailure }[],
  deps: DeliveryBatchDeps,
  at: Date,
): Promise<string[]> {
  if (items.length === 0) return [];
  const { moved, failed } = await moveToDlq(
    deps.sqs,
    deps.dlqUrl,
    items.map((item) => {
      const { record, eventId } = item.failed;
      return {
        key: item,
        body: record.body,
        reason: {
          failure: item.reason,
          destinationId: deps.destinationId,
          failedAt: at,
          firstAttemptAt: new Date(
            Number(record.attributes.ApproximateFirstReceiveTimestamp) || at.getTime(),
          ),
          attempts: Number(record.attributes.ApproximateReceiveCount) || 1,
          eventId,
        },
      };
    }),
  );
  if (failed.length > 0)
    deps.logger.error('could not move messages to the DLQ; they will be retried', {
      destinationId: deps.destinationId,
      notMoved: failed.length,
      codes: [...new Set(failed.map((f) => f.reason))],
      error: failed.find((f) => f.cause)?.cause,
    });
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
  return failed.map((f) => f.key.failed.record.messageId);
}

/** Sets each retried message's visibility to its backoff delay. Best effort: on failure it returns
 * after the queue's own visibility timeout instead. */
async function scheduleRetries(
  items: readonly { failed: Failed; delaySeconds: number }[],
  deps: DeliveryBatchDeps,
): Promise<void> {
  if (items.length === 0) return;
  const failed = await changeVisibility(
    deps.sqs,
    deps.sourceQueueUrl,
    items.map((r) => ({ receiptHandle: r.failed.record.receiptHandle, visibilityTimeout: r.delaySeconds })),
  );
  if (failed.length > 0)
    deps.logger.warn('could not set the backoff delay; the queue visibility timeout applies', {
      messages: failed.length,
      codes: [...new Set(failed.map((f) => f.reason))],
      error: failed.find((f) => f.cause)?.cause,
    });
}
