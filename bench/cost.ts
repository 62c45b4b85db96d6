import { randomUUID } from 'node:crypto';
import { storedEventFor, storedItemBytes } from '../lambdas/adapters/event-store.js';
import { canonicalJson, sha256Hex } from '../lambdas/core/canonical.js';
import type { EventRecord } from '../lambdas/core/event.js';
import { MiB } from '../lambdas/core/limits.js';
import { EVENTBRIDGE_BATCHING } from '../lambdas/destinations/eventbridge/kind.js';
import { KINDS } from '../lambdas/destinations/index.js';
import type { S3DestinationConfig } from '../lambdas/destinations/s3/schema.js';
import type { MeterSnapshot, OpTotals } from './aws-meter.js';
import type { ModeResult } from './pipeline.js';
import { type PriceFile, unitPrice } from './prices.js';

/** The ingest function's memory (lib/ingest-api.ts; the consumers' sizes are in the kinds registry). */
export { INGEST_MEMORY_MB } from '../lambdas/core/resources.js';

import { AUTHORIZER_MEMORY_MB, DAY_SECONDS, INGEST_MEMORY_MB } from '../lambdas/core/resources.js';

/** START, END and REPORT lines Lambda writes per invocation (text format), about this many bytes. */
const PLATFORM_LOG_BYTES = Buffer.byteLength(
  'START RequestId: 8f507cfc-6b4e-4697-b07a-ac58fc914c95 Version: $LATEST\n' +
    'END RequestId: 8f507cfc-6b4e-4697-b07a-ac58fc914c95\n' +
    'REPORT RequestId: 8f507cfc-6b4e-4697-b07a-ac58fc914c95\tDuration: 41.27 ms\tBilled Duration: 42 ms\t' +
    'Memory Size: 1024 MB\tMax Memory Used: 112 MB\t\n',
);
/** One API Gateway access log line in the format of lib/ingest-api.ts accessLogFormat, typical values. */
const ACCESS_LOG_BYTES = Buffer.byteLength(
  `${JSON.stringify({
    requestId: '6c9c8a5e-2f0e-4d3a-9b1e-6a2f1c0d9e8b',
    ip: '203.0.113.17',
    userAgent: 'billing-service/2.3 node/24',
    apiKeyId: 'a1b2c3d4e5',
    httpMethod: 'POST',
    resourcePath: '/v1/events',
    status: '202',
    responseLength: '104',
    responseLatencyMs: '48',
    integrationStatus: '202',
    integrationLatencyMs: '45',
    errorType: '-',
    errorMessage: '-',
  })}\n`,
);
const GB = 1e9;
const SQS_CHUNK = 64 * 1024;

export interface CostLine {
  /** Stable name of the line, also across memory sizes (bench/baseline.json is keyed by it). */
  readonly key: string;
  readonly item: string;
  readonly billedTo: 'vendor' | 'customer';
  readonly unit: string;
  /** Billing units per 1,000 events. */
  readonly perThousand: number;
  readonly usdPerMillion: number;
  readonly floorPerThousand: number;
  readonly floorUsdPerMillion: number;
}

export interface CostReport {
  readonly lines: readonly CostLine[];
  readonly vendor: { readonly usdPerMillion: number; readonly floorUsdPerMillion: number };
  readonly customer: { readonly usdPerMillion: number; readonly floorUsdPerMillion: number };
  /** Per function: invocations, mean billed duration, its memory and the price of a second of it. */
  readonly durations: Record<string, FunctionDuration>;
  readonly minObjects: number;
  /** The same vendor cost by leg (ingest, the S3 leg, the EventBridge leg), for the comparisons. */
  readonly legs: Record<Leg, number>;
  /** What managed services would charge for the same work, per million events. */
  readonly alternatives: Alternatives;
}

export type Leg = 'ingest' | 's3' | 'eventBridge';

export interface FunctionDuration {
  readonly invocations: number;
  readonly meanBilledMs: number;
  /** Ingest only: mean CPU time of this process during the sampled invocations. */
  readonly meanCpuMs?: number;
  readonly memoryMb: number;
  /** USD per second of duration at that memory (arm64): the GB-s price times the memory in GB. */
  readonly usdPerSecond: number;
}

