import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import {
  type ClassifiedFailure,
  classifyEntryError,
  classifyFailure,
} from '../core/failure-classification.js';
import { PUT_EVENTS_MAX_ENTRIES } from '../core/limits.js';

/** What became of one entry of a `publish`. */
export type EntryResult =
  | { readonly ok: true /** The EventId EventBridge gave the entry. */; readonly entryId?: string }
  | { readonly ok: false; readonly failure: ClassifiedFailure };

/** One PutEvents call, reported to `onCall` (the audit trail records one attempt per call). */
export interface PutEventsCall {
  /** 1 for the first call, then one more per in-call retry. */
  readonly attempt: number;
  /** Positions in the `entries` given to `publish` that this call sent. */
  readonly indices: readonly number[];
  /** Aligned with `indices`. */
  readonly results: readonly EntryResult[];
  /** Set when the call as a whole failed (every entry of it carries this failure). */
  readonly callFailure?: ClassifiedFailure;
  readonly latencyMs: number;
}

export interface PublishOptions {
  /** Calls in all, the first included. @default 3 */
  readonly maxAttempts?: number;
  /** @default 100 */
  readonly baseDelayMs?: number;
  /** @default 1000 */
  readonly maxDelayMs?: number;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onCall?: (call: PutEventsCall) => Promise<void> | void;
}

export interface PublishResult {
  /** Aligned with the entries given. */
  readonly results: readonly EntryResult[];
  /** Set when the last call failed as a whole: the caller may stop sending to this bus for now. */
  readonly callFailure?: ClassifiedFailure;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const NO_RESULT: ClassifiedFailure = {
  failureClass: 'transient',
  code: 'MissingEntryResult',
  message: 'PutEvents reported failed entries but gave no result for this one',
};

/**
 * Sends one PutEvents request (at most 10 entries: chunk with core/eventbridge-entries.ts first) and
 * checks `FailedEntryCount` on every response (invariant 6). Entries that failed with a retryable
 * code (`InternalFailure`, `ThrottlingException`) are sent again, alone, a few times within this
 * invocation with full-jitter backoff; entries that succeeded are never sent again, and entries with
 * any other code fail at once as permanent. What is still transient after the last call is returned
 * as a transient failure, so the consumer runtime backs the message off.
 *
 * A call that fails as a whole (after the SDK's own retries) is classified with the EventBridge table
 * and not retried here: throttling and 5xx come back through the queue's backoff instead.
 */
export async function publish(
  client: EventBridgeClient,
  entries: readonly PutEventsRequestEntry[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  if (entries.length > PUT_EVENTS_MAX_ENTRIES) {
    throw new RangeError(`publish takes at most ${PUT_EVENTS_MAX_ENTRIES} entries (got ${entries.length})`);
  }
  const maxAttempts = options.maxAttempts ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 1000;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? sleepMs;

  const results: EntryResult[] = entries.map(() => ({ ok: false, failure: NO_RESULT }));
  let pending = entries.map((_, i) => i);
  for (let attempt = 1; pending.length > 0; attempt += 1) {
    if (attempt > 1) {
      // Full jitter: random(0, min(cap, base · 2^(n-2))).
      await sleep(Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 2))));
    }
    const sent = pending;
    const started = Date.now();
    let callResults: EntryResult[];
    let callFailure: ClassifiedFailure | undefined;
    try {
      const res = await client.send(new PutEventsCommand({ Entries: sent.map((i) => entries[i] ?? {}) }));
      callResults = entryResults(sent.length, res.FailedEntryCount ?? 0, res.Entries ?? []);
    } catch (error) {
      callFailure = classifyFailure('EVENTBRIDGE', error);
      const failure = callFailure;
      callResults = sent.map(() => ({ ok: false, failure }));
    }
    sent.forEach((index, n) => {
      results[index] = callResults[n] as EntryResult;
    });
    await options.onCall?.({
      attempt,
      indices: sent,
      results: callResults,
      latencyMs: Date.now() - started,
      ...(callFailure ? { callFailure } : {}),
    });
    if (callFailure) return { results, callFailure };
    pending = sent.filter((_, n) => {
      const r = callResults[n] as EntryResult;
      return !r.ok && r.failure.failureClass === 'transient';
    });
    if (attempt >= maxAttempts) break;
  }
  return { results };
}

/** Per-entry results of one response: entry n of `Entries` answers entry n of the request. */
function entryResults(
  count: number,
  failedEntryCount: number,
  resultEntries: readonly PutEventsResultEntry[],
): EntryResult[] {
  const ok = (r: PutEventsResultEntry | undefined): EntryResult =>
    r?.EventId ? { ok: true, entryId: r.EventId } : { ok: true };
  if (failedEntryCount === 0) return Array.from({ length: count }, (_, n) => ok(resultEntries[n]));
  return Array.from({ length: count }, (_, n): EntryResult => {
    const r = resultEntries[n];
    if (r?.ErrorCode) return { ok: false, failure: classifyEntryError(r.ErrorCode, r.ErrorMessage) };
    if (r?.EventId) return ok(r);
    return { ok: false, failure: NO_RESULT };
  });
}
