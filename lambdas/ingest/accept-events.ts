import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { CompletionMarkers, IdempotentIngestInput } from '../adapters/event-idempotency.js';
import { type EventStore, type StoredEvent, storedEventFor } from '../adapters/event-store.js';
import { QueueFanout } from '../adapters/queue-fanout.js';
import type { RouteSource } from '../adapters/route-cache.js';
import { sha256Hex } from '../core/canonical.js';
import { HttpError, IdempotencyConflictError, IngestUnavailableError } from '../core/errors.js';
import type { EventRecord } from '../core/event.js';
import { deriveEventId } from '../core/event-id.js';
import type { ValidEvent } from '../core/ingest-request.js';
import { toMessage } from '../core/queue-message.js';
import { DAY_SECONDS } from '../core/resources.js';
import { type RouteIndex, route } from '../core/routing.js';

/** What the producer gets back for one accepted event. */
export interface AcceptedEvent {
  readonly eventId: string;
  /** True when an earlier request already accepted this (customerExternalId, idempotencyKey). */
  readonly duplicate: boolean;
  /** The destination ids the event is routed to. */
  readonly destinations: readonly string[];
}

export type EventOutcome =
  | { readonly ok: true; readonly result: AcceptedEvent }
  | { readonly ok: false; readonly error: HttpError };

