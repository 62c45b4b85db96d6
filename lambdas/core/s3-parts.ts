import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import type { EventRecord } from './event.js';

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

/** One NDJSON line: the record as RFC 8785 canonical JSON, then `\n`. */
export function ndjsonLine(record: EventRecord): string {
  return `${canonicalJson(record)}\n`;
}

/** Orders records by occurredAt instant, then eventId: the same set always yields the same bytes. */
export function compareRecords(a: EventRecord, b: EventRecord): number {
  const t = Date.parse(a.occurredAt) - Date.parse(b.occurredAt);
  if (t !== 0) return t;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

/** Builds a part from records already in their sealed order. */
export function buildPart(keyPrefix: string, records: readonly EventRecord[]): PlannedPart {
  const first = records[0];
  if (!first) throw new Error('a part needs at least one record');
  const partition = partitionOf(first);
  const body = Buffer.from(records.map(ndjsonLine).join(''), 'utf8');
  const sha256Hex = createHash('sha256').update(body).digest('hex');
  const instants = records.map((r) => Date.parse(r.occurredAt));
  return {
    partition,
    records,
    body,
    sha256Hex,
    key: objectKey(keyPrefix, partition, sha256Hex),
    firstOccurredAt: new Date(Math.min(...instants)).toISOString(),
    lastOccurredAt: new Date(Math.max(...instants)).toISOString(),
  };
}

/**
 * Groups records by partition, orders each group, and cuts it into parts of at most `maxEvents`
 * lines and `maxBytes` bytes. Duplicate eventIds collapse to one line.
 */
export function planParts(
  keyPrefix: string,
  records: readonly EventRecord[],
  limits: PartLimits,
): PlannedPart[] {
  const unique = new Map<string, EventRecord>();
  for (const r of records) if (!unique.has(r.eventId)) unique.set(r.eventId, r);
  const groups = new Map<string, EventRecord[]>();
  for (const r of unique.values()) {
    const p = partitionOf(r);
    const key = `${p.eventType}\u0000${p.dt}\u0000${p.hour}`;
    const group = groups.get(key) ?? [];
    group.push(r);
    groups.set(key, group);
  }
  const parts: PlannedPart[] = [];
  for (const key of [...groups.keys()].sort()) {
    const group = (groups.get(key) as EventRecord[]).sort(compareRecords);
    let current: EventRecord[] = [];
    let bytes = 0;
    for (const r of group) {
      const size = Buffer.byteLength(ndjsonLine(r), 'utf8');
      if (current.length > 0 && (current.length >= limits.maxEvents || bytes + size > limits.maxBytes)) {
        parts.push(buildPart(keyPrefix, current));
        current = [];
        bytes = 0;
      }
      current.push(r);
      bytes += size;
    }
    if (current.length > 0) parts.push(buildPart(keyPrefix, current));
  }
  return parts;
}
