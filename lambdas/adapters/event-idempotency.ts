import { randomUUID } from 'node:crypto';
import {
  IdempotencyItemAlreadyExistsError,
  IdempotencyItemNotFoundError,
  IdempotencyRecordStatus,
} from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { EventStore, IngestState, StoredEvent } from './event-store.js';

/**
 * Powertools idempotency, with each event's record kept in its event item (adapters/event-store.ts)
 * instead of a separate item, and its COMPLETED state written once per request instead of once per event.
 *
 * Powertools' own DynamoDB layer costs two writes per event beside the event item's: the INPROGRESS put
 * and the COMPLETED update. Here:
 * - **INPROGRESS** is the event item's write itself (`EventStore.claim`): stored bytes, routing and claim
 *   in one conditional write;
 * - **COMPLETED** is one small completion marker per request (`done#<uuid>` in the idempotency table, the
 *   eventIds whose fan-out finished), written when every event of the request has finished or failed.
 *   The claim names its marker, so an event is COMPLETED when it is INPROGRESS and its marker lists it.
 * - **a failed attempt** releases its claim (Powertools deletes its record); the stored event stays, so
 *   the retry re-enqueues the same bytes (invariant 2).
 *
 * Powertools still decides everything else: key hashing, payload validation (same key, other body:
 * IdempotencyValidationError, answered 409), in-progress detection and the stored response.
 */

/** What one attempt hands the layer, inside the idempotent function's first argument. */
export interface IngestAttempt {
  readonly eventId: string;
  /** The event as this attempt would store it (its bytes lose to the ones stored first). */
  readonly candidate: StoredEvent;
  readonly completion: CompletionParticipant;
  /** Set by the layer once the claim is written: the event as stored (this attempt's or a retry's). */
  stored?: StoredEvent;
}

/** The argument Powertools hashes: the key pair, the body hash it validates, and the attempt. */
export interface IdempotentIngestInput {
  readonly customerExternalId: string;
  readonly idempotencyKey: string;
  readonly bodyHash: string;
  readonly attempt: IngestAttempt;
}

/** What Powertools stores as the result, rebuilt from the event item (it is never written). */
interface IngestResult {
  readonly eventId: string;
  readonly destinations: string[];
  [key: string]: string | string[];
}

const MARKER_PREFIX = 'done#';
const KNOWN_MARKERS = 1000;

export class EventItemPersistence extends BasePersistenceLayer {
  /**
   * The attempt of the call in progress. Powertools hands its hooks only the hashed key, which two
   * concurrent requests for one key share (the local runtime serves requests concurrently), so each
   * public method below hands its hook the attempt itself: it sets this, calls Powertools, and clears it
   * at once. The hook takes it in its first, synchronous step; if a Powertools upgrade ever called a hook
   * later, `take` throws and every ingest test fails, rather than one attempt using another's data.
   */
  private current: IngestAttempt | undefined;

  public constructor(
    private readonly store: EventStore,
    private readonly markers: CompletionMarkers,
  ) {
    super();
  }

  private bound<T>(data: unknown, call: () => Promise<T>): Promise<T> {
    this.current = (data as IdempotentIngestInput).attempt;
    try {
      return call();
    } finally {
      this.current = undefined;
    }
  }

  private take(): IngestAttempt {
    const attempt = this.current;
    if (!attempt) throw new Error('an idempotency hook ran without its ingest attempt');
    this.current = undefined;
    return attempt;
  }

  public override saveInProgress(data: unknown, remainingTimeInMillis?: number): Promise<void> {
    return this.bound(data, () => super.saveInProgress(data as never, remainingTimeInMillis));
  }

  public override saveSuccess(data: unknown, result: unknown): Promise<void> {
    return this.bound(data, () => super.saveSuccess(data as never, result as never));
  }

  public override deleteRecord(data: unknown): Promise<void> {
    return this.bound(data, () => super.deleteRecord(data as never));
  }

