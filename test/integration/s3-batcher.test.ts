import { createHash, randomUUID } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, Context, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, onTestFinished, vi } from 'vitest';
import type { DeliveryOptions as S3BatcherOptions } from '../../lambdas/adapters/customer-clients.js';
import { storedEventOf } from '../../lambdas/adapters/event-store.js';
import { decideRetry } from '../../lambdas/core/backoff.js';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { CanonicalEvent, EventRecord } from '../../lambdas/core/event.js';
import { EventRecordSchema } from '../../lambdas/core/event.js';
import { DELIVERY_ENV } from '../../lambdas/core/function-env.js';
import { MiB } from '../../lambdas/core/limits.js';
import { DLQ_ATTRIBUTES } from '../../lambdas/core/queue-message.js';
import { createDeliveryHandler as createS3BatcherHandler } from '../../lambdas/destinations/s3/handler.js';
import { compareRecords, objectKey, partitionOf } from '../../lambdas/destinations/s3/parts.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { type BatchResult, QueuePoller, type SqsHandler } from '../../local/queue-poller.js';
import { type CapturedRequest, FaultProxy, s3Error } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The S3 batcher end to end on moto: events go in through the real ingest handler (so they are in the
 * event store and on the destination queue), the batcher runs under a QueuePoller (the local stand-in
 * for the event source mapping) with its AWS calls going through a FaultProxy, and the test reads the
 * customer's bucket, the queues and the attempts table back.
 *
 * Speed: moto 5.2.1 recomputes every queue attribute for each message it sends or receives, so each
 * SQS call costs time in proportion to the queue's depth (≈1 s per ReceiveMessage with 2,500 queued).
 * Queues are therefore kept shallow: the 2,500 events go in and out 500 at a time (consuming while
 * posting is slower still on moto: long polls and GIL contention). Ingest talks to moto directly (only
 * the batcher needs the proxy), and batches run until the expected count, not until an idle poll.
 */

// Ingest logs every accepted event at INFO; 2,500 of them would bury the output.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
// The vendor's own (dummy) credentials, as `npm start` sets them (vitest.config.ts sets them too).
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const RUN = randomUUID().slice(0, 8);
const ACCOUNT = '123456789012'; // moto's default account: assumed roles and unknown keys land here
const REGION = 'us-east-1';

const KEY_V1 = {
  accessKeyId: 'AKIAPUSHRAILKEY00001',
  secretAccessKey: '+v1PushrailSecretKeyForTests/'.padEnd(40, '1'),
};
const KEY_V2 = {
  accessKeyId: 'AKIAPUSHRAILKEY00002',
  secretAccessKey: '/v2PushrailSecretKeyForTests+'.padEnd(40, '2'),
};

const endpoint = () => inject('awsEndpoint');
const clients = {
  s3: () => new S3Client({ endpoint: endpoint(), region: REGION, forcePathStyle: true }),
  sqs: () => new SQSClient({ endpoint: endpoint(), region: REGION }),
  dynamodb: () => new DynamoDBClient({ endpoint: endpoint(), region: REGION }),
  secrets: () => new SecretsManagerClient({ endpoint: endpoint(), region: REGION }),
};

const bucketOf = (id: string) => `pushrail-${id}-${RUN}`;
const roleOf = (id: string) => `arn:aws:iam::${ACCOUNT}:role/PushrailWriter-${id}`;
const externalIdOf = (id: string) => `ext-${id}-7Pq2`;

function s3Destination(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    type: 'S3',
    name: id,
    customerExternalId: `acct_${id}`,
    bucket: bucketOf(id),
    keyPrefix: `${id}/`,
    region: REGION,
    flushIntervalSec: 1,
    auth: { mode: 'ASSUME_ROLE', roleArn: roleOf(id), externalId: externalIdOf(id) },
    ...extra,
  };
}

let proxy: FaultProxy;
let harness: IngestHarness;
let config: PushrailConfig;
let secretArn: string;
let tables: { events: string; seals: string; attempts: string };
const pollerErrors: unknown[] = [];

