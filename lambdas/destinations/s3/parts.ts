import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical.js';
import type { EventRecord } from '../../core/event.js';

/** The hive partition of an event: its type, and the UTC date and hour of `occurredAt`. */
export interface Partition {
  readonly eventType: string;
  readonly dt: string;
  readonly hour: string;
}

/** A sealed part: which events, in which order; everything else (bytes, key) derives from that. */
export interface PlannedPart {
  readonly partition: Partition;
  readonly records: readonly EventRecord[];
  readonly body: Buffer;
  readonly sha256Hex: string;
  readonly key: string;
  readonly firstOccurredAt: string;
  readonly lastOccurredAt: string;
}

export interface PartLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** dt and hour of an instant in UTC, whatever offset `occurredAt` was written with. */
export function partitionOf(record: Pick<EventRecord, 'eventType' | 'occurredAt'>): Partition {
  const iso = new Date(record.occurredAt).toISOString(); // always UTC, Z
  return { eventType: record.eventType, dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** `raw/pushrail/` and `raw/pushrail` name the same folder; an empty prefix is the bucket root. */
export function normalizeKeyPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

export function partitionPath(keyPrefix: string, p: Partition): string {
  return `${normalizeKeyPrefix(keyPrefix)}event_type=${p.eventType}/dt=${p.dt}/hour=${p.hour}/`;
}

/** `<keyPrefix>event_type=…/dt=…/hour=…/part-<sha256 hex of the object>.ndjson` */
export function objectKey(keyPrefix: string, p: Partition, sha256Hex: string): string {
  return `${partitionPath(keyPrefix, p)}part-${sha256Hex}.ndjson`;
}

/** The folder of test sends under a destination's prefix: Hive-style readers skip `_`-prefixed paths. */
export const TEST_FOLDER = '_pushrail/test/';

/**
 * `<keyPrefix>_pushrail/test/<YYYY-MM-DD>/<HHMMSS>Z-<eventId>.ndjson`: a test send's object. It is
 * outside every `event_type=` partition (an eventType cannot start with `_`), so it never collides
 * with, nor is read as, a real part; the eventId is unique per send.
 */
export function testObjectKey(keyPrefix: string, at: Date, eventId: string): string {
  const iso = at.toISOString();
  const time = `${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${normalizeKeyPrefix(keyPrefix)}${TEST_FOLDER}${iso.slice(0, 10)}/${time}-${eventId}.ndjson`;
}

/** One NDJSON line: the record as RFC 8785 canonical JSON, then `\n`. */
export function ndjsonLine(record: EventRecord): string {
  return `${canonicalJson(record)}\n`;
}

/** Orders records by occurredAt instant, then eventId: the same set always yields the same bytes. */
export function compareRecords(a: EventRecord, b: EventRecord): number {
  return sealedOrder(Date.parse(a.occurredAt), a.eventId, Date.parse(b.occurredAt), b.eventId);
}

/** The one definition of a part's line order: occurredAt instant, then eventId. */
function sealedOrder(instantA: number, idA: string, instantB: number, idB: string): number {
  if (instantA !== instantB) return instantA - instantB;
  return idA < idB ? -1 : idA > idB ? 1 : 0;
}

/** A record with what ordering and sizing need, computed once: its line and its instant. */
interface Line {
  readonly record: EventRecord;
  readonly text: string;
  readonly bytes: number;
  readonly instant: number;
}

function toLine(record: EventRecord): Line {
  const text = ndjsonLine(record);
  return { record, text, bytes: Buffer.byteLength(text, 'utf8'), instant: Date.parse(record.occurredAt) };
}

function compareLines(a: Line, b: Line): number {
  return sealedOrder(a.instant, a.record.eventId, b.instant, b.record.eventId);
}

/** Builds a part from records already in their sealed order. */
export function buildPart(keyPrefix: string, records: readonly EventRecord[]): PlannedPart {
  return partOf(keyPrefix, records.map(toLine));
}

function partOf(keyPrefix: string, lines: readonly Line[]): PlannedPart {
  const first = lines[0];
  if (!first) throw new Error('a part needs at least one record');
  const body = Buffer.from(lines.map((l) => l.text).join(''), 'utf8');
  const sha256Hex = createHash('sha256').update(body).digest('hex');
  let min = first.instant;
  let max = first.instant;
  for (const l of lines) {
    if (l.instant < min) min = l.instant;
    if (l.instant > max) max = l.instant;
  }
  const partition = partitionOf(first.record);
  return {
    partition,
    records: lines.map((l) => l.record),
    body,
    sha256Hex,
    key: objectKey(keyPrefix, partition, sha256Hex),
    firstOccurredAt: new Date(min).toISOString(),
    lastOccurredAt: new Date(max).toISOString(),
  };
}

/**
 * Groups records by partition, orders each group, and cuts it into parts of at most `maxEvents`
 * lines and `maxBytes` bytes. Duplicate eventIds collapse to one line. Each line's canonical JSON and
 * instant are computed once: this is the batcher's hot path.
 */
export function planParts(
  keyPrefix: string,
  records: readonly EventRecord[],
  limits: PartLimits,
): PlannedPart[] {
  const unique = new Map<string, EventRecord>();
  for (const r of records) if (!unique.has(r.eventId)) unique.set(r.eventId, r);
  const groups = new Map<string, Line[]>();
  for (const r of unique.values()) {
    const p = partitionOf(r);
    const key = `${p.eventType}\u0000${p.dt}\u0000${p.hour}`;
    const group = groups.get(key) ?? [];
    group.push(toLine(r));
    groups.set(key, group);
  }
  const parts: PlannedPart[] = [];
  for (const key of [...groups.keys()].sort()) {
    const group = (groups.get(key) as Line[]).sort(compareLines);
    let current: Line[] = [];
    let bytes = 0;
    for (const line of group) {
      if (
        current.length > 0 &&
        (current.length >= limits.maxEvents || bytes + line.bytes > limits.maxBytes)
      ) {
        parts.push(partOf(keyPrefix, current));
        current = [];
        bytes = 0;
      }
      current.push(line);
      bytes += line.bytes;
    }
    if (current.length > 0) parts.push(partOf(keyPrefix, current));
  }
  return parts;
}
