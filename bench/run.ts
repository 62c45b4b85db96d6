import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DestinationStore } from '../lambdas/adapters/destination-store.js';
import { TraceReader, type TraceReads } from '../lambdas/adapters/trace-reader.js';
import { canonicalJson } from '../lambdas/core/canonical.js';
import type { CanonicalEvent } from '../lambdas/core/event.js';
import { deriveEventId } from '../lambdas/core/event-id.js';
import type { S3DestinationConfig } from '../lambdas/destinations/s3/schema.js';
import { AwsMeter } from './aws-meter.js';
import { type Baseline, loadBaseline } from './baseline.js';
import { type ColdStartResult, runColdStart } from './cold-start.js';
import { type CostReport, costReport, type FloorInputs, floorEventItemBytes, opTotals } from './cost.js';
import { type HotPathResult, runHotPaths } from './hot-paths.js';
import { LATENCY_FLUSH_SECONDS, type LatencyResult, runLatency } from './latency.js';
import {
  CHUNK_EVENTS,
  type ModeResult,
  type Pipeline,
  runMode,
  setInbox,
  startPipeline,
} from './pipeline.js';
import { loadPrices, type PriceFile, unitPrice } from './prices.js';
import { num, type Row, renderTable, times, usd } from './table.js';
import { BENCH_CONFIG, makeEvents, RECORD_BYTES, toRecord } from './workload.js';

/**
 * `npm run bench`: prints one table and writes bench/results.json. Benchmarks print figures; they
 * never fail on a number (only on a broken run).
 *
 * Environment: BENCH_EVENTS (events per mode, default 10,000, rounded up to a multiple of 1,000),
 * BENCH_LATENCY_EVENTS (default 40), BENCH_SECTIONS (comma-separated subset of
 * `hot,cold,cost,latency`; default all), BENCH_POST_CONCURRENCY (POSTs in flight after the sample).
 */

/**
 * 10,000 events per mode, the workload the figures are defined for, posted and delivered in waves of
 * 1,000 (one full S3 batch; bench/pipeline.ts). moto is the bottleneck, at about a minute per 1,000
 * events per mode with its SQS bookkeeping made cheap (test/support/moto_server_fast.py); `BENCH_EVENTS=1000`
 * gives the same per-event figures in about 2 minutes (batches are full either way; only the S3
 * partition effect is then projected).
 */