beforeAll(async () => {
  proxy = await FaultProxy.start(endpoint());
  const secret = await clients
    .secrets()
    .send(new CreateSecretCommand({ Name: `pushrail/keys-${RUN}`, SecretString: JSON.stringify(KEY_V1) }));
  secretArn = secret.ARN as string;
  config = parseConfig({
    vendor: 'acme',
    destinations: [
      // No trailing slash on purpose: keys must come out as `raw/pushrail/event_type=…`.
      s3Destination('bulk', { keyPrefix: 'raw/pushrail', storageClass: 'STANDARD_IA' }),
      s3Destination('crash'),
      s3Destination('gone'),
      s3Destination('slow'),
      s3Destination('owner', { storageClass: 'GLACIER_IR' }),
      s3Destination('again'),
      s3Destination('lookup'),
      s3Destination('keys', { auth: { mode: 'ACCESS_KEY', secretArn }, bucketOwnerAccountId: ACCOUNT }),
    ],
  });
  harness = await startIngestHarness({ config, awsEndpoint: endpoint(), handlerEndpoint: endpoint() });
  const { events, seals, attempts } = harness.tables;
  if (!events || !seals || !attempts)
    throw new Error(`tables not provisioned: ${JSON.stringify(harness.tables)}`);
  tables = { events, seals, attempts };
  // Ingest's clients are on moto itself (its environment says so); the batchers' SDK clients take their
  // endpoint from the process: every AWS call of theirs goes through the proxy.
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  // The customer deleted the bucket of destination `gone` after configuring it.
  await clients.s3().send(new DeleteBucketCommand({ Bucket: bucketOf('gone') }));
});

afterAll(async () => {
  await proxy?.stop();
});

beforeEach(() => {
  proxy.clearFaults();
  proxy.requests.length = 0;
  pollerErrors.length = 0;
});

function destinationOf(id: string): S3DestinationConfig {
  const d = config.destinations.find((x) => x.id === id);
  if (d?.type !== 'S3') throw new Error(`no S3 destination ${id}`);
  return d;
}

const queueUrlOf = (id: string) => harness.queueUrls[id] as string;
const dlqUrlOf = (id: string) => `${queueUrlOf(id)}-dlq`;
const viaProxy = (url: string) => url.replace(endpoint(), proxy.endpoint);

/** The batcher for one destination, as the stack configures it, with every AWS call through the proxy. */
function batcherFor(id: string, options: S3BatcherOptions = {}): SqsHandler {
  return createS3BatcherHandler(
    {
      ...process.env,
      [DELIVERY_ENV.destination]: JSON.stringify(destinationOf(id)),
      [DELIVERY_ENV.eventsTable]: tables.events,
      [DELIVERY_ENV.sealsTable]: tables.seals,
      [DELIVERY_ENV.attemptsTable]: tables.attempts,
      [DELIVERY_ENV.sourceQueueUrl]: viaProxy(queueUrlOf(id)),
      [DELIVERY_ENV.dlqUrl]: viaProxy(dlqUrlOf(id)),
      [DELIVERY_ENV.retentionDays]: '30',
    },
    options,
  );
}

/** The event source mapping stand-in: batch size maxEvents, window flushIntervalSec (as deployed). */
function pollerFor(id: string, handler: SqsHandler, batchSize = destinationOf(id).maxEvents): QueuePoller {
  return new QueuePoller({
    sqs: clients.sqs(),
    queueUrl: queueUrlOf(id),
    queueArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${harness.queueNames[id]}`,
    region: REGION,
    batchSize,
    windowSeconds: destinationOf(id).flushIntervalSec,
    handler,
    functionName: `${id}-s3-batcher`,
    onError: (error) => pollerErrors.push(error),
  });
}

/**
 * Runs batches until `expected` messages were handed to the handler (no idle poll at the end), then
 * checks nothing is left visible.
 */
async function runBatches(poller: QueuePoller, expected: number, queueUrl?: string): Promise<BatchResult[]> {
  const results: BatchResult[] = [];
  while (sum(results, 'received') < expected) {
    const result = await poller.runOnce({ maxWaitSeconds: 5 });
    if (result.received === 0) break;
    results.push(result);
  }
  expect(pollerErrors).toEqual([]);
  expect(sum(results, 'received')).toBe(expected);
  if (queueUrl) expect((await queueCounts(queueUrl)).visible).toBe(0);
  return results;
}

const sum = (results: readonly BatchResult[], field: keyof BatchResult) =>
  results.reduce((n, r) => n + r[field], 0);

let requestCounter = 0;
/** POSTs events through the real ingest handler; answers their eventIds in order. */
async function ingest(events: readonly CanonicalEvent[]): Promise<string[]> {
  requestCounter += 1;
  const response = await harness.handler(
    {
      httpMethod: 'POST',
      path: '/v1/events',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
      isBase64Encoded: false,
      requestContext: { requestId: `req-${requestCounter}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
    } as unknown as APIGatewayProxyEvent,
    {
      awsRequestId: `aws-${requestCounter}`,
      functionName: 'pushrail-ingest',
      getRemainingTimeInMillis: () => 29_000,
    } as unknown as Context,
  );
  expect(response.statusCode).toBe(202);
  const body = JSON.parse(response.body) as { results: { eventId: string; destinations: string[] }[] };
  return body.results.map((r) => r.eventId);
}

