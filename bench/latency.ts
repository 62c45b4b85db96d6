import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { startApiServer } from '../local/api-server.js';
import { clientConfig, s3ClientConfig } from '../local/aws-clients.js';
import { customerAccess } from '../local/customer-credentials.js';
import { ingestFunctionName } from '../local/ingest-function.js';
import type { AwsMeter } from './aws-meter.js';
import { API_KEY, destinationPoller, type Pipeline, setInbox } from './pipeline.js';
import { BENCH_CONFIG, makeEvents } from './workload.js';

/**
 * End-to-end latency on the local runtime: events POSTed one by one over HTTP to the local API (as a
 * producer would), the consumers polling as `npm start` runs them, and two observers: one reading the
 * EventBridge inbox queue, one listing the S3 bucket every 100 ms. Informational only: moto, not
 * Pushrail, sets most of these numbers.
 */

/** The S3 destination's flush interval for this measurement (the config default is 60 s). */
export const LATENCY_FLUSH_SECONDS = 1;
/**
 * A slow, steady rate: moto delivers each PutEvents entry to the inbox rule in ~0.3 s, so a faster
 * rate would measure moto's backlog.
 */
const EVENTS_PER_SECOND = 2;
const LIST_INTERVAL_MS = 100;
const SETTLE_TIMEOUT_MS = 60_000;
const EVENT_TYPE = 'latency.probe';

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly seen: number;
}

export interface LatencyResult {
  readonly events: number;
  readonly eventsPerSecond: number;
  readonly flushIntervalSec: number;
  /** 202 → the entry is readable in the customer's inbox queue (via the bus's catch-all rule). */
  readonly inbox: Percentiles;
  /** 202 → the object is listed in the customer's bucket. */
  readonly bucket: Percentiles;
  /** 202 → the sender's PutEvents call returned (excludes moto's rule delivery). */
  readonly putEvents: Percentiles;
  /** 202 → the batcher's PutObject returned. */
  readonly putObject: Percentiles;
}

function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  return { p50: at(0.5), p95: at(0.95), seen: sorted.length };
}

/** An eventId in a JSON text, compact (our canonical JSON) or spaced (moto's Python json.dumps). */
const EVENT_ID = /"eventId"\s*:\s*"(evt_[0-9a-z]{26})"/g;

export async function runLatency(pipeline: Pipeline, meter: AwsMeter, count: number): Promise<LatencyResult> {
  await setInbox(pipeline, true);
  const [s3Destination, ebDestination] = BENCH_CONFIG.destinations;
  if (s3Destination?.type !== 'S3' || ebDestination?.type !== 'EVENTBRIDGE')
    throw new Error('bad bench config');
  const s3Customer = await customerAccess(s3Destination, pipeline.target);
  const ebCustomer = await customerAccess(ebDestination, pipeline.target);
  const s3 = new S3Client(s3ClientConfig({ ...pipeline.target, credentials: s3Customer.credentials }));
  const inboxSqs = new SQSClient(clientConfig({ ...pipeline.target, credentials: ebCustomer.credentials }));
  await inboxSqs.send(new PurgeQueueCommand({ QueueUrl: pipeline.eventBridge.inboxQueueUrl }));

  const accepted = new Map<string, number>();
  const at = {
    inbox: new Map<string, number>(),
    bucket: new Map<string, number>(),
    putEvents: new Map<string, number>(),
    putObject: new Map<string, number>(),
  };
  const mark = (map: Map<string, number>, text: string) => {
    const now = Date.now();
    for (const match of text.matchAll(EVENT_ID)) if (match[1] && !map.has(match[1])) map.set(match[1], now);
  };
  meter.onCall = (op, input) => {
    if (op === 'EventBridge.PutEvents') {
      for (const e of (input.Entries ?? []) as { Detail?: string }[]) mark(at.putEvents, e.Detail ?? '');
    } else if (op === 'S3.PutObject') {
      mark(at.putObject, Buffer.from(input.Body as Uint8Array).toString('utf8'));
    }
  };

  const server = await startApiServer({
    handler: pipeline.ingest,
    apiKey: API_KEY,
    port: 0,
    function: {
      functionName: ingestFunctionName('bench'),
      region: pipeline.target.region,
      accountId: pipeline.provisioned.accountId,
    },
    log: () => undefined,
  });
  const pollers = [
    destinationPoller(pipeline, meter, 's3', LATENCY_FLUSH_SECONDS),
    destinationPoller(pipeline, meter, 'eventBridge'),
  ];
  for (const p of pollers) p.start();

  let observing = true;
  const inboxWatcher = (async () => {
    while (observing) {
      const { Messages = [] } = await inboxSqs.send(
        new ReceiveMessageCommand({
          QueueUrl: pipeline.eventBridge.inboxQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      for (const m of Messages) mark(at.inbox, m.Body ?? '');
      if (Messages.length > 0) {
        await inboxSqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: pipeline.eventBridge.inboxQueueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
    }
  })();
  const seenKeys = new Set<string>();
  const bucketWatcher = (async () => {
    const prefix = `${s3Destination.keyPrefix}event_type=${EVENT_TYPE}/`;
    while (observing) {
      const listed = Date.now();
      const { Contents = [] } = await s3.send(
        new ListObjectsV2Command({ Bucket: s3Destination.bucket, Prefix: prefix }),
      );
      for (const o of Contents) {
        if (!o.Key || seenKeys.has(o.Key)) continue;
        seenKeys.add(o.Key);
        const body = await (
          await s3.send(new GetObjectCommand({ Bucket: s3Destination.bucket, Key: o.Key }))
        ).Body?.transformToString();
        for (const match of (body ?? '').matchAll(EVENT_ID)) {
          if (match[1] && !at.bucket.has(match[1])) at.bucket.set(match[1], listed);
        }
      }
      await new Promise((r) => setTimeout(r, LIST_INTERVAL_MS));
    }
  })();

  try {
    const events = makeEvents(count, `latency-${Date.now().toString(36)}`, EVENT_TYPE);
    const started = Date.now();
    for (const [i, event] of events.entries()) {
      const due = started + (i * 1000) / EVENTS_PER_SECOND;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const res = await fetch(`${server.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
        body: JSON.stringify(event),
      });
      const body = (await res.json()) as { eventId?: string };
      if (res.status === 202 && body.eventId) accepted.set(body.eventId, Date.now());
    }
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (Date.now() < deadline && (at.inbox.size < accepted.size || at.bucket.size < accepted.size)) {
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    observing = false;
    meter.onCall = undefined;
    await Promise.all([...pollers.map((p) => p.stop()), inboxWatcher, bucketWatcher, server.close()]);
    s3.destroy();
    inboxSqs.destroy();
  }

  const since = (map: Map<string, number>) =>
    percentiles([...accepted].flatMap(([id, t]) => (map.has(id) ? [(map.get(id) as number) - t] : [])));
  return {
    events: accepted.size,
    eventsPerSecond: EVENTS_PER_SECOND,
    flushIntervalSec: LATENCY_FLUSH_SECONDS,
    inbox: since(at.inbox),
    bucket: since(at.bucket),
    putEvents: since(at.putEvents),
    putObject: since(at.putObject),
  };
}