const DEFAULT_EVENTS = 10_000;
const DEFAULT_LATENCY_EVENTS = 40;
const PROJECTED_EVENTS = 10_000;
const SECTIONS = ['hot', 'cold', 'cost', 'latency'] as const;

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a whole number of at least 1 (received ${JSON.stringify(raw)})`);
  }
  return value;
}

function sections(): Set<(typeof SECTIONS)[number]> {
  const raw = process.env.BENCH_SECTIONS;
  if (!raw) return new Set(SECTIONS);
  const wanted = raw.split(',').map((s) => s.trim());
  for (const s of wanted) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      throw new Error(`BENCH_SECTIONS: unknown section "${s}"; use some of ${SECTIONS.join(',')}`);
    }
  }
  return new Set(wanted as (typeof SECTIONS)[number][]);
}

function motoVersion(): string {
  const res = spawnSync('python3', ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : 'unknown';
}

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const wanted = sections();
  const requested = positiveInt('BENCH_EVENTS', DEFAULT_EVENTS);
  const events = Math.ceil(requested / CHUNK_EVENTS) * CHUNK_EVENTS;
  const latencyEvents = positiveInt('BENCH_LATENCY_EVENTS', DEFAULT_LATENCY_EVENTS);
  const prices = loadPrices();
  const meter = new AwsMeter();
  meter.install();
  const out = meter.captureLogs();
  const s3Destination = BENCH_CONFIG.destinations[0] as S3DestinationConfig;

  let hot: HotPathResult[] | undefined;
  let cold: ColdStartResult[] | undefined;
  // CPU-bound sections first, before moto competes for the CPU.
  if (wanted.has('hot')) {
    progress('hot paths');
    hot = runHotPaths();
  }
  if (wanted.has('cold')) {
    progress('bundling the functions and timing their import');
    cold = await runColdStart();
  }

  const runs: ModeResult[] = [];
  const traceReads = new Map<ModeResult['mode'], TraceReads[]>();
  let latency: LatencyResult | undefined;
  if (wanted.has('cost') || wanted.has('latency')) {
    progress('starting moto and provisioning');
    const pipeline = await startPipeline(meter);
    try {
      if (wanted.has('cost')) {
        await setInbox(pipeline, false);
        for (const mode of ['single', 'batch'] as const) {
          progress(`${mode === 'single' ? 'single-event POSTs' : 'batches of 100'}: ${num(events)} events`);
          const run = await runMode(pipeline, meter, mode, makeEvents(events, `bench-${mode}`), progress);
          if (run.rejected > 0)
            throw new Error(`${run.rejected} POSTs were not accepted: ${run.firstRejection}`);
          const left = Object.entries(run.leftover).filter(([, n]) => n > 0);
          if (left.length > 0)
            throw new Error(`messages left after the drain: ${JSON.stringify(run.leftover)}`);
          runs.push(run);
          traceReads.set(mode, await readTraces(pipeline, makeEvents(events, `bench-${mode}`)));
        }
      }
      if (wanted.has('latency')) {
        progress(`latency: ${latencyEvents} events over HTTP`);
        latency = await runLatency(pipeline, meter, latencyEvents);
      }
    } finally {
      await pipeline.stop();
    }
  }

  const baseline = loadBaseline();
  const costs = runs.map((r) =>
    costReport(r, prices, s3Destination, floorInputs(makeEvents(r.events, `bench-${r.mode}`))),
  );
  const seconds = (performance.now() - started) / 1000;
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    moto: motoVersion(),
    eventsPerMode: events,
    eventsRequested: requested,
    recordBytes: RECORD_BYTES,
    wallSeconds: seconds,
  };
  const title =
    `Pushrail benchmark — ${num(events)} events per mode${requested !== events ? ` (BENCH_EVENTS=${requested} rounded up)` : ''}, ` +
    `${num(RECORD_BYTES)} B records, moto ${meta.moto}, node ${meta.node}, ${meta.date.slice(0, 10)}`;
  const table = renderTable(title, [
    ...costRows(runs, costs, s3Destination, baseline, prices),
    ...traceRows(runs, traceReads),
    ...(hot ? hotRows(hot) : []),
    ...(cold ? coldRows(cold) : []),
    ...(latency ? latencyRows(latency) : []),
    ...runTimeRows(runs, baseline, seconds),
  ]);
  writeFileSync(
    new URL('./results.json', import.meta.url),
    `${JSON.stringify({ meta, prices, runs, costs, hotPaths: hot, coldStart: cold, latency }, null, 2)}\n`,
  );
  out(table);
  out(
    `\nwrote bench/results.json; wall time ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s\n`,
  );
}

/** Events in a POST, record bytes and event item bytes: what the floor is computed from. */
function floorInputs(events: readonly CanonicalEvent[]): FloorInputs {
  const records = events.map(toRecord);
  return {
    recordBytes: records.map((r) => Buffer.byteLength(canonicalJson(r), 'utf8')),
    storedItemBytes: records.map((r) =>
      floorEventItemBytes(
        r,
        BENCH_CONFIG.destinations.map((d) => d.id),
      ),
    ),
    destinations: {
      s3: BENCH_CONFIG.destinations.filter((d) => d.type === 'S3').length,
      all: BENCH_CONFIG.destinations.length,
    },
  };
}

const modeLabel = (r: ModeResult) => (r.mode === 'single' ? 'single POSTs, HTTP API' : 'batches of 100');
/** The tables whose write units per event are printed, in this order, then any others. */
const TABLE_ORDER = ['events', 'idempotency', 'seals', 'attempts', 'feed index', 'health', 'trace'];

function costRows(
  runs: readonly ModeResult[],
  costs: readonly CostReport[],
  s3: S3DestinationConfig,
  baseline: Baseline,
  prices: PriceFile,
): Row[] {
  if (runs.length === 0) return [];
  const rows: Row[] = [];
  const labels = runs.map(modeLabel);
  const perK = (r: ModeResult, value: number) => num((value * 1000) / r.events, 1);

  rows.push({ kind: 'section', title: '1. AWS requests per 1,000 events', columns: labels });
  rows.push({
    kind: 'row',
    label: 'APIGateway POST /v1/events (API)',
    cells: runs.map((r) => `${perK(r, r.posts)} (${r.gateway === 'http' ? 'HTTP' : 'REST'})`),
  });
  for (const actor of ['ingest', 'authorizer', 's3-batcher', 'eventbridge-sender'] as const) {
    rows.push({
      kind: 'row',
      label: `Lambda invocations [${actor}]`,
      cells: runs.map((r) => perK(r, r.meter.invocations[actor]?.count ?? 0)),
    });
  }
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.meter.ops)))].sort((a, b) => {
    const [aa, ao] = [a.slice(0, a.indexOf(' ')), a.slice(a.indexOf(' ') + 1)];
    const [ba, bo] = [b.slice(0, b.indexOf(' ')), b.slice(b.indexOf(' ') + 1)];
    return ao === bo ? aa.localeCompare(ba) : ao.localeCompare(bo);
  });
  for (const key of keys) {
    const actor = key.slice(0, key.indexOf(' '));
    const op = key.slice(key.indexOf(' ') + 1);
    rows.push({
      kind: 'row',
      label: `${op} [${actor}]`,
      cells: runs.map((r) => perK(r, r.meter.ops[key]?.calls ?? 0)),
    });
  }
  rows.push({
    kind: 'row',
    label: 'all SDK calls (retries)',
    cells: runs.map((r) => {
      const calls = Object.values(r.meter.ops).reduce((s, t) => s + t.calls, 0);
      const retries = Object.values(r.meter.ops).reduce((s, t) => s + t.attempts, 0) - calls;
      return `${perK(r, calls)} (${num(Math.max(0, retries))})`;
    }),
  });
  rows.push({
    kind: 'row',
    label: 'DynamoDB read units by size (all tables)',
    cells: runs.map((r) =>
      perK(
        r,
        Object.values(r.meter.tables).reduce((s, t) => s + t.rru, 0),
      ),
    ),
  });
  rows.push({
    kind: 'row',
    label: 'DynamoDB units moto reported (all tables)',
    cells: runs.map((r) =>
      perK(
        r,
        Object.values(r.meter.tables).reduce((s, t) => s + t.motoUnits, 0),
      ),
    ),
  });

  // Write units per event by table, before and now.
  rows.push({
    kind: 'section',
    title: '1b. DynamoDB write units per event, by table (by size)',
    columns: runs.flatMap((r) => [`${modeLabel(r)}: before`, 'now']),
  });
  const roles = [
    ...new Set([
      ...TABLE_ORDER,
      ...runs.flatMap((r) => [
        ...Object.keys(r.meter.tables),
        ...Object.keys(baseline.modes[r.mode].writeUnitsPerEvent),
      ]),
    ]),
  ];
  const wruNow = (r: ModeResult, role: string) => (r.meter.tables[role]?.wru ?? 0) / r.events;
  const wruBefore = (r: ModeResult, role: string) => baseline.modes[r.mode].writeUnitsPerEvent[role] ?? 0;
  for (const role of roles) {
    rows.push({
      kind: 'row',
      label: role,
      cells: runs.flatMap((r) => [num(wruBefore(r, role), 3), num(wruNow(r, role), 3)]),
    });
  }
  rows.push({
    kind: 'row',
    label: 'all tables',
    cells: runs.flatMap((r) => [
      num(
        roles.reduce((s, role) => s + wruBefore(r, role), 0),
        3,
      ),
      num(
        roles.reduce((s, role) => s + wruNow(r, role), 0),
        3,
      ),
    ]),
  });

  // Cost per mode: before (bench/baseline.json), now, the floor, now ÷ floor.
  const ratio = (now: number, floor: number) => (floor > 0 ? times(now / floor) : '—');
  for (const [i, c] of costs.entries()) {
    const r = runs[i] as ModeResult;
    const before = baseline.modes[r.mode];
    rows.push({
      kind: 'section',
      title: `1${String.fromCharCode(99 + i)}. Cost per million events, ${modeLabel(r)} (us-east-1 list)`,
      columns: ['before', 'now', 'floor', 'now ÷ floor'],
    });
    const lineRow = (l: CostReport['lines'][number]): Row => ({
      kind: 'row',
      label: l.item,
      cells: [
        before.lines[l.key] === undefined ? '—' : usd(before.lines[l.key] as number),
        usd(l.usdPerMillion),
        usd(l.floorUsdPerMillion),
        ratio(l.usdPerMillion, l.floorUsdPerMillion),
      ],
    });
    for (const l of c.lines) if (l.billedTo === 'vendor') rows.push(lineRow(l));
    rows.push({
      kind: 'row',
      label: 'Pushrail total (vendor account)',
      cells: [
        usd(before.vendorUsdPerMillion),
        usd(c.vendor.usdPerMillion),
        usd(c.vendor.floorUsdPerMillion),
        ratio(c.vendor.usdPerMillion, c.vendor.floorUsdPerMillion),
      ],
    });
    if (r.gateway === 'http') {
      // The same run priced through the REST API (its request price, no authorizer), against REST's floor.
      const restFloor =
        c.vendor.floorUsdPerMillion -
        (c.lines.find((l) => l.key === 'apiGateway')?.floorUsdPerMillion ?? 0) +
        (r.posts / r.events) * 1e6 * unitPrice(prices, 'apiGatewayRestRequest');
      rows.push({
        kind: 'row',
        label: 'single POSTs, REST (same run: REST request price, no authorizer)',
        cells: [
          usd(before.vendorUsdPerMillion),
          usd(c.alternatives.otherGateway.usdPerMillion),
          usd(restFloor),
          ratio(c.alternatives.otherGateway.usdPerMillion, restFloor),
        ],
      });
    }
    for (const l of c.lines) if (l.billedTo === 'customer') rows.push(lineRow(l));
    rows.push({
      kind: 'row',
      label: 'customer account total',
      cells: [
        usd(before.customerUsdPerMillion),
        usd(c.customer.usdPerMillion),
        usd(c.customer.floorUsdPerMillion),
        ratio(c.customer.usdPerMillion, c.customer.floorUsdPerMillion),
      ],
    });
  }
  rows.push({
    kind: 'note',
    text:
      `before = bench/baseline.json (${baseline.date.slice(0, 10)}, ${num(baseline.eventsPerMode)} events per mode, ` +
      'the pipeline before issue 14). floor = what the guarantees require: API Gateway requests (one per POST); Lambda ' +
      'requests at full batches (one per POST, one per maxEvents S3 batch, one per 100 EventBridge events); DynamoDB: one ' +
      'event-store write per started KiB of the stored event item (bench/cost.ts floorEventItemBytes: the deflated ' +
      'record, routing and idempotency claim as the event store writes it), one completion write per POST (written after its ' +
      'enqueues, so a retry of an accepted request enqueues nothing: invariants 2 and 3) and one seal write per event per S3 ' +
      'destination; SQS: on each of the ' +
      'queues (one per destination), each POST sends its own messages (a SendMessageBatch cannot span requests: one send per single-event POST), ' +
      'receives and deletes ten at a time, 64 KiB chunks; one S3 PUT per minimum object; one PutEvents entry per event. No ' +
      'floor for GB-s, logs or reads. Durations against moto on this machine (an estimate, not AWS); logs = Powertools ' +
      'lines measured + Lambda platform and API Gateway access lines estimated. Empty receives that end a drain are idle ' +
      'polling (per hour, not per event) and not priced.',
  });

  // Lambda per function: duration, memory and what a second of it costs.
  rows.push({
    kind: 'section',
    title: '1e. Lambda per function (arm64)',
    columns: [
      'invocations/1k',
      'billed ms (before)',
      'CPU ms',
      'memory MB',
      '$ per s at memory',
      'GB-s $/M events',
    ],
  });
  for (const [i, c] of costs.entries()) {
    const r = runs[i] as ModeResult;
    for (const [fn, d] of Object.entries(c.durations)) {
      const gbs = c.lines.find((l) => l.key === `gbs:${fn}`);
      const before = baseline.modes[r.mode].lambda[fn]?.meanBilledMs;
      rows.push({
        kind: 'row',
        label: `${fn}, ${modeLabel(r)}`,
        cells: [
          perK(r, d.invocations),
          `${num(d.meanBilledMs)} (${before === undefined ? '—' : num(before)})`,
          d.meanCpuMs === undefined ? '—' : num(d.meanCpuMs, 1),
          num(d.memoryMb),
          `$${d.usdPerSecond.toPrecision(3)}`,
          gbs ? usd(gbs.usdPerMillion) : '—',
        ],
      });
    }
  }
  rows.push({
    kind: 'note',
    text:
      'ingest: the mean of the first POSTs of a mode run one at a time, alone; CPU ms = this process’s CPU time (user + ' +
      'system) during them, i.e. the function’s own work (validation, hashing, the SDK); the rest of the duration is ' +
      'waiting on moto. Delivery functions and the authorizer: their measured invocations. Memory: INGEST_MEMORY_MB and ' +
      'AUTHORIZER_MEMORY_MB (lambdas/core/resources.ts, as lib/ uses them) and KINDS[kind].delivery.memoryMb.',
  });

  // What managed services or another front door would charge for the same work.
  rows.push({ kind: 'section', title: '1f. Alternatives, per million events', columns: labels });
  const cell = (f: (c: CostReport) => number) => costs.map((c) => usd(f(c)));
  rows.push({
    kind: 'row',
    label: 'Pushrail, vendor account (now)',
    cells: cell((c) => c.vendor.usdPerMillion),
  });
  rows.push({
    kind: 'row',
    label: 'the same through the other API (singles: REST; batches: HTTP API)',
    cells: cell((c) => c.alternatives.otherGateway.usdPerMillion),
  });
  rows.push({
    kind: 'row',
    label: '  saved by the HTTP API',
    cells: cell((c) => c.alternatives.otherGateway.savedUsdPerMillion),
  });
  rows.push({ kind: 'row', label: 'ingest leg (Pushrail)', cells: cell((c) => c.legs.ingest) });
  rows.push({
    kind: 'row',
    label: '  API Gateway → Firehose/SQS integration (no store, no idempotency)',
    cells: cell((c) => c.alternatives.directIntegration),
  });
  rows.push({ kind: 'row', label: 'S3 leg (Pushrail, vendor account)', cells: cell((c) => c.legs.s3) });
  rows.push({
    kind: 'row',
    label: '  Amazon Data Firehose Direct PUT + dynamic partitioning',
    cells: cell((c) => c.alternatives.firehose),
  });
  rows.push({
    kind: 'row',
    label: 'EventBridge leg (Pushrail, vendor account)',
    cells: cell((c) => c.legs.eventBridge),
  });
  rows.push({
    kind: 'row',
    label: '  EventBridge Pipes from the same SQS queue (+ its SQS requests)',
    cells: cell((c) => c.alternatives.pipes),
  });
  rows.push({
    kind: 'note',
    text:
      'Single POSTs go through the HTTP API (lib/http-ingest-api.ts: $1.00 per million requests in 512 KiB units) with ' +
      'the real authorizer, its answer cached per key for 5 minutes as API Gateway caches it: measured here, one ' +
      'invocation per key per TTL (this run has one key; N producer keys cost N invocations per 5 minutes, whatever ' +
      'the traffic). Their REST figure is the same run at REST’s $3.50 without the authorizer. Batches stay on REST: an ' +
      'HTTP API would save them only the request price on a hundredth of the requests (the batch column). Legs: each ' +
      'function’s Lambda requests, GB-s, DynamoDB units and logs; API Gateway goes to ingest; each destination queue’s SQS ' +
      'requests (half of all: both queues carry the same messages) to its leg; customer-billed PUTs and PutEvents are ' +
      'outside. Firehose: each record rounded up to 5 KiB at the Direct PUT price, plus dynamic partitioning per GB and per ' +
      'object (the run’s minimum objects); prices marked unverified in bench/prices.json. Pipes: one request per event ' +
      'per 64 KiB chunk.',
  });

  rows.push({ kind: 'section', title: '2. Delivery efficiency', columns: labels });
  rows.push({
    kind: 'row',
    label: 'S3 objects written / minimum',
    cells: runs.map((r, i) => {
      const objects = opTotals(r.meter, 'S3.PutObject').calls;
      const min = costs[i]?.minObjects ?? 0;
      return `${num(objects)} / ${num(min)} (${times(objects / min)})`;
    }),
  });
  if ((runs[0]?.events ?? 0) < PROJECTED_EVENTS) {
    rows.push({
      kind: 'row',
      label: `  projected at ${num(PROJECTED_EVENTS)} events`,
      cells: runs.map((r) => {
        const batches = Math.ceil(PROJECTED_EVENTS / s3.maxEvents);
        const invocations = r.meter.invocations['s3-batcher']?.count ?? 1;
        const perBatch = opTotals(r.meter, 'S3.PutObject').calls / invocations;
        const partitions = new Set(r.meter.s3Objects.map((o) => o.key.slice(0, o.key.lastIndexOf('/')))).size;
        const min = partitions * Math.ceil(PROJECTED_EVENTS / partitions / s3.maxEvents);
        return `${num(batches * perBatch)} / ${num(min)} (${times((batches * perBatch) / min)})`;
      }),
    });
  }
  rows.push({
    kind: 'row',
    label: 'S3 lines per object (maxEvents)',
    cells: runs.map((r) => `${num(r.events / Math.max(1, r.meter.s3Objects.length))} (${num(s3.maxEvents)})`),
  });
  rows.push({
    kind: 'row',
    label: 'PutEvents calls / ⌈n/10⌉',
    cells: runs.map((r) => {
      const calls = opTotals(r.meter, 'EventBridge.PutEvents').calls;
      return `${num(calls)} / ${num(Math.ceil(r.events / 10))} (${times(calls / Math.ceil(r.events / 10))})`;
    }),
  });
  rows.push({
    kind: 'row',
    label: 'PutEvents entries per call',
    cells: runs.map((r) => {
      const t = opTotals(r.meter, 'EventBridge.PutEvents');
      return num(t.entries / Math.max(1, t.calls), 1);
    }),
  });
  rows.push({
    kind: 'row',
    label: 'SendMessageBatch entries per call [ingest]',
    cells: runs.map((r) => {
      const t = opTotals(r.meter, 'SQS.SendMessageBatch', 'ingest');
      return num(t.entries / Math.max(1, t.calls), 1);
    }),
  });
  rows.push({
    kind: 'row',
    label: 'ReceiveMessage messages per call [esm]',
    cells: runs.map((r) => {
      const t = opTotals(r.meter, 'SQS.ReceiveMessage', 'esm');
      return num(t.entries / Math.max(1, t.calls), 1);
    }),
  });
  return rows;
}

/** Traces read after a run, outside the metered scope: what each read, by DynamoDB's size rules. */
async function readTraces(
  pipeline: Pipeline,
  events: readonly { customerExternalId: string; idempotencyKey: string }[],
): Promise<TraceReads[]> {
  const dynamodb = new DynamoDBClient({ endpoint: pipeline.target.endpoint, region: pipeline.target.region });
  const tables = pipeline.provisioned.tables;
  const reader = new TraceReader(
    dynamodb,
    { events: tables.events as string, attempts: tables.attempts as string },
    new DestinationStore(dynamodb, tables.destinations as string),
  );
  const out: TraceReads[] = [];
  const step = Math.max(1, Math.floor(events.length / TRACE_SAMPLE));
  for (let i = 0; i < events.length && out.length < TRACE_SAMPLE; i += step) {
    const e = events[i] as (typeof events)[number];
    const result = await reader.read(deriveEventId(e.customerExternalId, e.idempotencyKey));
    if (!result) throw new Error(`bench: no trace for event ${i}`);
    if (result.trace.deliveries.some((d) => d.status !== 'delivered'))
      throw new Error(`bench: event ${i} is not traced as delivered everywhere`);
    out.push(result.reads);
  }
  dynamodb.destroy();
  return out;
}

/**
 * Traces read per mode, spread evenly over its events: enough to find the largest, and at 10,000 events
 * a few seconds rather than minutes (each trace is several queries against moto).
 */
const TRACE_SAMPLE = 200;

function traceRows(runs: readonly ModeResult[], reads: ReadonlyMap<ModeResult['mode'], TraceReads[]>): Row[] {
  if (runs.length === 0) return [];
  const destinations = BENCH_CONFIG.destinations.length;
  const largest = (sample: readonly TraceReads[]) =>
    sample.reduce<TraceReads | undefined>((m, s) => (!m || s.readUnits > m.readUnits ? s : m), undefined);
  return [
    { kind: 'section', title: '2b. Trace (README "Trace")', columns: runs.map((r) => r.mode) },
    {
      kind: 'row',
      label: 'trace: added write units per event per destination',
      cells: runs.map((r) => num((r.meter.tables.trace?.wru ?? 0) / (r.events * destinations), 3)),
    },
    {
      kind: 'row',
      label: 'health: added write units per event per destination (rollups)',
      cells: runs.map((r) => num((r.meter.tables.health?.wru ?? 0) / (r.events * destinations), 3)),
    },
    {
      kind: 'row',
      label: `trace: read units per trace (largest of a sample of ${TRACE_SAMPLE})`,
      cells: runs.map((r) => {
        const max = largest(reads.get(r.mode) ?? []);
        return max
          ? `${num(max.readUnits, 1)} RRU, ${num(max.bytes / 1024, 1)} KiB, ${max.requests} requests`
          : '—';
      }),
    },
  ];
}

/** Where the run's time went, beside the baseline's (per 1,000 events, cost section only). */
function runTimeRows(runs: readonly ModeResult[], baseline: Baseline, wallSeconds: number): Row[] {
  if (runs.length === 0) return [];
  const rows: Row[] = [
    {
      kind: 'section',
      title: '6. Run time, seconds per 1,000 events (before)',
      columns: runs.map(modeLabel),
    },
  ];
  const per = (r: ModeResult, s: number) => (s * 1000) / r.events;
  const before = (r: ModeResult, key: string) => {
    const b = baseline.modes[r.mode].secondsPerThousandEvents[key];
    return b === undefined ? '' : ` (${num(b)})`;
  };
  for (const [key, label] of [
    ['ingest', 'posting (ingest)'],
    ['s3', 'S3 drain'],
    ['eventBridge', 'EventBridge drain'],
    ['drain', 'both drains, wall (at once)'],
  ] as const) {
    rows.push({
      kind: 'row',
      label,
      cells: runs.map((r) => `${num(per(r, r.seconds[key] ?? 0), 1)}${before(r, key)}`),
    });
  }
  rows.push({
    kind: 'note',
    text:
      `whole run: ${Math.floor(wallSeconds / 60)} min ${Math.round(wallSeconds % 60)} s (before: ` +
      `${num(baseline.wallSeconds)} s for the cost section alone at ${num(baseline.eventsPerMode)} events per mode). ` +
      'The drains of both queues now run at once, as two event source mappings do; moto runs with a cheap SQS clock ' +
      '(test/support/moto_server_fast.py); the requests made are the same.',
  });
  return rows;
}

function hotRows(hot: readonly HotPathResult[]): Row[] {
  return [
    {
      kind: 'section',
      title: `3. Hot paths (median of ${hot[0]?.rounds ?? 0} interleaved rounds)`,
      columns: ['events/s', 'floor events/s', 'floor ÷ path'],
    },
    ...hot.map(
      (h): Row => ({
        kind: 'row',
        label: `${h.path} vs ${h.floor}`,
        cells: [num(h.eventsPerSecond), num(h.floorEventsPerSecond), times(h.ratio)],
      }),
    ),
  ];
}

function coldRows(cold: readonly ColdStartResult[]): Row[] {
  return [
    {
      kind: 'section',
      title: `4. Cold start (median of ${cold[0]?.runs ?? 0} fresh node processes)`,
      columns: ['bundle KiB', 'gz+map KiB', 'import ms', 'SDK-only ms', 'ratio'],
    },
    ...cold.map(
      (c): Row => ({
        kind: 'row',
        label: `${c.fn} (${c.sdkClients.map((s) => s.replace('@aws-sdk/client-', '')).join(', ')})`,
        cells: [
          num(c.bundleBytes / 1024),
          num(c.gzipBytes / 1024),
          num(c.importMs, 1),
          num(c.sdkImportMs, 1),
          times(c.ratio),
        ],
      }),
    ),
  ];
}

function latencyRows(l: LatencyResult): Row[] {
  const row = (label: string, p: LatencyResult['inbox']): Row => ({
    kind: 'row',
    label,
    cells: [num(p.p50), num(p.p95), `${p.seen}/${l.events}`],
  });
  return [
    {
      kind: 'section',
      title: `5. Latency, local runtime (${l.eventsPerSecond} POST/s; moto-bound)`,
      columns: ['p50 ms', 'p95 ms', 'seen'],
    },
    row('202 → entry in the EventBridge inbox', l.inbox),
    row(`202 → object in the S3 bucket (flush ${LATENCY_FLUSH_SECONDS} s)`, l.bucket),
    row('202 → PutEvents returned', l.putEvents),
    row('202 → PutObject returned', l.putObject),
  ];
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
