import { MiB } from '../lambdas/core/limits.js';
import { EVENTBRIDGE_BATCHING } from '../lambdas/destinations/eventbridge/kind.js';
import { KINDS } from '../lambdas/destinations/index.js';
import type { S3DestinationConfig } from '../lambdas/destinations/s3/schema.js';
import type { MeterSnapshot, OpTotals } from './aws-meter.js';
import type { ModeResult } from './pipeline.js';
import { type PriceFile, unitPrice } from './prices.js';

/** The ingest function's memory (lib/ingest-api.ts; the consumers' sizes are in the kinds registry). */
export { INGEST_MEMORY_MB } from '../lambdas/core/resources.js';

import { INGEST_MEMORY_MB } from '../lambdas/core/resources.js';

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
    requestTime: '26/May/2026:14:21:08 +0000',
    ip: '203.0.113.17',
    userAgent: 'billing-service/2.3 node/24',
    apiKeyId: 'a1b2c3d4e5',
    httpMethod: 'POST',
    resourcePath: '/v1/events',
    protocol: 'HTTP/1.1',
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
  /** Lambda GB-s per invocation behind the duration lines, for the record. */
  readonly durations: Record<string, { readonly invocations: number; readonly meanBilledMs: number }>;
  readonly minObjects: number;
}

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

/** What one event costs to deliver, from the metered run, beside what the design cannot avoid. */
export function costReport(
  run: ModeResult,
  prices: PriceFile,
  destination: S3DestinationConfig,
  recordBytes: readonly number[],
): CostReport {
  const n = run.events;
  const m = run.meter;
  const perK = (units: number) => (units * 1000) / n;
  const lines: CostLine[] = [];
  const add = (
    item: string,
    billedTo: 'vendor' | 'customer',
    unit: string,
    units: number,
    price: number,
    floorUnits: number,
  ) => {
    lines.push({
      item,
      billedTo,
      unit,
      perThousand: perK(units),
      usdPerMillion: ((units * price) / n) * 1e6,
      floorPerThousand: perK(floorUnits),
      floorUsdPerMillion: ((floorUnits * price) / n) * 1e6,
    });
  };

  // Consumers' minimum invocations: one per full batch.
  const s3Batches = Math.ceil(n / destination.maxEvents);
  const ebBatches = Math.ceil(n / EVENTBRIDGE_BATCHING.batchSize);
  const invocations = Object.values(m.invocations).reduce((s, i) => s + (i?.count ?? 0), 0);

  add(
    'API Gateway REST requests',
    'vendor',
    'requests',
    run.posts,
    unitPrice(prices, 'apiGatewayRestRequest'),
    run.posts,
  );
  add(
    'Lambda requests',
    'vendor',
    'invocations',
    invocations,
    unitPrice(prices, 'lambdaRequest'),
    run.posts + s3Batches + ebBatches,
  );

  // Ingest: the mean of the one-at-a-time sample, times every invocation; consumers: as measured.
  const ingestCount = m.invocations.ingest?.count ?? 0;
  const sample = run.ingestSampleMs.map((ms) => Math.ceil(ms));
  const ingestMeanMs = sample.length > 0 ? sample.reduce((a, b) => a + b, 0) / sample.length : 0;
  const durations: Record<string, { invocations: number; meanBilledMs: number }> = {
    ingest: { invocations: ingestCount, meanBilledMs: ingestMeanMs },
  };
  const gbSeconds: [string, number, number][] = [['ingest', ingestCount * ingestMeanMs, INGEST_MEMORY_MB]];
  for (const [actor, memory] of [
    ['s3-batcher', KINDS.S3.delivery.memoryMb],
    ['eventbridge-sender', KINDS.EVENTBRIDGE.delivery.memoryMb],
  ] as const) {
    const i = m.invocations[actor];
    durations[actor] = {
      invocations: i?.count ?? 0,
      meanBilledMs: i && i.count > 0 ? i.billedMs / i.count : 0,
    };
    gbSeconds.push([actor, i?.billedMs ?? 0, memory]);
  }
  for (const [actor, ms, memory] of gbSeconds) {
    add(
      `Lambda GB-s ${actor} (${memory} MB, arm64)`,
      'vendor',
      'GB-s',
      (ms / 1000) * (memory / 1024),
      unitPrice(prices, 'lambdaArmGbSecond'),
      0,
    );
  }

  const tables = Object.values(m.tables);
  const wru = tables.reduce((s, t) => s + t.wru, 0);
  const rru = tables.reduce((s, t) => s + t.rru, 0);
  const floorWru = recordBytes.reduce((s, b) => s + Math.max(1, Math.ceil(b / 1024)), 0);
  add(
    'DynamoDB write request units',
    'vendor',
    'WRU',
    wru,
    unitPrice(prices, 'dynamodbWriteRequestUnit'),
    floorWru,
  );
  add('DynamoDB read request units', 'vendor', 'RRU', rru, unitPrice(prices, 'dynamodbReadRequestUnit'), 0);

  // Every SQS request but the empty receives that end a drain (idle polling is per hour, not per event).
  let sqsRequests = 0;
  for (const [key, t] of Object.entries(m.ops)) {
    if (key.includes(' SQS.') && !key.endsWith('(empty)')) sqsRequests += t.billed;
  }
  // Floor: each queue's messages sent, received and deleted ten at a time, in 64 KiB chunks.
  const messageBytes = recordBytes.map((b) => b + 'eventId'.length + 'String'.length + 30);
  let floorChunks = 0;
  for (let i = 0; i < messageBytes.length; i += 10) {
    floorChunks += Math.ceil(messageBytes.slice(i, i + 10).reduce((a, b) => a + b, 0) / SQS_CHUNK);
  }
  add(
    'SQS requests (64 KiB chunks)',
    'vendor',
    'requests',
    sqsRequests,
    unitPrice(prices, 'sqsStandardRequest'),
    2 * 3 * floorChunks,
  );
  // aws/dynamodb KMS requests are per cached table key (refreshed per caller every few minutes), SQS
  // uses SQS-managed keys (no KMS): nothing scales with events.
  add(
    'KMS requests (aws/dynamodb key; SQS-managed SSE)',
    'vendor',
    'requests',
    0,
    unitPrice(prices, 'kmsRequest'),
    0,
  );
  const logBytes =
    Object.values(m.logs).reduce((s, l) => s + l.bytes, 0) +
    invocations * PLATFORM_LOG_BYTES +
    run.posts * ACCESS_LOG_BYTES;
  add(
    'CloudWatch Logs ingestion',
    'vendor',
    'GB',
    logBytes / GB,
    unitPrice(prices, 'cloudWatchLogsIngestion'),
    0,
  );

  const minObjects = minimumObjects(m, destination);
  add(
    'S3 PUT requests (customer bucket)',
    'customer',
    'requests',
    opTotals(m, 'S3.PutObject').billed,
    unitPrice(prices, 's3StandardPut'),
    minObjects,
  );
  add(
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
  return { lines, vendor: total('vendor'), customer: total('customer'), durations, minObjects };
}
