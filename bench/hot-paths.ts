import { createHash } from 'node:crypto';
import { parseIngestRequest } from '../lambdas/core/ingest-request.js';
import { MiB } from '../lambdas/core/limits.js';
import { planParts } from '../lambdas/destinations/s3/parts.js';
import { makeEvents, toRecord } from './workload.js';

/**
 * The two CPU hot paths of the pipeline against the floor of what they must do, side by side in this
 * process: validation + canonicalisation of a request body against only parsing it, and building
 * S3 parts (grouping, ordering, canonical NDJSON, SHA-256) against only hashing the same bytes.
 * Runs are interleaved (path, floor, floor, path, ...) so drift and GC hit both; medians reported.
 */

export interface HotPathResult {
  readonly path: string;
  readonly floor: string;
  readonly eventsPerSecond: number;
  readonly floorEventsPerSecond: number;
  /** How many times the floor's throughput the path is short of: floor ÷ path. */
  readonly ratio: number;
  readonly rounds: number;
}

const ROUNDS = 7;
/** Each timed sample runs at least this long, so timer resolution and call overhead do not matter. */
const MIN_SAMPLE_MS = 60;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Repetitions of `fn` that take about MIN_SAMPLE_MS. */
function calibrate(fn: () => void): number {
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i += 1) fn();
    const ms = performance.now() - t;
    if (ms >= MIN_SAMPLE_MS) return reps;
    reps = Math.ceil(reps * Math.min(10, Math.max(2, (MIN_SAMPLE_MS * 1.2) / Math.max(ms, 0.01))));
  }
}

function eventsPerSecond(fn: () => void, reps: number, eventsPerCall: number): number {
  const t = performance.now();
  for (let i = 0; i < reps; i += 1) fn();
  return (reps * eventsPerCall) / ((performance.now() - t) / 1000);
}

function compare(
  path: string,
  pathFn: () => void,
  floor: string,
  floorFn: () => void,
  eventsPerCall: number,
): HotPathResult {
  // Warm-up (JIT, caches), then interleaved rounds in alternating order.
  const pathReps = calibrate(pathFn);
  const floorReps = calibrate(floorFn);
  const pathSamples: number[] = [];
  const floorSamples: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    if (round % 2 === 0) {
      pathSamples.push(eventsPerSecond(pathFn, pathReps, eventsPerCall));
      floorSamples.push(eventsPerSecond(floorFn, floorReps, eventsPerCall));
    } else {
      floorSamples.push(eventsPerSecond(floorFn, floorReps, eventsPerCall));
      pathSamples.push(eventsPerSecond(pathFn, pathReps, eventsPerCall));
    }
  }
  const eps = median(pathSamples);
  const floorEps = median(floorSamples);
  return {
    path,
    floor,
    eventsPerSecond: eps,
    floorEventsPerSecond: floorEps,
    ratio: floorEps / eps,
    rounds: ROUNDS,
  };
}

export function runHotPaths(): HotPathResult[] {
  const events = makeEvents(1000, 'hot-path');
  const singleBodies = events.map((e) => JSON.stringify(e));
  const batchBodies = Array.from({ length: 10 }, (_, i) =>
    JSON.stringify({ events: events.slice(i * 100, (i + 1) * 100) }),
  );
  const parse = (bodies: readonly string[]) => () => {
    for (const body of bodies) parseIngestRequest({ contentType: 'application/json', body });
  };
  const jsonParse = (bodies: readonly string[]) => () => {
    for (const body of bodies) JSON.parse(body);
  };

  const records = events.map(toRecord);
  const limits = { maxEvents: 1000, maxBytes: 1 * MiB };
  const bodies = planParts('raw/pushrail/', records, limits).map((p) => p.body);
  return [
    compare(
      'parseIngestRequest, 1 event/body',
      parse(singleBodies),
      'JSON.parse',
      jsonParse(singleBodies),
      events.length,
    ),
    compare(
      'parseIngestRequest, 100 events/body',
      parse(batchBodies),
      'JSON.parse',
      jsonParse(batchBodies),
      events.length,
    ),
    compare(
      'planParts, 1,000 records',
      () => planParts('raw/pushrail/', records, limits),
      'SHA-256 of its bytes',
      () => {
        for (const body of bodies) createHash('sha256').update(body).digest('hex');
      },
      records.length,
    ),
  ];
}