export interface Alternatives {
  /**
   * The same run through the other API: a REST run priced as HTTP API requests (512 KiB units, the
   * authorizer's ~0 per event left out), an HTTP API run priced at REST's request price without the
   * authorizer's invocations, GB-s and log lines. `savedUsdPerMillion` is what the HTTP API saves.
   */
  readonly otherGateway: {
    readonly gateway: 'rest' | 'http';
    readonly usdPerMillion: number;
    readonly savedUsdPerMillion: number;
  };
  /** Amazon Data Firehose Direct PUT with dynamic partitioning, for the S3 leg. */
  readonly firehose: number;
  /** EventBridge Pipes from the same SQS queue, for the EventBridge leg (SQS requests included). */
  readonly pipes: number;
  /** API Gateway straight into a queue or stream (no store, no idempotency), for the ingest leg. */
  readonly directIntegration: number;
}

/** What the floor is computed from, besides the run's own counts. */
export interface FloorInputs {
  /** Bytes of each event's record (canonical JSON, as delivered). */
  readonly recordBytes: readonly number[];
  /** Bytes of each event's item as the event store writes it (floorEventItemBytes). */
  readonly storedItemBytes: readonly number[];
  /** Destinations each event is routed to: one queue each, and a seal per event on each S3 one. */
  readonly destinations: { readonly s3: number; readonly all: number };
}

/**
 * The billed size of the event item ingest writes for `record` (adapters/event-store.ts: the deflated
 * record, routing to the workload's destinations and the idempotency claim), which the floor charges
 * one write unit per started KiB: the size any design that stores the event durably must write.
 */
export function floorEventItemBytes(record: EventRecord, destinations: readonly string[]): number {
  const receivedAt = Date.parse(record.receivedAt);
  return storedItemBytes(
    storedEventFor(record, {
      bodyHash: sha256Hex(canonicalJson(record)),
      destinations,
      expiresAt: Math.floor(receivedAt / 1000) + 30 * DAY_SECONDS,
    }),
    { inProgressExpiry: receivedAt + 29_000, completion: `done#${randomUUID()}` },
  );
}

/**
 * Idempotent ingest needs one write per POST after its enqueues: a retry of an accepted request must
 * find that they happened (invariants 2 and 3), and the event item's claim is written before them. A
 * request's completion marker (adapters/event-idempotency.ts) is well under 1 KiB for 100 events.
 */
const COMPLETION_WRITE_UNITS = 1;

/** A seal item (adapters/seal-store.ts: key, part, generation, expiry) is well under 1 KiB: one unit. */
const SEAL_WRITE_UNITS = 1;
/**
 * SQS message bytes beside the record: the `eventId` message attribute (name, data type, a 36-character
 * id) that ingest sends with each message.
 */
const MESSAGE_OVERHEAD_BYTES = 'eventId'.length + 'String'.length + 36;

/** Sums an operation's totals over every actor (`ingest SQS.SendMessageBatch` + `esm ...`). */
export function opTotals(snapshot: MeterSnapshot, op: string, actor?: string): OpTotals {
  const sum: OpTotals = { calls: 0, attempts: 0, errors: 0, entries: 0, billed: 0, bytes: 0, ms: 0 };
  for (const [key, t] of Object.entries(snapshot.ops)) {
    const space = key.indexOf(' ');
    if (key.slice(space + 1) !== op || (actor !== undefined && key.slice(0, space) !== actor)) continue;
    sum.calls += t.calls;
    sum.attempts += t.attempts;
    sum.errors += t.errors;
    sum.entries += t.entries;
    sum.billed += t.billed;
    sum.bytes += t.bytes;
    sum.ms += t.ms;
  }
  return sum;
}

/**
 * The fewest objects the run's events fit in: per partition, enough parts for its lines at maxEvents
 * and for its bytes at batchSizeMb.
 */
export function minimumObjects(snapshot: MeterSnapshot, destination: S3DestinationConfig): number {
  const partitions = new Map<string, { lines: number; bytes: number }>();
  for (const o of snapshot.s3Objects) {
    const partition = o.key.slice(0, o.key.lastIndexOf('/'));
    const p = partitions.get(partition) ?? { lines: 0, bytes: 0 };
    p.lines += o.lines;
    p.bytes += o.bytes;
    partitions.set(partition, p);
  }
  let min = 0;
  for (const p of partitions.values()) {
    min += Math.max(
      Math.ceil(p.lines / destination.maxEvents),
      Math.ceil(p.bytes / (destination.batchSizeMb * MiB)),
    );
  }
  return min;
}

/** SQS requests to move `messages` (bytes each) in requests of at most 10 messages and 64 KiB chunks. */
function sqsRequests(messages: readonly number[]): number {
  let requests = 0;
  for (let i = 0; i < messages.length; i += 10) {
    requests += Math.max(1, Math.ceil(messages.slice(i, i + 10).reduce((a, b) => a + b, 0) / SQS_CHUNK));
  }
  return requests;
}

