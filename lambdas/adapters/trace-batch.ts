import type { ClassifiedFailure } from '../core/failure-classification.js';
import type { DeliveredEvent } from '../core/trace.js';
import type { DeliveryOutcome, QueuedEvent } from './delivery-batch.js';
import type { EventAttemptInput, TraceLog } from './trace-log.js';

interface Decided {
  readonly eventId: string | undefined;
  readonly failure: ClassifiedFailure;
}

export interface BatchTrace {
  readonly destinationId: string;
  readonly destinationType: string;
  readonly queued: readonly QueuedEvent[];
  readonly outcomes: ReadonlyMap<string, DeliveryOutcome>;
  readonly retried: readonly (Decided & { readonly delaySeconds: number })[];
  readonly deadLettered: readonly Decided[];
  /** Bound for the DLQ but not moved: they come back after the queue's visibility timeout. */
  readonly notMoved: readonly Decided[];
  /** When the batch's failures were decided. */
  readonly at: Date;
}

/**
 * A batch's trace records, from runDeliveryBatch's outcomes and decisions: receipts for the delivered
 * events (batch-level, the happy path), one event attempt per failed event (with the next attempt's
 * time from the backoff delay just set, or the DLQ reason).
 */
export async function recordTrace(
  trace: Pick<TraceLog, 'recordDelivered' | 'recordEventAttempts'>,
  batch: BatchTrace,
): Promise<void> {
  const delivered: DeliveredEvent[] = [];
  const seen = new Set<string>();
  for (const q of batch.queued) {
    const outcome = batch.outcomes.get(q.record.eventId);
    if (!outcome?.ok || seen.has(q.record.eventId)) continue;
    seen.add(q.record.eventId);
    delivered.push({
      eventId: q.record.eventId,
      receivedAt: q.record.receivedAt,
      call: outcome.call ?? 'batch',
      at: (outcome.at ?? batch.at).toISOString(),
      ...(outcome.latencyMs !== undefined ? { latencyMs: outcome.latencyMs } : {}),
      ...(outcome.target ? { target: outcome.target } : {}),
      ...(outcome.sha256 ? { sha256: outcome.sha256 } : {}),
    });
  }
  const attempt = (
    d: Decided,
    outcome: EventAttemptInput['outcome'],
    extra: Partial<EventAttemptInput> = {},
  ): EventAttemptInput[] => {
    if (!d.eventId) return [];
    const o = batch.outcomes.get(d.eventId);
    return [
      {
        eventId: d.eventId,
        outcome,
        at: batch.at,
        failureClass: d.failure.failureClass,
        errorCode: d.failure.code,
        reason: d.failure.message,
        ...(o?.latencyMs !== undefined ? { latencyMs: o.latencyMs } : {}),
        ...(o?.target ? { target: o.target } : {}),
        ...extra,
      },
    ];
  };
  const failed = [
    ...batch.retried.flatMap((r) =>
      attempt(r, 'retry-scheduled', { nextAttemptAt: new Date(batch.at.getTime() + r.delaySeconds * 1000) }),
    ),
    ...batch.deadLettered.flatMap((d) => attempt(d, 'dead-lettered')),
    ...batch.notMoved.flatMap((d) => attempt(d, 'failed')),
  ];
  await Promise.all([
    trace.recordDelivered(batch.destinationId, batch.destinationType, delivered),
    trace.recordEventAttempts(batch.destinationId, batch.destinationType, failed),
  ]);
}