/** An event for a destination's customer; `occurredAt` given in UTC millis and written with an offset. */
function eventFor(
  id: string,
  n: number,
  options: {
    eventType?: string;
    utc?: number;
    offsetMinutes?: number;
    payload?: Record<string, unknown>;
  } = {},
): CanonicalEvent {
  const utc = options.utc ?? Date.UTC(2026, 4, 26, 14, 21, 8, 493);
  const offset = options.offsetMinutes ?? 0;
  const local = new Date(utc + offset * 60_000).toISOString().slice(0, 23);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const suffix =
    offset === 0
      ? 'Z'
      : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return {
    ...seedEvent,
    eventType: options.eventType ?? seedEvent.eventType,
    occurredAt: `${local}${suffix}`,
    customerExternalId: `acct_${id}`,
    idempotencyKey: `${id}-${RUN}-${n}`,
    payload: options.payload ?? { n },
  };
}

/** Every object under the bucket, with its bytes. */
async function objectsIn(bucket: string): Promise<Map<string, Buffer>> {
  const s3 = clients.s3();
  const out = new Map<string, Buffer>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
      out.set(
        o.Key as string,
        Buffer.from(
          await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
        ),
      );
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

const KEY_SHAPE =
  /^(?<prefix>.*)event_type=(?<eventType>[^/]+)\/dt=(?<dt>\d{4}-\d{2}-\d{2})\/hour=(?<hour>\d{2})\/part-(?<sha>[0-9a-f]{64})\.ndjson$/;
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * Reads every object back as a data team would, checking the contract on the way: the key is the
 * partition of every line plus the SHA-256 of the bytes, each line is one canonical record, lines are
 * in order, and the file is within the limits. Answers the eventIds per key.
 */
function readParts(
  objects: Map<string, Buffer>,
  destination: S3DestinationConfig,
): Map<string, EventRecord[]> {
  const out = new Map<string, EventRecord[]>();
  for (const [key, bytes] of objects) {
    const match = KEY_SHAPE.exec(key);
    expect(match, key).not.toBeNull();
    const g = match?.groups as Record<string, string>;
    expect(g.prefix).toBe(destination.keyPrefix);
    expect(g.sha).toBe(sha256(bytes));
    expect(bytes.length).toBeLessThanOrEqual(destination.batchSizeMb * MiB);
    const text = bytes.toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines.length).toBeLessThanOrEqual(destination.maxEvents);
    const records = lines.map((line) => {
      const parsed = EventRecordSchema.safeParse(JSON.parse(line));
      expect(parsed.success).toBe(true);
      expect(canonicalJson(JSON.parse(line))).toBe(line);
      return parsed.data as EventRecord;
    });
    for (const r of records)
      expect(partitionOf(r)).toEqual({ eventType: g.eventType, dt: g.dt, hour: g.hour });
    expect([...records].sort(compareRecords)).toEqual(records);
    expect(key).toBe(objectKey(destination.keyPrefix, partitionOf(records[0] as EventRecord), sha256(bytes)));
    out.set(key, records);
  }
  return out;
}

const idsIn = (parts: Map<string, EventRecord[]>) => [...parts.values()].flat().map((r) => r.eventId);

/** PutObject requests the batcher sent to a bucket. */
const putsTo = (bucket: string) =>
  proxy.calls('S3.PUT').filter((r) => r.path.startsWith(`/${bucket}/`) && r.path.includes('/part-'));
const keyOfPut = (r: CapturedRequest) =>
  decodeURIComponent(r.path.split('?')[0]?.replace(/^\/[^/]+\//, '') ?? '');

async function queueCounts(url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes: a } = await clients.sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(a?.ApproximateNumberOfMessages),
    inFlight: Number(a?.ApproximateNumberOfMessagesNotVisible),
  };
}