/**
 * The SQS requests the design cannot avoid on one destination queue: each POST sends its own messages
 * (a SendMessageBatch cannot span two requests, so a single-event POST is one send per destination),
 * and the consumer receives and deletes ten at a time; payloads bill per 64 KiB chunk.
 */
export function sqsFloor(eventsPerPost: readonly number[], messageBytes: readonly number[]): number {
  let sends = 0;
  let at = 0;
  for (const count of eventsPerPost) {
    sends += sqsRequests(messageBytes.slice(at, at + count));
    at += count;
  }
  const receives = sqsRequests(messageBytes);
  const deletes = Math.ceil(messageBytes.length / 10);
  return sends + receives + deletes;
}

/** What one event costs to deliver, from the metered run, beside what the design cannot avoid. */
export function costReport(
  run: ModeResult,
  prices: PriceFile,
  destination: S3DestinationConfig,
  floor: FloorInputs,
): CostReport {
  const n = run.events;
  const m = run.meter;
  const perK = (units: number) => (units * 1000) / n;
  const perMillion = (units: number, price: number) => ((units * price) / n) * 1e6;
  const lines: CostLine[] = [];
  const add = (
    key: string,
    item: string,
    billedTo: 'vendor' | 'customer',
    unit: string,
    units: number,
    price: number,
    floorUnits: number,
  ) => {
    lines.push({
      key,
      item,
      billedTo,
      unit,
      perThousand: perK(units),
      usdPerMillion: perMillion(units, price),
      floorPerThousand: perK(floorUnits),
      floorUsdPerMillion: perMillion(floorUnits, price),
    });
  };
  const legs: Record<Leg, number> = { ingest: 0, s3: 0, eventBridge: 0 };
  const toLeg = (leg: Leg, units: number, price: number) => {
    legs[leg] += perMillion(units, price);
  };

  // Consumers' minimum invocations: one per full batch.
  const s3Batches = Math.ceil(n / destination.maxEvents);
  const ebBatches = Math.ceil(n / EVENTBRIDGE_BATCHING.batchSize);
  const invocations = Object.values(m.invocations).reduce((s, i) => s + (i?.count ?? 0), 0);
  const count = (actor: string) => m.invocations[actor as keyof typeof m.invocations]?.count ?? 0;

  // The API the POSTs went through: REST bills each request, an HTTP API each started 512 KiB of one.
  const restPrice = unitPrice(prices, 'apiGatewayRestRequest');
  const httpPrice = unitPrice(prices, 'apiGatewayHttpRequest');
  const http = run.gateway === 'http';
  const gatewayUnits = http ? run.httpApiRequests : run.posts;
  const gatewayPrice = http ? httpPrice : restPrice;
  add(
    'apiGateway',
    http ? 'API Gateway HTTP API requests (512 KiB units)' : 'API Gateway REST requests',
    'vendor',
    'requests',
    gatewayUnits,
    gatewayPrice,
    gatewayUnits,
  );
  toLeg('ingest', gatewayUnits, gatewayPrice);
  const requestPrice = unitPrice(prices, 'lambdaRequest');
  add(
    'lambdaRequests',
    'Lambda requests',
    'vendor',
    'invocations',
    invocations,
    requestPrice,
    run.posts + s3Batches + ebBatches,
  );
  toLeg('ingest', count('ingest') + count('authorizer'), requestPrice);
  toLeg('s3', count('s3-batcher'), requestPrice);
  toLeg('eventBridge', count('eventbridge-sender'), requestPrice);

  // Ingest: the mean of the one-at-a-time sample, times every invocation; consumers: as measured.
  const gbSecond = unitPrice(prices, 'lambdaArmGbSecond');
  const ingestCount = count('ingest');
  const mean = (values: readonly number[]) =>
    values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : 0;
  const ingestMeanMs = mean(run.ingestSampleMs.map((ms) => Math.ceil(ms)));
  const durations: Record<string, FunctionDuration> = {
    ingest: {
      invocations: ingestCount,
      meanBilledMs: ingestMeanMs,
      meanCpuMs: mean(run.ingestSampleCpuMs ?? []),
      memoryMb: INGEST_MEMORY_MB,
      usdPerSecond: gbSecond * (INGEST_MEMORY_MB / 1024),
    },
  };
  const gbSeconds: [string, Leg, number, number][] = [
    ['ingest', 'ingest', ingestCount * ingestMeanMs, INGEST_MEMORY_MB],
  ];
  // The authorizer (HTTP API runs only): its measured invocations, one per key per cache TTL.
  const measured = [
    ...(http ? ([['authorizer', 'ingest', AUTHORIZER_MEMORY_MB]] as const) : []),
    ['s3-batcher', 's3', KINDS.S3.delivery.memoryMb],
    ['eventbridge-sender', 'eventBridge', KINDS.EVENTBRIDGE.delivery.memoryMb],
  ] as const;
  for (const [actor, leg, memory] of measured) {
    const i = m.invocations[actor];
    durations[actor] = {
      invocations: i?.count ?? 0,
      meanBilledMs: i && i.count > 0 ? i.billedMs / i.count : 0,
      memoryMb: memory,
      usdPerSecond: gbSecond * (memory / 1024),
    };
    gbSeconds.push([actor, leg, i?.billedMs ?? 0, memory]);
  }
  for (const [actor, leg, ms, memory] of gbSeconds) {
    const units = (ms / 1000) * (memory / 1024);
    add(`gbs:${actor}`, `Lambda GB-s ${actor} (${memory} MB, arm64)`, 'vendor', 'GB-s', units, gbSecond, 0);
    toLeg(leg, units, gbSecond);
  }

  // Floor: the event item per started KiB, one completion write per POST, and one seal per event on each
  // S3 destination.
  const wruPrice = unitPrice(prices, 'dynamodbWriteRequestUnit');
  const rruPrice = unitPrice(prices, 'dynamodbReadRequestUnit');
  const tables = Object.values(m.tables);
  const wru = tables.reduce((s, t) => s + t.wru, 0);
  const rru = tables.reduce((s, t) => s + t.rru, 0);
  const floorWru =
    floor.storedItemBytes.reduce((s, b) => s + Math.max(1, Math.ceil(b / 1024)), 0) +
    run.posts * COMPLETION_WRITE_UNITS +
    n * floor.destinations.s3 * SEAL_WRITE_UNITS;
  add('dynamodbWrites', 'DynamoDB write request units', 'vendor', 'WRU', wru, wruPrice, floorWru);
  add('dynamodbReads', 'DynamoDB read request units', 'vendor', 'RRU', rru, rruPrice, 0);
  const legOfActor: Record<string, Leg> = {
    ingest: 'ingest',
    's3-batcher': 's3',
    'eventbridge-sender': 'eventBridge',
  };
  for (const [key, units] of Object.entries(m.tablesByActor ?? {})) {
    const leg = legOfActor[key.slice(0, key.indexOf(' '))];
    if (!leg) continue;
    toLeg(leg, units.wru, wruPrice);
    toLeg(leg, units.rru, rruPrice);
  }

  // Every SQS request but the empty receives that end a drain (idle polling is per hour, not per event).
  const sqsPrice = unitPrice(prices, 'sqsStandardRequest');
  let sqsBilled = 0;
  for (const [key, t] of Object.entries(m.ops)) {
    if (key.includes(' SQS.') && !key.endsWith('(empty)')) sqsBilled += t.billed;
  }
  const messageBytes = floor.recordBytes.map((b) => b + MESSAGE_OVERHEAD_BYTES);
  const queues = floor.destinations.all;
  add(
    'sqs',
    'SQS requests (64 KiB chunks)',
    'vendor',
    'requests',
    sqsBilled,
    sqsPrice,
    queues * sqsFloor(run.eventsPerPost, messageBytes),
  );
  // The destination queues carry the same messages (every event is routed to each), so each leg takes
  // its queue's share of the SQS requests: its sends, receives and deletes.
  toLeg('s3', sqsBilled / queues, sqsPrice);
  toLeg('eventBridge', sqsBilled / queues, sqsPrice);
  // aws/dynamodb KMS requests are per cached table key (refreshed per caller every few minutes), SQS
  // uses SQS-managed keys (no KMS): nothing scales with events.
  add(
    'kms',
    'KMS requests (aws/dynamodb key; SQS-managed SSE)',
    'vendor',
    'requests',
    0,
    unitPrice(prices, 'kmsRequest'),
    0,
  );
  const logPrice = unitPrice(prices, 'cloudWatchLogsIngestion');
  // Ingest and the authorizer drop Lambda's START/END/REPORT lines (quietPlatformLogs); the consumers keep them.
  const platformBytes = (actor: string) =>
    actor === 'ingest' || actor === 'authorizer' ? 0 : count(actor) * PLATFORM_LOG_BYTES;
  const logBytes = (actor: string) =>
    (m.logs[actor]?.bytes ?? 0) +
    platformBytes(actor) +
    (actor === 'ingest' ? run.posts * ACCESS_LOG_BYTES : 0);
  const allLogBytes =
    Object.values(m.logs).reduce((s, l) => s + l.bytes, 0) +
    Object.keys(m.invocations).reduce((s, actor) => s + platformBytes(actor), 0) +
    run.posts * ACCESS_LOG_BYTES;
  add('logs', 'CloudWatch Logs ingestion', 'vendor', 'GB', allLogBytes / GB, logPrice, 0);
  toLeg('ingest', (logBytes('ingest') + logBytes('authorizer')) / GB, logPrice);
  toLeg('s3', logBytes('s3-batcher') / GB, logPrice);
  toLeg('eventBridge', logBytes('eventbridge-sender') / GB, logPrice);

  const minObjects = minimumObjects(m, destination);
  const putPrice = unitPrice(prices, 's3StandardPut');
  add(
    's3Puts',
    'S3 PUT requests (customer bucket)',
    'customer',
    'requests',
    opTotals(m, 'S3.PutObject').billed,
    putPrice,
    minObjects,
  );
  add(
    'putEvents',
    'EventBridge PutEvents entries (customer bus)',
    'customer',
    'events',
    opTotals(m, 'EventBridge.PutEvents').billed,
    unitPrice(prices, 'eventBridgeCustomEvent'),
    n,
  );

  const total = (billedTo: 'vendor' | 'customer') => ({
    usdPerMillion: lines.filter((l) => l.billedTo === billedTo).reduce((s, l) => s + l.usdPerMillion, 0),
    floorUsdPerMillion: lines
      .filter((l) => l.billedTo === billedTo)
      .reduce((s, l) => s + l.floorUsdPerMillion, 0),
  });
  const vendor = total('vendor');

  // The other API, from this run: an HTTP API run at REST's request price without what the authorizer
  // cost; a REST run at the HTTP API's request price (its authorizer, cached per key for the TTL, is
  // one invocation per key per TTL, not per event: ~0 per million events).
  const authorizerUsd =
    perMillion(count('authorizer'), requestPrice) +
    perMillion(((m.invocations.authorizer?.billedMs ?? 0) / 1000) * (AUTHORIZER_MEMORY_MB / 1024), gbSecond) +
    perMillion(logBytes('authorizer') / GB, logPrice);
  const otherGateway = http
    ? vendor.usdPerMillion -
      perMillion(run.httpApiRequests, httpPrice) +
      perMillion(run.posts, restPrice) -
      authorizerUsd
    : vendor.usdPerMillion - perMillion(run.posts, restPrice) + perMillion(run.httpApiRequests, httpPrice);
  // Firehose Direct PUT bills each record rounded up to 5 KB, then dynamic partitioning per GB and per
  // object delivered (at least as many objects as the run's minimum).
  const firehoseGb =
    floor.recordBytes.reduce((s, b) => s + Math.ceil(b / FIREHOSE_RECORD_BYTES) * FIREHOSE_RECORD_BYTES, 0) /
    GB;
  const deliveredGb = floor.recordBytes.reduce((s, b) => s + b, 0) / GB;
  const firehose =
    perMillion(firehoseGb, unitPrice(prices, 'firehoseDirectPutGb')) +
    perMillion(deliveredGb, unitPrice(prices, 'firehoseDynamicPartitioningGb')) +
    perMillion(minObjects, unitPrice(prices, 'firehoseDynamicPartitioningObject'));
  // Pipes bill each event read from the queue (per 64 KiB chunk); the queue's own requests stay.
  const pipes =
    perMillion(
      messageBytes.reduce((s, b) => s + Math.ceil(b / SQS_CHUNK), 0),
      unitPrice(prices, 'eventBridgePipesRequest'),
    ) + perMillion(sqsBilled / queues, sqsPrice);

  return {
    lines,
    vendor,
    customer: total('customer'),
    durations,
    minObjects,
    legs,
    alternatives: {
      otherGateway: {
        gateway: http ? 'rest' : 'http',
        usdPerMillion: otherGateway,
        savedUsdPerMillion: http ? otherGateway - vendor.usdPerMillion : vendor.usdPerMillion - otherGateway,
      },
      firehose,
      pipes,
      directIntegration: perMillion(gatewayUnits, gatewayPrice),
    },
  };
}

/** Firehose rounds each record up to 5 KB for Direct PUT billing. */
const FIREHOSE_RECORD_BYTES = 5 * 1024;
