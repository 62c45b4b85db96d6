import type { Logger } from '@aws-lambda-powertools/logger';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { AttemptLog, AttemptRecord } from '../../adapters/attempt-log.js';
import type { DeliveryOutcome, QueuedEvent } from '../../adapters/delivery-batch.js';
import type { TestDelivery } from '../../adapters/delivery-runtime.js';
import type { BusCheck } from '../../adapters/event-bus-verifier.js';
import { type EntryResult, type PublishOptions, publish } from '../../adapters/eventbridge-publisher.js';
import type { EventRecord } from '../../core/event.js';
import type { ClassifiedFailure } from '../../core/failure-classification.js';
import { chunkEntries, toEntry } from './entries.js';
import type { EventBridgeDestinationConfig } from './schema.js';

export interface EventBridgeDeliveryDeps {
  readonly destination: EventBridgeDestinationConfig;
  /** The entries' `Source`: `sourceNamespace(config, destination)`. */
  readonly source: string;
  /** A client with the credentials this batch started with. */
  readonly client: EventBridgeClient;
  /** Whether the bus may be used with those credentials (cached by EventBusVerifier). */
  readonly verifyBus: () => Promise<BusCheck>;
  readonly attempts: Pick<AttemptLog, 'record'>;
  readonly credentialsMode: 'ASSUME_ROLE' | 'ACCESS_KEY';
  readonly logger: Logger;
  /** In-call retry settings of the publisher (tests pin the jitter and skip the sleeps). */
  readonly publishOptions?: Omit<PublishOptions, 'onCall'>;
}

/**
 * Delivers a batch of queued events to one EventBridge destination:
 *
 * 1. the bus is verified (DescribeEventBus, cached): a missing bus fails every event, permanently,
 *    with `EventBusNotFound`, and nothing is sent;
 * 2. each event becomes one entry (core/eventbridge-entries.ts); an entry too large for any request
 *    fails alone with `EntryTooLarge`;
 * 3. entries go out in requests of at most 10 entries and the request size limit, one request at a
 *    time (the destination's concurrency cap bounds the calls a customer's bus sees); only failed
 *    entries are retried (adapters/eventbridge-publisher.ts);
 * 4. a request that fails as a whole with a transient error stops the batch: the requests not sent
 *    yet get the same failure and come back through the queue's backoff rather than meet the same
 *    throttling now.
 *
 * Each PutEvents call leaves audit records: one per outcome of its entries (delivered, or failed with
 * one code), with the bus as target; the calls of one batch join into one record per outcome.
 */
export async function deliverEntries(
  events: readonly QueuedEvent[],
  deps: EventBridgeDeliveryDeps,
): Promise<Map<string, DeliveryOutcome>> {
  const outcomes = new Map<string, DeliveryOutcome>();
  // A redelivered duplicate shares its event's outcome: send the entry once.
  const records = [...new Map(events.map((e) => [e.record.eventId, e.record])).values()];
  const failAll = (ids: Iterable<string>, failure: ClassifiedFailure) => {
    for (const id of ids) outcomes.set(id, { ok: false, failure });
  };

  const bus = await deps.verifyBus();
  if (!bus.ok) {
    deps.logger.warn('event bus cannot be used', {
      busArn: deps.destination.busArn,
      errorCode: bus.failure.code,
      failureClass: bus.failure.failureClass,
    });
    failAll(
      records.map((r) => r.eventId),
      bus.failure,
    );
    return outcomes;
  }

  const settings = { source: deps.source, busArn: deps.destination.busArn };
  const plan = chunkEntries(records.map((r) => ({ eventId: r.eventId, entry: toEntry(r, settings) })));
  for (const { eventId, failure } of plan.tooLarge) outcomes.set(eventId, { ok: false, failure });

  let callNumber = 0;
  // The call each entry's latest result came from: its receipt entry (core/trace.ts).
  const lastCall = new Map<string, { call: string; at: Date; latencyMs: number }>();
  for (const [n, chunk] of plan.chunks.entries()) {
    const { results, callFailure } = await publish(
      deps.client,
      chunk.map((c) => c.entry),
      {
        ...deps.publishOptions,
        onCall: async (call) => {
          callNumber += 1;
          const made = { call: `PutEvents#${callNumber}`, at: new Date(), latencyMs: call.latencyMs };
          for (const i of call.indices) lastCall.set((chunk[i] as (typeof chunk)[number]).eventId, made);
          await recordCall(
            deps,
            call.indices.map((i) => (chunk[i] as (typeof chunk)[number]).eventId),
            call.results,
            call.latencyMs,
          );
        },
      },
    );
    results.forEach((result, i) => {
      const eventId = (chunk[i] as (typeof chunk)[number]).eventId;
      const made = lastCall.get(eventId) ?? {};
      outcomes.set(
        eventId,
        result.ok
          ? { ok: true, ...made, ...(result.entryId ? { target: result.entryId } : {}) }
          : { ...result, ...made },
      );
    });
    if (callFailure?.failureClass === 'transient') {
      failAll(
        plan.chunks.slice(n + 1).flatMap((c) => c.map((e) => e.eventId)),
        callFailure,
      );
      break;
    }
  }
  return outcomes;
}

/**
 * The test send of an EventBridge destination: the synthetic event through `deliverEntries` itself
 * (the bus check, the entry every event gets, PutEvents), in one call without in-call retries, so the
 * answer is what the customer's setup does to the first attempt. The target is the entry's EventId.
 */
export async function sendTestEntry(
  record: EventRecord,
  deps: EventBridgeDeliveryDeps,
): Promise<TestDelivery> {
  const queued: QueuedEvent = { messageId: record.eventId, receiptHandle: '', body: '', record };
  const outcomes = await deliverEntries([queued], {
    ...deps,
    publishOptions: { ...deps.publishOptions, maxAttempts: 1 },
  });
  return (
    outcomes.get(record.eventId) ?? {
      ok: false,
      failure: { failureClass: 'transient', code: 'NotDelivered', message: 'PutEvents gave no result' },
    }
  );
}

/**
 * One audit record per outcome of a call's entries, naming the bus; the batch's calls join into one
 * record per outcome (AttemptRecord `joinsBatch`). Best effort: the audit never fails delivery.
 */
async function recordCall(
  deps: EventBridgeDeliveryDeps,
  eventIds: readonly string[],
  results: readonly EntryResult[],
  latencyMs: number,
): Promise<void> {
  const groups = new Map<string, { eventIds: string[]; failure?: ClassifiedFailure }>();
  results.forEach((result, i) => {
    const key = result.ok ? '' : `${result.failure.failureClass}\u0000${result.failure.code}`;
    const group = groups.get(key) ?? { eventIds: [], ...(result.ok ? {} : { failure: result.failure }) };
    group.eventIds.push(eventIds[i] as string);
    groups.set(key, group);
  });
  for (const { eventIds: ids, failure } of groups.values()) {
    const record: AttemptRecord = {
      destinationId: deps.destination.id,
      destinationType: 'EVENTBRIDGE',
      eventIds: ids,
      outcome: failure ? 'failed' : 'delivered',
      latencyMs,
      credentialsMode: deps.credentialsMode,
      target: deps.destination.busArn,
      joinsBatch: true,
      ...(failure
        ? { failureClass: failure.failureClass, errorCode: failure.code, errorMessage: failure.message }
        : {}),
    };
    await deps.attempts
      .record(record)
      .catch((error: unknown) => deps.logger.warn('could not record the attempt', { error }));
  }
}