export interface AcceptEventsDeps {
  readonly store: EventStore;
  readonly sqs: SQSClient;
  readonly queueUrlBase: string;
  /**
   * The routing table, asked once per request (so every event of a request sees the same table):
   * fixed on the stack today, cached from the destinations table on the local runtime.
   */
  readonly routes: RouteSource;
  readonly retentionDays: number;
  /** Powertools' persistence: the event items and completion markers (adapters/event-idempotency.ts). */
  readonly persistenceStore: BasePersistenceLayer;
  readonly markers: CompletionMarkers;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** The idempotency record's payload: Powertools stores this result, so it stays small plain JSON. */
interface IdempotentResult {
  readonly eventId: string;
  readonly destinations: string[];
  readonly duplicate?: boolean;
  [key: string]: unknown;
}

interface PerEvent {
  readonly valid: ValidEvent;
  readonly fanout: ReturnType<QueueFanout['participant']>;
  readonly routes: RouteIndex;
}

/** Kept independent of the function's name, so renaming or redeploying never forgets accepted keys. */
const IDEMPOTENCY_KEY_PREFIX = 'pushrail-ingest';

/**
 * Accepts validated events: for each, store it, route it and enqueue it to every routed destination
 * queue, under a Powertools idempotency record keyed on (customerExternalId, idempotencyKey).
 *
 * An event's record only becomes COMPLETED after all its enqueues succeeded; if any failed, the
 * function throws, Powertools releases the in-progress claim, and the producer's retry runs again:
 * it finds the stored event (same eventId, same receivedAt, same bytes) and enqueues it to the
 * destinations the failed attempt did not reach (invariant 2). The record is the event item itself
 * (adapters/event-idempotency.ts), so the store and the claim are one write.
 */
export function createAcceptEvents(deps: AcceptEventsDeps) {
  const now = deps.now ?? (() => new Date());
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[customerExternalId, idempotencyKey]',
    payloadValidationJmesPath: 'bodyHash',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: deps.retentionDays * DAY_SECONDS,
    responseHook: (response) => ({ ...(response as IdempotentResult), duplicate: true }),
  });

  /** The event as this attempt would store it; a retry finds the first attempt's bytes instead. */
  function candidateOf(valid: ValidEvent, bodyHash: string, routes: RouteIndex): StoredEvent {
    const { event } = valid;
    const eventId = deriveEventId(event.customerExternalId, event.idempotencyKey);
    const receivedAt = now().toISOString();
    const record: EventRecord = { ...event, eventId, receivedAt };
    return storedEventFor(record, {
      bodyHash,
      destinations: route(routes, event).map((r) => r.destinationId),
      expiresAt: Math.floor(now().getTime() / 1000) + deps.retentionDays * DAY_SECONDS,
    });
  }

  /**
   * Runs once the event is stored and claimed (adapters/event-idempotency.ts writes both in one write):
   * enqueues it to every routed destination its earlier attempts did not reach.
   */
  async function acceptOne(input: IdempotentIngestInput, perEvent: PerEvent): Promise<IdempotentResult> {
    const { eventId } = input.attempt;
    const stored = input.attempt.stored ?? input.attempt.candidate;
    // Same key, other body, once the stored event's retention ran out: the stored bytes still win.
    if (stored.bodyHash !== input.bodyHash) {
      throw new IdempotencyConflictError([
        { field: 'idempotencyKey', message: 'already used with a different body' },
      ]);
    }
    const alreadyEnqueued = new Set(stored.enqueued ?? []);

    // A retry enqueues to the destinations the stored event was routed to, less those already reached
    // and those no longer routed (deleted since: their queue may be draining or gone).
    const targets = stored.destinations.flatMap((id) => {
      const r = alreadyEnqueued.has(id) ? undefined : perEvent.routes.ofDestination(id);
      return r ? [{ destinationId: r.destinationId, queueName: r.queueName }] : [];
    });
    const message = toMessage(stored.record, eventId);
    const outcome = await perEvent.fanout.send(message.body, message.attributes, targets);
    if (outcome.failed.length > 0) {
      await deps.store.markEnqueued(eventId, outcome.succeeded).catch((error: unknown) => {
        deps.logger.warn('could not record partial fan-out; the retry will re-enqueue everywhere', {
          eventId,
          error,
        });
      });
      const first = outcome.failed[0];
      throw new IngestUnavailableError(
        `event ${eventId} could not be enqueued for ${outcome.failed.map((f) => f.destinationId).join(', ')}; retry with the same idempotencyKey`,
        { cause: first?.error },
      );
    }
    // No line per event: the handler logs one per request (ingest/handler.ts requestSummary).
    return { eventId, destinations: [...stored.destinations] };
  }

  const idempotentAccept = makeIdempotent(acceptOne, {
    persistenceStore: deps.persistenceStore,
    config,
    dataIndexArgument: 0,
    keyPrefix: IDEMPOTENCY_KEY_PREFIX,
  });

  return {
    /** Registers the invocation's context, so an in-progress record expires when the invocation would. */
    registerLambdaContext: (context: Parameters<IdempotencyConfig['registerLambdaContext']>[0]) =>
      config.registerLambdaContext(context),

    /** Accepts every event of one request; outcomes are in request order. */
    async acceptEvents(events: readonly ValidEvent[]): Promise<EventOutcome[]> {
      // The same key twice in one request is resolved here: same body → one event, answered for both;
      // a different body → 409 for the request before anything is stored.
      const firstIndexByKey = new Map<string, number>();
      const hashes = events.map((v) => sha256Hex(v.canonical));
      const conflicts = new Set<number>();
      events.forEach((v, i) => {
        const key = `${v.event.customerExternalId}\u0000${v.event.idempotencyKey}`;
        const first = firstIndexByKey.get(key);
        if (first === undefined) firstIndexByKey.set(key, i);
        else if (hashes[first] !== hashes[i]) conflicts.add(first).add(i);
      });
      if (conflicts.size > 0) {
        throw new IdempotencyConflictError(
          [...conflicts]
            .sort((a, b) => a - b)
            .map((index) => ({
              index,
              field: 'idempotencyKey',
              message: 'used twice in this request with different bodies',
            })),
        );
      }

      let routes: RouteIndex;
      try {
        routes = await deps.routes();
      } catch (error) {
        deps.logger.error('routing table unavailable', { error });
        throw new IngestUnavailableError(
          'the routing table could not be read; retry with the same idempotencyKey',
          { cause: error },
        );
      }

      const unique = [...firstIndexByKey.values()];
      const fanout = new QueueFanout(deps.sqs, deps.queueUrlBase, unique.length);
      const completions = deps.markers.forRequest(unique.length);
      const settled = await Promise.all(
        unique.map(async (i): Promise<EventOutcome> => {
          const valid = events[i] as ValidEvent;
          const participant = fanout.participant();
          const completion = completions();
          try {
            const input: IdempotentIngestInput = {
              customerExternalId: valid.event.customerExternalId,
              idempotencyKey: valid.event.idempotencyKey,
              bodyHash: hashes[i] as string,
              attempt: {
                eventId: deriveEventId(valid.event.customerExternalId, valid.event.idempotencyKey),
                candidate: candidateOf(valid, hashes[i] as string, routes),
                completion,
              },
            };
            const result = (await idempotentAccept(input, {
              valid,
              fanout: participant,
              routes,
            })) as IdempotentResult;
            return {
              ok: true,
              result: {
                eventId: result.eventId,
                duplicate: result.duplicate === true,
                destinations: result.destinations,
              },
            };
          } catch (error) {
            return { ok: false, error: toHttpError(error, i, deps.logger) };
          } finally {
            participant.finish();
            completion.finish();
          }
        }),
      );
      const byFirst = new Map(unique.map((i, n) => [i, settled[n] as EventOutcome]));
      return events.map((v, i) => {
        const first = firstIndexByKey.get(
          `${v.event.customerExternalId}\u0000${v.event.idempotencyKey}`,
        ) as number;
        const outcome = byFirst.get(first) as EventOutcome;
        if (first === i || !outcome.ok) return outcome;
        return { ok: true, result: { ...outcome.result, duplicate: true } };
      });
    },
  };
}

function toHttpError(error: unknown, index: number, logger: Logger): HttpError {
  if (error instanceof IdempotencyValidationError) {
    return new IdempotencyConflictError(
      [{ index, field: 'idempotencyKey', message: 'already used with a different body' }],
      {
        cause: error,
      },
    );
  }
  if (error instanceof IdempotencyConflictError) {
    return new IdempotencyConflictError(
      [{ index, field: 'idempotencyKey', message: 'already used with a different body' }],
      {
        cause: error,
      },
    );
  }
  if (error instanceof IdempotencyAlreadyInProgressError) {
    return new IngestUnavailableError(
      'a request with this idempotencyKey is in progress; retry shortly with the same key',
      {
        cause: error,
      },
    );
  }
  if (error instanceof HttpError) return error;
  logger.error('event not accepted', { index, error });
  return new IngestUnavailableError(
    'the event could not be stored and enqueued; retry with the same idempotencyKey',
    {
      cause: error,
    },
  );
}