async function receiveAll(url: string): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const { Messages = [] } = await clients.sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) return out;
    out.push(...Messages);
  }
}

/** Makes in-flight messages visible now (what their visibility timeout would do, later). */
async function makeVisible(url: string, receiptHandles: readonly string[]): Promise<void> {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    await clients.sqs().send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: receiptHandles
          .slice(i, i + 10)
          .map((h, n) => ({ Id: String(n), ReceiptHandle: h, VisibilityTimeout: 0 })),
      }),
    );
  }
}

async function attemptsOf(destinationId: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await clients.dynamodb().send(
    new QueryCommand({
      TableName: tables.attempts,
      KeyConditionExpression: 'destinationId = :d',
      ExpressionAttributeValues: { ':d': { S: destinationId } },
    }),
  );
  return Items.map((i) => unmarshall(i));
}

/** A handler that remembers the records it was given (their receipt handles, to force redelivery). */
function recording(handler: SqsHandler): { handler: SqsHandler; records: SQSRecord[] } {
  const records: SQSRecord[] = [];
  return {
    records,
    handler: (event, context) => {
      records.push(...event.Records);
      return handler(event, context);
    },
  };
}

describe('S3 batcher on moto', () => {
  it('writes 2,500 events over 2 types and 3 hours into content-addressed parts, each event exactly once', async () => {
    const destination = destinationOf('bulk');
    // 23:00, 00:00 and 01:00 UTC across midnight, written with offsets the partition must undo.
    const hourStart = (h: number) => Date.UTC(2026, 4, 26, 23 + h);
    const offsets = [0, -120, 330];
    const events = Array.from({ length: 2500 }, (_, n) => {
      // 1,000 small order events in one hour, then 1,000 invoice events of ≈9.4 KB in another (a
      // batch of more than ~110 of them is cut at 1 MiB), then 500 over every type and hour.
      const [eventType, hour, pad] =
        n < 1000
          ? ['order.completed', 1, 0]
          : n < 2000
            ? ['invoice.sent', 2, 9000]
            : [n % 2 ? 'order.completed' : 'invoice.sent', n % 3, 0];
      return eventFor('bulk', n, {
        eventType,
        utc: hourStart(hour) + ((n * 7919) % 3_600_000),
        offsetMinutes: offsets[n % 3],
        payload: pad ? { n, pad: 'p'.repeat(pad) } : { n },
      });
    });
    const poller = pollerFor('bulk', batcherFor('bulk'));
    const posted: string[] = [];
    const results: BatchResult[] = [];
    for (let i = 0; i < events.length; i += 500) {
      posted.push(...(await ingest(events.slice(i, i + 500))));
      results.push(...(await runBatches(poller, 500, queueUrlOf('bulk'))));
    }
    expect(new Set(posted).size).toBe(2500);
    expect(sum(results, 'failed')).toBe(0);
    expect(Math.max(...results.map((r) => r.received))).toBeLessThanOrEqual(destination.maxEvents);

    const objects = await objectsIn(destination.bucket);
    const parts = readParts(objects, destination);
    const ids = idsIn(parts);
    expect(ids).toHaveLength(2500); // no event twice…
    expect(new Set(ids)).toEqual(new Set(posted)); // …and none missing
    const partitions = new Set([...parts.keys()].map((k) => k.replace(/part-.*$/, '')));
    expect([...partitions].sort()).toEqual(
      ['invoice.sent', 'order.completed'].flatMap((t) =>
        ['dt=2026-05-26/hour=23', 'dt=2026-05-27/hour=00', 'dt=2026-05-27/hour=01'].map(
          (p) => `raw/pushrail/event_type=${t}/${p}/`,
        ),
      ),
    );

    const s3 = clients.s3();
    for (const [key, records] of parts) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: key }));
      expect(head.ContentType).toBe('application/x-ndjson');
      expect(head.StorageClass).toBe('STANDARD_IA');
      expect(head.Metadata).toEqual({
        'destination-id': 'bulk',
        'event-count': String(records.length),
        'first-occurred-at': new Date(Date.parse((records[0] as EventRecord).occurredAt)).toISOString(),
        'last-occurred-at': new Date(Date.parse((records.at(-1) as EventRecord).occurredAt)).toISOString(),
      });
    }
    expect(new Set(putsTo(destination.bucket).map(keyOfPut))).toEqual(new Set(parts.keys()));
    expect(await queueCounts(queueUrlOf('bulk'))).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueCounts(dlqUrlOf('bulk'))).toEqual({ visible: 0, inFlight: 0 });
    for (const put of putsTo(destination.bucket)) {
      expect(put.headers['x-amz-expected-bucket-owner']).toBe(ACCOUNT);
      expect(put.headers['if-none-match']).toBe('*');
      expect(put.headers['x-amz-storage-class']).toBe('STANDARD_IA');
    }
    const largest = Math.max(...[...objects.values()].map((b) => b.length));
    console.log(`bulk: ${results.length} batches, ${parts.size} objects, largest ${largest} bytes`);
  }, 480_000); // ≈60 s on an idle machine; moto is single-threaded, and with two workers the fault suite
  // runs beside it on a 2-core machine: leave room for a busy one

  it('after a crash between the PUT and the delete, a redelivery in another grouping adds no rows and no keys', async () => {
    const destination = destinationOf('crash');
    const events = Array.from({ length: 60 }, (_, n) =>
      eventFor('crash', n, {
        eventType: n % 2 ? 'order.completed' : 'invoice.sent',
        utc: Date.UTC(2026, 4, 26, 14, n % 60, n),
      }),
    );
    const posted = await ingest(events);

    // The function does all its work, then dies before the event source mapping deletes the batch.
    const first = recording(batcherFor('crash'));
    const crashPoller = pollerFor('crash', first.handler);
    while (first.records.length < 60) {
      const crashed = await crashPoller.runOnce({ deleteAfter: false, maxWaitSeconds: 5 });
      expect(crashed.received).toBeGreaterThan(0);
      expect(crashed).toMatchObject({ failed: 0, deleted: 0 });
    }
    expect(await queueCounts(queueUrlOf('crash'))).toEqual({ visible: 0, inFlight: 60 });
    const before = await objectsIn(destination.bucket);
    expect(new Set(idsIn(readParts(before, destination)))).toEqual(new Set(posted));
    const putsBefore = putsTo(destination.bucket).length;

    // The batch comes back after its visibility timeout, this time in batches of 7.
    await makeVisible(
      queueUrlOf('crash'),
      first.records.map((r) => r.receiptHandle),
    );
    const again = await runBatches(pollerFor('crash', batcherFor('crash'), 7), 60, queueUrlOf('crash'));
    expect(sum(again, 'received')).toBe(60);
    expect(sum(again, 'failed')).toBe(0);
    expect(again.length).toBeGreaterThanOrEqual(9);

    const after = await objectsIn(destination.bucket);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [key, bytes] of after) expect(bytes.equals(before.get(key) as Buffer)).toBe(true);
    const ids = idsIn(readParts(after, destination));
    expect(ids).toHaveLength(60);
    expect(new Set(ids)).toEqual(new Set(posted));
    // Every PUT of the redelivery went to a key that already existed.
    const redeliveryPuts = putsTo(destination.bucket).slice(putsBefore);
    expect(redeliveryPuts.length).toBeGreaterThan(0);
    for (const put of redeliveryPuts) expect(before.has(keyOfPut(put))).toBe(true);
    expect(await queueCounts(queueUrlOf('crash'))).toEqual({ visible: 0, inFlight: 0 });
  });

  it('looks up seals only for redelivered events, and a redelivery still adds no rows', async () => {
    const destination = destinationOf('lookup');
    const posted = await ingest([0, 1, 2, 3, 4, 5].map((n) => eventFor('lookup', n)));
    const sealReads = () =>
      proxy.calls('DynamoDB.BatchGetItem').filter((r) => r.body.includes(tables.seals)).length;

    // First receive: nothing can be sealed yet (and if it were, the conditional claim would say so).
    const first = recording(batcherFor('lookup'));
    const crashPoller = pollerFor('lookup', first.handler);
    while (first.records.length < 6) {
      const crashed = await crashPoller.runOnce({ deleteAfter: false, maxWaitSeconds: 5 });
      expect(crashed).toMatchObject({ failed: 0, deleted: 0 });
    }
    expect(first.records.every((r) => r.attributes.ApproximateReceiveCount === '1')).toBe(true);
    expect(sealReads()).toBe(0);
    const before = await objectsIn(destination.bucket);
    expect(new Set(idsIn(readParts(before, destination)))).toEqual(new Set(posted));

    // The crash left them undeleted: the redelivery reads their seals and rewrites the same parts.
    await makeVisible(
      queueUrlOf('lookup'),
      first.records.map((r) => r.receiptHandle),
    );
    const again = await runBatches(pollerFor('lookup', batcherFor('lookup')), 6, queueUrlOf('lookup'));
    expect(sum(again, 'failed')).toBe(0);
    expect(sealReads()).toBeGreaterThan(0);
    const after = await objectsIn(destination.bucket);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(idsIn(readParts(after, destination))).toHaveLength(6);
    expect(await queueCounts(queueUrlOf('lookup'))).toEqual({ visible: 0, inFlight: 0 });
  });

  it('dead-letters NoSuchBucket after one attempt, with the reason, and empties the source queue', async () => {
    const posted = await ingest([0, 1, 2].map((n) => eventFor('gone', n)));
    const results = await runBatches(pollerFor('gone', batcherFor('gone')), 3, queueUrlOf('gone'));
    expect(results).toEqual([{ received: 3, failed: 0, deleted: 3 }]);
    expect(putsTo(bucketOf('gone'))).toHaveLength(1); // one part, one attempt: no retry of a permanent error

    const dead = await receiveAll(dlqUrlOf('gone'));
    expect(dead.map((m) => m.MessageAttributes?.[DLQ_ATTRIBUTES.eventId]?.StringValue).sort()).toEqual(
      [...posted].sort(),
    );
    for (const m of dead) {
      const attribute = (name: string) => m.MessageAttributes?.[name]?.StringValue;
      expect(attribute(DLQ_ATTRIBUTES.failureClass)).toBe('permanent');
      expect(attribute(DLQ_ATTRIBUTES.errorCode)).toBe('NoSuchBucket');
      expect(attribute(DLQ_ATTRIBUTES.destinationId)).toBe('gone');
      expect(attribute(DLQ_ATTRIBUTES.reason)).toMatch(/bucket/i);
      expect(attribute(DLQ_ATTRIBUTES.attempts)).toBe('1');
      expect(Date.parse(attribute(DLQ_ATTRIBUTES.failedAt) ?? '')).toBeGreaterThan(Date.now() - 60_000);
      expect(EventRecordSchema.safeParse(JSON.parse(m.Body ?? '')).success).toBe(true); // the body, unchanged
    }
    expect(await queueCounts(queueUrlOf('gone'))).toEqual({ visible: 0, inFlight: 0 });

    const attempts = await attemptsOf('gone');
    expect(attempts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ outcome: 'failed', failureClass: 'permanent', errorCode: 'NoSuchBucket' }),
        expect.objectContaining({ outcome: 'dead-lettered', errorCode: 'NoSuchBucket', eventCount: 3 }),
      ]),
    );
  });

  it('retries S3 503 SlowDown with backoff and then delivers each event exactly once', async () => {
    const destination = destinationOf('slow');
    const slowDown = proxy.inject(
      (r) => r.operation === 'S3.PUT' && r.path.startsWith(`/${destination.bucket}/`),
      s3Error(503, 'SlowDown', 'Please reduce your request rate.'),
    );
    const posted = await ingest([0, 1, 2, 3].map((n) => eventFor('slow', n)));
    const handler = batcherFor('slow', { random: () => 0.5 });

    const failed = await pollerFor('slow', handler).runOnce({ maxWaitSeconds: 5 });
    expect(failed).toEqual({ received: 4, failed: 4, deleted: 0 });
    expect(putsTo(destination.bucket).length).toBe(3); // the SDK's own 3 attempts, all answered 503
    const [visibility, ...more] = proxy.calls('AmazonSQS.ChangeMessageVisibilityBatch');
    expect(more).toEqual([]);
    const request = JSON.parse(visibility?.body ?? '{}') as {
      QueueUrl: string;
      Entries: { ReceiptHandle: string; VisibilityTimeout: number }[];
    };
    expect(request.QueueUrl).toBe(viaProxy(queueUrlOf('slow')));
    const expected = decideRetry({
      firstAttemptAt: new Date(),
      now: new Date(),
      attempt: 1,
      random: () => 0.5,
    });
    expect(expected).toEqual({ action: 'retry', delaySeconds: 15 });
    expect(request.Entries.map((e) => e.VisibilityTimeout)).toEqual([15, 15, 15, 15]);
    expect(await objectsIn(destination.bucket)).toEqual(new Map());

    // S3 recovers; rather than wait the 15 s, make the messages visible now.
    slowDown.times = 0;
    await makeVisible(
      queueUrlOf('slow'),
      request.Entries.map((e) => e.ReceiptHandle),
    );
    const retried = await runBatches(pollerFor('slow', handler), 4, queueUrlOf('slow'));
    expect(retried).toEqual([{ received: 4, failed: 0, deleted: 4 }]);

    const ids = idsIn(readParts(await objectsIn(destination.bucket), destination));
    expect(ids.sort()).toEqual([...posted].sort());
    expect(await queueCounts(dlqUrlOf('slow'))).toEqual({ visible: 0, inFlight: 0 });
    const outcomes = (await attemptsOf('slow')).map((a) => [a.outcome, a.failureClass, a.errorCode]);
    expect(outcomes).toEqual([
      ['failed', 'transient', 'SlowDown'],
      ['delivered', undefined, undefined],
    ]);
  });

  it('assumes the role with the ExternalId and sends ExpectedBucketOwner, If-None-Match, checksum and storage class', async () => {
    const destination = destinationOf('owner');
    const handler = batcherFor('owner');
    await ingest(
      [0, 1, 2].map((n) => eventFor('owner', n, { eventType: n ? 'order.completed' : 'invoice.sent' })),
    );
    await runBatches(pollerFor('owner', handler), 3, queueUrlOf('owner'));
    await ingest([3, 4].map((n) => eventFor('owner', n)));
    await runBatches(pollerFor('owner', handler), 2, queueUrlOf('owner'));

    const assumed = proxy
      .calls('STS.AssumeRole')
      .map((r) => Object.fromEntries(new URLSearchParams(r.body)))
      .filter((p) => p.RoleArn === roleOf('owner'));
    // Once: the second batch reuses the cached session.
    expect(assumed).toEqual([
      expect.objectContaining({
        RoleArn: roleOf('owner'),
        ExternalId: externalIdOf('owner'),
        RoleSessionName: 'pushrail-owner',
      }),
    ]);

    const puts = putsTo(destination.bucket);
    expect(puts.length).toBe(3); // two partitions in the first batch, one in the second
    for (const put of puts) {
      const h = put.headers;
      expect(h['x-amz-expected-bucket-owner']).toBe(ACCOUNT);
      expect(h['if-none-match']).toBe('*');
      expect(h['x-amz-storage-class']).toBe('GLACIER_IR');
      expect(h['content-type']).toBe('application/x-ndjson');
      expect(h['x-amz-meta-destination-id']).toBe('owner');
      const sha = /part-([0-9a-f]{64})\.ndjson/.exec(put.path)?.[1] as string;
      expect(h['x-amz-checksum-sha256']).toBe(Buffer.from(sha, 'hex').toString('base64'));
      expect(sha256(put.body)).toBe(sha);
      // Signed with the assumed role's session, not with Pushrail's own credentials.
      expect(String(h.authorization)).toMatch(/Credential=ASIA[A-Z0-9]{16}\//);
      expect(h['x-amz-security-token']).toBeTruthy();
    }
  });

  it('rewrites the sealed part byte-for-byte when an already-delivered event is redelivered alone', async () => {
    const destination = destinationOf('again');
    const posted = await ingest([0, 1, 2, 3, 4].map((n) => eventFor('again', n)));
    const handler = batcherFor('again');
    await runBatches(pollerFor('again', handler), 5, queueUrlOf('again'));
    const before = await objectsIn(destination.bucket);
    expect(before.size).toBe(1);
    const [[key, bytes]] = [...before] as [[string, Buffer]];
    // The bucket answers a second create of that key with 412, which the batcher must take as success.
    await expect(
      clients.s3().send(
        new PutObjectCommand({
          Bucket: destination.bucket,
          Key: key,
          Body: 'other bytes',
          IfNoneMatch: '*',
        }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });

    // One member comes back alone (an SQS duplicate, a replay): the part is rebuilt from the event store.
    const redelivered = posted[2] as string;
    const stored = await clients
      .dynamodb()
      .send(new GetItemCommand({ TableName: tables.events, Key: { eventId: { S: redelivered } } }));
    await clients.sqs().send(
      new SendMessageCommand({
        QueueUrl: queueUrlOf('again'),
        MessageBody: storedEventOf(stored.Item ?? {}).record,
        MessageAttributes: { eventId: { DataType: 'String', StringValue: redelivered } },
      }),
    );
    proxy.requests.length = 0;
    const results = await runBatches(pollerFor('again', handler), 1, queueUrlOf('again'));
    expect(results).toEqual([{ received: 1, failed: 0, deleted: 1 }]);

    const puts = putsTo(destination.bucket);
    expect(puts.map(keyOfPut)).toEqual([key]);
    expect(Buffer.from(puts[0]?.body ?? '', 'utf8').equals(bytes)).toBe(true);
    const after = await objectsIn(destination.bucket);
    expect([...after.keys()]).toEqual([key]);
    expect(after.get(key)?.equals(bytes)).toBe(true);
    expect(await queueCounts(dlqUrlOf('again'))).toEqual({ visible: 0, inFlight: 0 });

    const attempts = await attemptsOf('again');
    expect(attempts).toHaveLength(2);
    const members = idsIn(readParts(before, destination));
    for (const a of attempts) {
      expect(a).toMatchObject({
        destinationId: 'again',
        destinationType: 'S3',
        outcome: 'delivered',
        credentialsMode: 'ASSUME_ROLE',
        target: key,
        eventIds: members,
        eventCount: 5,
      });
      expect(typeof a.latencyMs).toBe('number');
      const text = JSON.stringify(a);
      expect(text).not.toMatch(/secret|sessionToken|(AKIA|ASIA)[A-Z0-9]{16}/i);
    }
  });

  it('uses a rotated access key for the next batch and never stores the secret', async () => {
    const destination = destinationOf('keys');
    // The secret cache (Powertools) runs on the system clock: move that, still ticking, past its minute.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const handler = batcherFor('keys');
    const poller = pollerFor('keys', handler);
    const credentialOfPuts = () =>
      putsTo(destination.bucket).map(
        (r) => /Credential=([^/]+)\//.exec(String(r.headers.authorization))?.[1],
      );
    const deliverBatch = async (n: number) => {
      proxy.requests.length = 0;
      await ingest([eventFor('keys', n)]);
      expect(await runBatches(poller, 1, queueUrlOf('keys'))).toEqual([
        { received: 1, failed: 0, deleted: 1 },
      ]);
      return credentialOfPuts();
    };

    expect(await deliverBatch(0)).toEqual([KEY_V1.accessKeyId]);
    expect(putsTo(destination.bucket)[0]?.headers['x-amz-expected-bucket-owner']).toBe(ACCOUNT);
    await clients
      .secrets()
      .send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify(KEY_V2) }));
    // Within the secret cache's minute, batches keep the key they have…
    expect(await deliverBatch(1)).toEqual([KEY_V1.accessKeyId]);
    // …and the first batch after it uses the rotated one.
    vi.setSystemTime(Date.now() + 61_000);
    expect(await deliverBatch(2)).toEqual([KEY_V2.accessKeyId]);
    expect(await deliverBatch(3)).toEqual([KEY_V2.accessKeyId]);

    // A service error that echoes the key pair: the DLQ and the audit trail must not repeat it.
    proxy.inject(
      (r) => r.operation === 'S3.PUT' && r.path.startsWith(`/${destination.bucket}/`),
      s3Error(
        403,
        'InvalidAccessKeyId',
        `The AWS Access Key Id ${KEY_V2.accessKeyId} with secret ${KEY_V2.secretAccessKey} does not exist`,
      ),
      1,
    );
    await ingest([eventFor('keys', 4)]);
    expect(await runBatches(poller, 1, queueUrlOf('keys'))).toEqual([{ received: 1, failed: 0, deleted: 1 }]);
    const [dead, ...more] = await receiveAll(dlqUrlOf('keys'));
    expect(more).toEqual([]);
    expect(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue).toBe('InvalidAccessKeyId');

    const attempts = await attemptsOf('keys');
    expect(attempts.filter((a) => a.outcome === 'delivered')).toHaveLength(4);
    for (const a of attempts.filter((x) => x.outcome !== 'dead-lettered'))
      expect(a.credentialsMode).toBe('ACCESS_KEY');
    const stored = JSON.stringify([attempts, dead?.MessageAttributes]);
    for (const value of [...Object.values(KEY_V1), ...Object.values(KEY_V2)])
      expect(stored).not.toContain(value);
  });
});
