import type { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import pMap from 'p-map';
import type { AttemptLog } from '../../adapters/attempt-log.js';
import type { DeliveryOutcome, QueuedEvent } from '../../adapters/delivery-batch.js';
import type { TestDelivery } from '../../adapters/delivery-runtime.js';
import { putPart } from '../../adapters/s3-writer.js';
import type { PartItem, Seal, SealStore } from '../../adapters/seal-store.js';
import type { EventRecord } from '../../core/event.js';
import { EventRecordSchema } from '../../core/event.js';
import { classifyFailure } from '../../core/failure-classification.js';
import { MiB } from '../../core/limits.js';
import { buildPart, type PlannedPart, planParts, testObjectKey } from './parts.js';
import type { S3DestinationConfig } from './schema.js';

export interface S3DeliveryDeps {
  readonly destination: S3DestinationConfig;
  readonly expectedBucketOwner: string;
  readonly seals: SealStore;
  readonly s3: S3Client;
  /** Stored records by eventId (the event store), to rebuild sealed parts whose members are not all in hand. */
  readonly readRecords: (eventIds: readonly string[]) => Promise<Map<string, string>>;
  readonly attempts: AttemptLog;
  readonly credentialsMode: 'ASSUME_ROLE' | 'ACCESS_KEY';
  readonly logger: Logger;
}

/** Rounds of re-planning when concurrent workers sealed some of our events first. */
const MAX_ROUNDS = 5;
/** Conditional seal writes in flight at once. */
const CLAIM_CONCURRENCY = 32;

class ContentMismatchError extends Error {
  public constructor(key: string) {
    super(`rebuilt part does not hash to its key ${key}; an event record changed after sealing`);
    this.name = 'PartContentMismatch';
  }
}

/**
 * Delivers a batch of events to one S3 destination with no duplicate rows (invariant 5):
 *
 * 1. Events already sealed in a part: that part is (re)written, byte for byte, from its member list.
 * 2. Other events are planned into parts (core/s3-parts.ts); each part is created in `claiming`
 *    state, every member's seal is claimed for it, and only then is it marked `sealed` and PUT.
 * 3. If a member turns out to be sealed elsewhere (a concurrent worker, a crashed earlier attempt),
 *    the part is aborted, its claims released, and the rest is planned again.
 * A crash anywhere leaves either unsealed events (planned again) or a sealed part (rewritten on
 * redelivery) — never an event in two objects.
 */
export async function deliverParts(
  events: readonly QueuedEvent[],
  deps: S3DeliveryDeps,
): Promise<Map<string, DeliveryOutcome>> {
  const { destination } = deps;
  const limits = { maxEvents: destination.maxEvents, maxBytes: Math.floor(destination.batchSizeMb * MiB) };
  const inHand = new Map<string, EventRecord>(events.map((e) => [e.record.eventId, e.record]));
  const outcomes = new Map<string, DeliveryOutcome>();
  const toWrite = new Map<string, PlannedPart | PartItem>();
  let pending = [...inHand.keys()];
  // Round 1 looks up the seals of redelivered events only. An event on its first receive is almost
  // always unsealed, and if it is not (the same event in a second message: an ingest retry, a replay),
  // its conditional claim fails, names the part it is sealed in, and round 2 looks it up: the lookup is
  // a saving, never the guard (the claim is).
  const redelivered = new Set(events.filter((e) => e.firstReceive !== true).map((e) => e.record.eventId));

  for (let round = 1; pending.length > 0 && round <= MAX_ROUNDS; round += 1) {
    const lookup = round === 1 ? pending.filter((id) => redelivered.has(id)) : pending;
    const sealedIn = lookup.length > 0 ? await deps.seals.sealsOf(lookup) : new Map<string, Seal>();
    const retry = new Set<string>();

    // 1. Already sealed: finish or drop the parts they are sealed in.
    const byPart = new Map<string, { id: string; generation: number }[]>();
    for (const id of pending) {
      const seal = sealedIn.get(id);
      if (seal)
        byPart.set(seal.part, [...(byPart.get(seal.part) ?? []), { id, generation: seal.generation }]);
    }
    for (const [key, members] of byPart) {
      const part = await deps.seals.getPart(key);
      const settled = part ? await settlePart(part, deps) : { status: 'aborted' as const };
      if (settled.status === 'sealed') toWrite.set(key, settled.part);
      else {
        // Only the claims of the generation each seal names are released: never a later generation's.
        for (const m of members) await deps.seals.release(m.id, key, m.generation);
        for (const m of members) retry.add(m.id);
      }
    }

    // 2. Not sealed yet: plan, claim, seal.
    const unsealed = pending.filter((id) => !sealedIn.has(id)).map((id) => inHand.get(id) as EventRecord);
    for (const planned of planParts(destination.keyPrefix, unsealed, limits)) {
      const part = await deps.seals.createPart(
        planned.key,
        planned.records.map((r) => r.eventId),
      );
      // The same content was planned before and aborted: open a new generation of it.
      const current = part.status === 'aborted' ? await deps.seals.reopen(part) : part;
      const settled = await settlePart(current, deps);
      if (settled.status === 'sealed') toWrite.set(planned.key, planned);
      else for (const r of planned.records) retry.add(r.eventId);
    }
    pending = [...retry].filter((id) => ![...toWrite.values()].some((p) => memberIds(p).includes(id)));
  }
  for (const id of pending) {
    outcomes.set(id, {
      ok: false,
      failure: {
        failureClass: 'transient',
        code: 'SealContention',
        message: 'could not seal the event into a part; retrying',
      },
    });
  }

  // 3. Write every part that holds an event of this batch.
  await pMap(
    [...toWrite.values()],
    async (part) => {
      const members = memberIds(part).filter((id) => inHand.has(id));
      const started = Date.now();
      let key = 'key' in part ? part.key : '';
      try {
        const planned = 'body' in part ? part : await rebuild(part, inHand, deps);
        key = planned.key;
        const result = await putPart(
          deps.s3,
          {
            bucket: destination.bucket,
            expectedBucketOwner: deps.expectedBucketOwner,
            storageClass: destination.storageClass,
            destinationId: destination.id,
          },
          planned,
        );
        const delivered = {
          ok: true as const,
          target: `s3://${destination.bucket}/${key}`,
          at: new Date(),
          latencyMs: Date.now() - started,
          call: key,
          // The object's SHA-256 (also in its key): the trace keeps the hash, never the bytes.
          sha256: planned.sha256Hex,
        };
        for (const id of members) outcomes.set(id, delivered);
        await recordAttempt(deps, {
          eventIds: memberIds(part),
          outcome: 'delivered',
          latencyMs: Date.now() - started,
          target: key,
        });
        if (result === 'already-written') deps.logger.debug('part was already written', { key });
      } catch (error) {
        const failure = classifyFailure('S3', error);
        const failed = {
          ok: false as const,
          failure,
          ...(key ? { target: `s3://${destination.bucket}/${key}` } : {}),
          latencyMs: Date.now() - started,
        };
        for (const id of members) outcomes.set(id, failed);
        await recordAttempt(deps, {
          eventIds: memberIds(part),
          outcome: 'failed',
          latencyMs: Date.now() - started,
          target: key,
          failureClass: failure.failureClass,
          errorCode: failure.code,
          errorMessage: failure.message,
        });
      }
    },
    { concurrency: 4 },
  );
  return outcomes;
}

/**
 * The test send of an S3 destination: the synthetic event as a one-line part, written by the same
 * PutObject as every part (ExpectedBucketOwner, checksum, storage class, metadata) with the batch's
 * credentials, but under `<keyPrefix>_pushrail/test/` and without sealing: it is no member of any
 * real part, and the seals table never hears of it.
 */
export async function sendTestPart(
  record: EventRecord,
  deps: Pick<S3DeliveryDeps, 'destination' | 'expectedBucketOwner' | 's3'>,
): Promise<TestDelivery> {
  const { destination } = deps;
  const part = buildPart(destination.keyPrefix, [record]);
  const key = testObjectKey(destination.keyPrefix, new Date(record.receivedAt), record.eventId);
  const target = `s3://${destination.bucket}/${key}`;
  try {
    await putPart(
      deps.s3,
      {
        bucket: destination.bucket,
        expectedBucketOwner: deps.expectedBucketOwner,
        storageClass: destination.storageClass,
        destinationId: destination.id,
      },
      { ...part, key },
    );
    return { ok: true, target };
  } catch (error) {
    return { ok: false, failure: classifyFailure('S3', error), target };
  }
}

/**
 * Brings one generation of a part from `claiming` to `sealed` (every member claimed for it) or
 * `aborted` (a member is sealed in another part). Any worker may do this for any part: claims for the
 * same generation are idempotent, and a later generation takes over an earlier one's claims.
 */
async function settlePart(
  part: PartItem,
  deps: S3DeliveryDeps,
): Promise<{ status: 'sealed'; part: PartItem } | { status: 'aborted' }> {
  if (part.status === 'sealed') return { status: 'sealed', part };
  if (part.status === 'aborted') return { status: 'aborted' };
  const { key, generation } = part;
  const releaseAll = () =>
    pMap(part.eventIds, (id) => deps.seals.release(id, key, generation), { concurrency: CLAIM_CONCURRENCY });
  const results = await pMap(part.eventIds, (id) => deps.seals.claim(id, key, generation), {
    concurrency: CLAIM_CONCURRENCY,
  });
  if (results.every((r) => r.claimed)) {
    if (await deps.seals.transition(key, generation, 'claiming', 'sealed')) return { status: 'sealed', part };
  } else if (await deps.seals.transition(key, generation, 'claiming', 'aborted')) {
    await releaseAll();
    return { status: 'aborted' };
  }
  // Someone else moved the part meanwhile: its status now decides.
  const now = await deps.seals.getPart(key);
  if (now?.status === 'sealed' && now.generation === generation) return { status: 'sealed', part: now };
  if (now?.status === 'aborted' && now.generation === generation) await releaseAll();
  return { status: 'aborted' };
}

/** Rebuilds a sealed part's exact bytes from its member list, and checks they hash to its key. */
async function rebuild(
  part: PartItem,
  inHand: Map<string, EventRecord>,
  deps: S3DeliveryDeps,
): Promise<PlannedPart> {
  const missing = part.eventIds.filter((id) => !inHand.has(id));
  const stored = missing.length > 0 ? await deps.readRecords(missing) : new Map<string, string>();
  const records = part.eventIds.map((id) => {
    const record = inHand.get(id) ?? parseStored(stored.get(id));
    if (!record) throw new Error(`event ${id} of sealed part ${part.key} is not in the event store`);
    return record;
  });
  const planned = buildPart(deps.destination.keyPrefix, records);
  if (planned.key !== part.key) throw new ContentMismatchError(part.key);
  return planned;
}

function parseStored(text: string | undefined): EventRecord | undefined {
  if (text === undefined) return undefined;
  return EventRecordSchema.parse(JSON.parse(text)) as EventRecord;
}

function memberIds(part: PlannedPart | PartItem): readonly string[] {
  return 'records' in part ? part.records.map((r) => r.eventId) : part.eventIds;
}

async function recordAttempt(
  deps: S3DeliveryDeps,
  attempt: {
    eventIds: readonly string[];
    outcome: 'delivered' | 'failed';
    latencyMs: number;
    target: string;
    failureClass?: 'transient' | 'permanent';
    errorCode?: string;
    errorMessage?: string;
  },
): Promise<void> {
  await deps.attempts
    .record({
      destinationId: deps.destination.id,
      destinationType: 'S3',
      credentialsMode: deps.credentialsMode,
      ...attempt,
    })
    .catch((error: unknown) => deps.logger.warn('could not record the attempt', { error }));
}
