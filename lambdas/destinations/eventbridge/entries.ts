import { canonicalJson } from '../../core/canonical.js';
import { chunkBy } from '../../core/chunks.js';
import type { EventRecord } from '../../core/event.js';
import type { ClassifiedFailure } from '../../core/failure-classification.js';
import { PUT_EVENTS_MAX_ENTRIES, PUT_EVENTS_MAX_REQUEST_BYTES } from '../../core/limits.js';

/**
 * PutEvents entries, as the "EventBridge entries" contract of DESIGN.md defines them, and how they are
 * packed into requests. Pure: the field names match the SDK's `PutEventsRequestEntry`, so an entry
 * is passed to the client as it is, but nothing here knows the SDK.
 */

/** One PutEvents entry (the subset of the SDK's `PutEventsRequestEntry` Pushrail sets). */
export interface EventBridgeEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly Resources: string[];
  readonly Time: Date;
  readonly EventBusName: string;
}

export interface EntrySettings {
  /** `sourceNamespace(config, destination)`: the configured namespace or `pushrail.<vendor>`. */
  readonly source: string;
  readonly busArn: string;
}

/**
 * The entry for one event. `Detail` is the whole record (event, eventId, receivedAt) as RFC 8785
 * canonical JSON, byte-identical to the S3 line and the queue message, so a customer can dedupe on
 * `detail.eventId`; `Resources` carries the tenant and the idempotency key so rules can route by
 * tenant (`{"resources": ["<customerExternalId>"]}`).
 */
export function toEntry(record: EventRecord, settings: EntrySettings): EventBridgeEntry {
  return {
    Source: settings.source,
    DetailType: record.eventType,
    Detail: canonicalJson(record),
    Resources: [record.customerExternalId, record.idempotencyKey],
    Time: new Date(record.occurredAt),
    EventBusName: settings.busArn,
  };
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * The size EventBridge counts for an entry, per "Calculating Amazon EventBridge PutEvents event entry
 * size" (https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html):
 * `Time`, if present, is 14 bytes; `Source`, `DetailType`, `Detail` and each `Resources` element
 * count their UTF-8 bytes. `EventBusName` (and `TraceHeader`) are not counted.
 */
export function entrySize(entry: Partial<EventBridgeEntry>): number {
  let size = entry.Time === undefined ? 0 : 14;
  size += utf8(entry.Source ?? '') + utf8(entry.DetailType ?? '');
  if (entry.Detail !== undefined) size += utf8(entry.Detail);
  for (const resource of entry.Resources ?? []) size += utf8(resource);
  return size;
}

/** An entry and the event it carries. */
export interface PlannedEntry {
  readonly eventId: string;
  readonly entry: EventBridgeEntry;
  readonly size: number;
}

export interface EntryPlan {
  /** Requests to send, in order: each at most 10 entries and `PUT_EVENTS_MAX_REQUEST_BYTES`. */
  readonly chunks: readonly (readonly PlannedEntry[])[];
  /** Entries that can never fit a request: a permanent failure for that event alone. */
  readonly tooLarge: readonly { readonly eventId: string; readonly failure: ClassifiedFailure }[];
}

/**
 * Splits entries into PutEvents requests, keeping their order. An entry over the request limit on
 * its own is set aside as an `EntryTooLarge` failure instead of failing the request it would be in.
 */
export function chunkEntries(
  items: readonly { readonly eventId: string; readonly entry: EventBridgeEntry }[],
  maxBytes: number = PUT_EVENTS_MAX_REQUEST_BYTES,
): EntryPlan {
  const fits: PlannedEntry[] = [];
  const tooLarge: { eventId: string; failure: ClassifiedFailure }[] = [];
  for (const { eventId, entry } of items) {
    const size = entrySize(entry);
    if (size > maxBytes) {
      tooLarge.push({
        eventId,
        failure: {
          failureClass: 'permanent',
          code: 'EntryTooLarge',
          message: `the EventBridge entry of ${eventId} is ${size} bytes; PutEvents accepts at most ${maxBytes}`,
        },
      });
    } else fits.push({ eventId, entry, size });
  }
  return {
    chunks: chunkBy(fits, { maxCount: PUT_EVENTS_MAX_ENTRIES, maxBytes }, (e) => e.size),
    tooLarge,
  };
}