  public override getRecord(data: unknown): Promise<IdempotencyRecord> {
    return this.bound(data, () => super.getRecord(data as never));
  }

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    const attempt = this.take();
    const claim = {
      // Without a Lambda context (never in Lambda) an attempt counts as alive for a minute.
      inProgressExpiry: record.inProgressExpiryTimestamp ?? Date.now() + 60_000,
      completion: attempt.completion.markerId,
    };
    const candidate = {
      ...attempt.candidate,
      expiresAt: record.expiryTimestamp ?? attempt.candidate.expiresAt,
    };
    const nowSeconds = Math.floor(Date.now() / 1000);
    const result = await this.store.claim(candidate, claim, nowSeconds);
    if (result.claimed) {
      attempt.stored = result.stored;
      return;
    }
    const existing = await this.recordOf(record, attempt, result.stored, result.state);
    if (existing.getStatus() === IdempotencyRecordStatus.INPROGRESS) {
      // No live attempt holds the claim: one that died before finishing (its invocation timed out or
      // crashed), or an item from before claims whose Powertools record is not COMPLETED. Take the claim
      // over and run again; of two retries racing for it, the loser sees it in progress.
      const dead = result.state.status === undefined ? undefined : result.state.inProgressExpiry;
      const abandoned =
        result.stored.bodyHash === attempt.candidate.bodyHash &&
        (result.state.status === undefined || (dead !== undefined && dead < Date.now()));
      const taken = abandoned ? await this.store.takeOver(attempt.eventId, dead, claim) : undefined;
      if (taken) {
        attempt.stored = taken;
        return;
      }
    }
    throw new IdempotencyItemAlreadyExistsError(
      `the event ${attempt.eventId} is already accepted or in progress`,
      existing,
    );
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    const attempt = this.take();
    const got = await this.store.get(attempt.eventId);
    if (!got || got.state.status === 'RELEASED') {
      throw new IdempotencyItemNotFoundError(`no record for ${attempt.eventId}`);
    }
    const probe = new IdempotencyRecord({
      idempotencyKey,
      status: IdempotencyRecordStatus.INPROGRESS,
      payloadHash: undefined,
    });
    return this.recordOf(probe, attempt, got.stored, got.state);
  }

  protected async _updateRecord(_record: IdempotencyRecord): Promise<void> {
    const attempt = this.take();
    // Resolves once the request's marker holding this event is written (one write for the request).
    await attempt.completion.complete(attempt.eventId);
  }

  protected async _deleteRecord(_record: IdempotencyRecord): Promise<void> {
    const attempt = this.take();
    await this.store.release(attempt.eventId);
  }

  /**
   * The Powertools record an event item stands for. Its payload hash is the one Powertools computed for
   * this request when the stored body is the same, and a different value otherwise, so that Powertools'
   * own validation answers "same key, other body".
   */
  private async recordOf(
    requested: IdempotencyRecord,
    attempt: IngestAttempt,
    stored: StoredEvent,
    state: IngestState,
  ): Promise<IdempotencyRecord> {
    const completed =
      state.status === 'COMPLETED' ||
      (state.status === 'INPROGRESS' &&
        state.completion !== undefined &&
        (await this.markers.lists(state.completion, attempt.eventId))) ||
      // Accepted before the record moved into the event item: its Powertools record says.
      (state.status === undefined && (await this.markers.legacyCompleted(requested.idempotencyKey)));
    const response: IngestResult = { eventId: stored.eventId, destinations: [...stored.destinations] };
    return new IdempotencyRecord({
      idempotencyKey: requested.idempotencyKey,
      status: completed ? IdempotencyRecordStatus.COMPLETED : IdempotencyRecordStatus.INPROGRESS,
      expiryTimestamp: stored.expiresAt,
      ...(completed ? {} : { inProgressExpiryTimestamp: state.inProgressExpiry }),
      responseData: response,
      payloadHash:
        stored.bodyHash === attempt.candidate.bodyHash
          ? requested.payloadHash
          : `other-body:${stored.bodyHash}`,
    });
  }
}

/** One event's handle on its request's completion marker. */
export interface CompletionParticipant {
  readonly markerId: string;
  /** The event's fan-out finished: resolves when the marker listing it is written. */
  complete(eventId: string): Promise<void>;
  /** The event needs no marker (a duplicate, a failure): always called once, after complete or not. */
  finish(): void;
}

/**
 * The completion markers (idempotency table, key `id`): `done#<uuid>` → the eventIds of one request whose
 * fan-out finished. Written once, never changed, so a marker read is cached for the container's life.
 */
export class CompletionMarkers {
  /** Markers read, newest last; bounded, since a container may live for hours of retries. */
  private readonly known = new Map<string, ReadonlySet<string>>();

  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionSeconds: number,
  ) {}

  /**
   * A marker for one request of `participants` events. It is written when every participant has
   * completed or finished (never on a timer), with the eventIds that completed; a request where none
   * completed writes nothing.
   */
  public forRequest(participants: number): () => CompletionParticipant {
    const markerId = `${MARKER_PREFIX}${randomUUID()}`;
    const completed: string[] = [];
    const waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
    let running = participants;
    const write = async () => {
      try {
        if (completed.length > 0) await this.write(markerId, completed);
        for (const w of waiting) w.resolve();
      } catch (error) {
        for (const w of waiting) w.reject(error);
      }
    };
    return () => {
      let done = false;
      const goIdle = () => {
        if (done) return;
        done = true;
        running -= 1;
        if (running === 0) void write();
      };
      return {
        markerId,
        complete: (eventId) =>
          new Promise<void>((resolve, reject) => {
            completed.push(eventId);
            waiting.push({ resolve, reject });
            goIdle();
          }),
        finish: goIdle,
      };
    };
  }

  /**
   * Whether Powertools' own DynamoDB layer recorded the key COMPLETED, and not expired, in this table
   * (its default attribute names), as ingest did before the record moved into the event item: so a
   * retry of a key accepted before the upgrade is still a duplicate. Read only for such items.
   */
  public async legacyCompleted(idempotencyKey: string): Promise<boolean> {
    const got = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ id: idempotencyKey }),
        ConsistentRead: true,
      }),
    );
    if (!got.Item) return false;
    const record = unmarshall(got.Item) as { status?: string; expiration?: number };
    return record.status === 'COMPLETED' && (record.expiration ?? 0) > Date.now() / 1000;
  }

  /** Whether the marker exists and lists the event (strongly consistent: it may be seconds old). */
  public async lists(markerId: string, eventId: string): Promise<boolean> {
    let members = this.known.get(markerId);
    if (!members) {
      const got = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: marshall({ id: markerId }),
          ConsistentRead: true,
        }),
      );
      if (!got.Item) return false;
      members = (unmarshall(got.Item) as { events: Set<string> }).events;
      this.known.set(markerId, members);
      if (this.known.size > KNOWN_MARKERS) this.known.delete(this.known.keys().next().value as string);
    }
    return members.has(eventId);
  }

  private async write(markerId: string, eventIds: readonly string[]): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          id: markerId,
          events: new Set(eventIds),
          expiration: Math.floor(Date.now() / 1000) + this.retentionSeconds,
        }),
      }),
    );
  }
}
