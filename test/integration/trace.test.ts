import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runTrace } from '../../cli/trace-command.js';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import { runDeliveryBatch } from '../../lambdas/adapters/delivery-batch.js';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { EventStore, storedEventFor } from '../../lambdas/adapters/event-store.js';
import { TraceLog } from '../../lambdas/adapters/trace-log.js';
import { TraceReader } from '../../lambdas/adapters/trace-reader.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { toMessage } from '../../lambdas/core/queue-message.js';
import { DAY_SECONDS } from '../../lambdas/core/resources.js';
import type { Trace, TraceDelivery } from '../../lambdas/core/trace.js';
import { createDeliveryHandler as createEventBridgeSenderHandler } from '../../lambdas/destinations/eventbridge/handler.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { deliverySettings } from '../../lambdas/destinations/index.js';
import { createDeliveryHandler as createS3BatcherHandler } from '../../lambdas/destinations/s3/handler.js';
import { ensureBucket } from '../../lambdas/destinations/s3/local-customer.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import type { ReplayHandler } from '../../lambdas/replay/handler.js';
import { startApiServer } from '../../local/api-server.js';
import { clientConfig, type EmulatorTarget, s3ClientConfig } from '../../local/aws-clients.js';
import { type CustomerAccess, customerAccess } from '../../local/customer-credentials.js';
import { localDeliveryEnvironment } from '../../local/delivery-pollers.js';
import { type Provisioned, provision } from '../../local/provision.js';
import { QueuePoller } from '../../local/queue-poller.js';
import { queueArn } from '../../local/queues.js';
import { replayFunction } from '../../local/replay-function.js';
import { localManagementEnvironment } from '../../local/runtime-destinations.js';
import { FaultProxy, jsonError } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { call, type Handler } from '../support/management.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Trace on moto, through the real handlers (DESIGN.md invariant 12): events go in through the ingest
 * handler, the S3 batcher and the EventBridge sender run under QueuePollers, every AWS request of the
 * consumers passes a FaultProxy (throttling is injected there), and traces are read through the
 * management handler's `GET /v1/events/{eventId}`.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const RUN = randomUUID().slice(0, 8);
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const BUS = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/pushrail-trace-${RUN}`;

const writer = (id: string) => ({
  mode: 'ASSUME_ROLE',
  roleArn: `arn:aws:iam::${ACCOUNT}:role/PushrailWriter`,
  externalId: `ext-${id}-7Pq2`,
});
const s3Destination = (id: string, customerExternalId: string) => ({
  id,
  type: 'S3',
  name: id,
  customerExternalId,
  bucket: `pushrail-trace-${id}-${RUN}`,
  keyPrefix: `${id}/`,
  region: REGION,
  flushIntervalSec: 1,
  maxEvents: 100,
  auth: writer(id),
});

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [
    s3Destination('archive', 'acct_a'), // healthy S3
    {
      id: 'bus',
      type: 'EVENTBRIDGE',
      name: 'bus',
      customerExternalId: 'acct_a',
      busArn: BUS,
      region: REGION,
      auth: writer('bus'),
    },
    s3Destination('broken', 'acct_b'), // the customer deletes the bucket
    s3Destination('busy', 'acct_c'), // the 20 h budget: records written with an injected clock
  ],
});

const endpoint = () => inject('awsEndpoint');
const target = (): EmulatorTarget => ({ endpoint: endpoint(), region: REGION });
const sqs = new SQSClient({ endpoint: endpoint(), region: REGION });
const dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION });

let proxy: FaultProxy;
let harness: IngestHarness;
let provisioned: Provisioned;
let management: Handler;
let replay: ReplayHandler;
let customer: CustomerAccess;
const pollers = new Map<string, QueuePoller>();

const destinationOf = (id: string): Destination =>
  config.destinations.find((d) => d.id === id) as Destination;
const s3Of = (id: string) => destinationOf(id) as S3DestinationConfig;
const queueUrlOf = (id: string) => provisioned.destinations[id]?.queueUrl as string;
const dlqUrlOf = (id: string) => provisioned.destinations[id]?.dlqUrl as string;
const customerS3 = () => new S3Client(s3ClientConfig({ ...target(), credentials: customer.credentials }));

beforeAll(async () => {
  proxy = await FaultProxy.start(endpoint());
  harness = await startIngestHarness({ config, awsEndpoint: endpoint(), handlerEndpoint: endpoint() });
  // The consumers' and the replay function's SDK clients take their endpoint from the process.
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  provisioned = await provision({ config, namePrefix: harness.namePrefix, target: target() });
  const store = new DestinationStore(dynamodb, provisioned.tables.destinations as string);
  const at = new Date().toISOString();
  for (const destination of config.destinations) {
    await store.create({
      destination,
      version: 1,
      desired: 'ACTIVE',
      status: 'ACTIVE',
      createdAt: at,
      updatedAt: at,
      updatedBy: 'test',
      queueUrl: queueUrlOf(destination.id),
      dlqUrl: dlqUrlOf(destination.id),
    });
  }
  management = createManagementHandler(
    localManagementEnvironment({
      tables: provisioned.tables,
      namePrefix: harness.namePrefix,
      accountId: ACCOUNT,
      target: target(),
    }),
  );
  replay = replayFunction({ config, namePrefix: harness.namePrefix, provisioned }).handler;
  customer = await customerAccess(destinationOf('archive'), target());
  const context = { config, namePrefix: harness.namePrefix, target: target(), provisioned };
  for (const destination of config.destinations) {
    const env = { ...process.env, ...localDeliveryEnvironment(context, destination) };
    const settings = deliverySettings(destination);
    pollers.set(
      destination.id,
      new QueuePoller({
        sqs,
        queueUrl: queueUrlOf(destination.id),
        queueArn: await queueArn(sqs, queueUrlOf(destination.id)),
        region: REGION,
        batchSize: settings.batchSize,
        windowSeconds: 1,
        timeoutSeconds: settings.timeoutSeconds,
        handler:
          destination.type === 'S3' ? createS3BatcherHandler(env) : createEventBridgeSenderHandler(env),
        functionName: `${harness.namePrefix}-${destination.id}`,
      }),
    );
  }
  await customerS3().send(new DeleteBucketCommand({ Bucket: s3Of('broken').bucket }));
});

afterAll(async () => {
  sqs.destroy();
  dynamodb.destroy();
  await proxy?.stop();
});

// ---------------------------------------------------------------------------------------------------

let requests = 0;

/** POSTs one event through the real ingest handler; answers its eventId. */
async function post(customerExternalId: string, key: string): Promise<string> {
  requests += 1;
  const res = await harness.handler(
    {
      httpMethod: 'POST',
      path: '/v1/events',
      resource: '/v1/events',
      headers: { 'content-type': 'application/json' },
      multiValueHeaders: {},
      body: JSON.stringify({ ...seedEvent, customerExternalId, idempotencyKey: `${key}-${RUN}` }),
      isBase64Encoded: false,
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      requestContext: { requestId: `trace-${requests}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
    } as unknown as APIGatewayProxyEvent,
    { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 29_000 } as unknown as Context,
  );
  expect(res.statusCode, res.body).toBe(202);
  return (JSON.parse(res.body) as { eventId: string }).eventId;
}

async function drain(id: string): Promise<void> {
  const poller = pollers.get(id) as QueuePoller;
  for (;;) {
    const result = await poller.runOnce({ maxWaitSeconds: 1 });
    if (result.received === 0) return;
  }
}

async function trace(eventId: string, query = ''): Promise<Trace> {
  const res = await call(management, 'GET', `/v1/events/${eventId}${query}`);
  expect(res.statusCode, res.raw).toBe(200);
  return res.body as Trace;
}

const deliveryTo = (t: Trace, id: string): TraceDelivery =>
  t.deliveries.find((d) => d.destinationId === id) as TraceDelivery;

/** Reads (and deletes) what the customer's bus copied into its inbox queue. */
async function readInbox(): Promise<{ id: string; detail: { eventId: string } }[]> {
  const inbox = provisioned.destinations.bus;
  if (inbox?.type !== 'EVENTBRIDGE') throw new Error('no bus destination');
  const client = new SQSClient(clientConfig({ ...target(), credentials: customer.credentials }));
  const out: { id: string; detail: { eventId: string } }[] = [];
  for (;;) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: inbox.inboxQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    if (Messages.length === 0) break;
    out.push(
      ...Messages.map((m) => JSON.parse(m.Body ?? '{}') as { id: string; detail: { eventId: string } }),
    );
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: inbox.inboxQueueUrl,
        Entries: Messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  client.destroy();
  return out;
}

// ---------------------------------------------------------------------------------------------------

describe('GET /v1/events/{eventId}', () => {
  it('404 in the usual error shape for an unknown event, 400 for an unknown include', async () => {
    const unknown = await call(management, 'GET', `/v1/events/${deriveEventId('nobody', 'nothing')}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'NOT_FOUND' });
    const malformed = await call(management, 'GET', '/v1/events/not-an-id');
    expect(malformed.statusCode).toBe(404);
    const id = await post('acct_b', 'include');
    const bad = await call(management, 'GET', `/v1/events/${id}?include=everything`);
    expect(bad.statusCode).toBe(400);
  });

  it('a routed event without an attempt yet is pending; the payload only with ?include=payload', async () => {
    const id = await post('acct_a', 'pending');
    const t = await trace(id);
    expect(t).toMatchObject({
      eventId: id,
      customerExternalId: 'acct_a',
      eventType: seedEvent.eventType,
      idempotencyKey: `pending-${RUN}`,
    });
    expect(t).not.toHaveProperty('payload');
    expect(t.deliveries.map((d) => [d.destinationId, d.status]).sort()).toEqual([
      ['archive', 'pending'],
      ['bus', 'pending'],
    ]);
    expect((await trace(id, '?include=payload')).payload).toEqual(seedEvent.payload);
    await drain('archive');
    await drain('bus');
    await readInbox();
  });

  it('a delivered event traces to the exact S3 object that holds it and to its EventBridge entry', async () => {
    const id = await post('acct_a', 'delivered');
    await drain('archive');
    await drain('bus');
    const t = await trace(id);

    const archive = deliveryTo(t, 'archive');
    expect(archive.status).toBe('delivered');
    const prefix = `s3://${s3Of('archive').bucket}/`;
    expect(archive.target?.startsWith(prefix)).toBe(true);
    const key = (archive.target as string).slice(prefix.length);
    const object = await customerS3().send(
      new GetObjectCommand({ Bucket: s3Of('archive').bucket, Key: key }),
    );
    const lines = ((await object.Body?.transformToString('utf8')) ?? '').split('\n').filter(Boolean);
    expect(lines.map((l) => (JSON.parse(l) as { eventId: string }).eventId)).toContain(id);
    expect(archive.attempts).toEqual([
      expect.objectContaining({
        outcome: 'delivered',
        target: archive.target,
        latencyMs: expect.any(Number),
      }),
    ]);

    const bus = deliveryTo(t, 'bus');
    expect(bus.status).toBe('delivered');
    const inbox = await readInbox();
    const entry = inbox.find((m) => m.detail.eventId === id);
    expect(entry?.id).toBeDefined();
    expect(bus.target).toBe(entry?.id);
  });

  it('throttling on EventBridge: the trace says retrying, with the reason and the next attempt time', async () => {
    proxy.inject(
      (r) => r.operation === 'AWSEvents.PutEvents',
      jsonError(400, 'ThrottlingException', 'Rate exceeded'),
    );
    try {
      const id = await post('acct_a', 'throttled');
      const before = Date.now();
      await (pollers.get('bus') as QueuePoller).runOnce({ maxWaitSeconds: 1 });
      const bus = deliveryTo(await trace(id), 'bus');
      expect(bus.status).toBe('retrying');
      expect(bus.reason).toMatch(/Throttling/);
      expect(Date.parse(bus.nextAttemptAt as string)).toBeGreaterThanOrEqual(before - 1000);
      expect(bus.attempts.at(-1)).toMatchObject({
        outcome: 'retry-scheduled',
        errorCode: 'ThrottlingException',
      });
    } finally {
      proxy.clearFaults();
    }
    await drain('archive');
  });

  it('a dead-lettered event (bucket deleted) traces with NoSuchBucket; after replay, the replayed attempt and the delivery', async () => {
    const id = await post('acct_b', 'dead');
    await drain('broken');
    const dead = deliveryTo(await trace(id), 'broken');
    expect(dead.status).toBe('dead-lettered');
    expect(dead.reason).toMatch(/NoSuchBucket/);
    expect(dead.attempts.at(-1)).toMatchObject({ outcome: 'dead-lettered', errorCode: 'NoSuchBucket' });

    // The customer creates the bucket again; on-call replays the DLQ.
    await ensureBucket(s3Of('broken'), customer, target());
    const result = await replay({ destinationId: 'broken', source: 'dlq', requestedBy: 'on-call' }, {
      awsRequestId: randomUUID(),
      getRemainingTimeInMillis: () => 15 * 60 * 1000,
    } as unknown as Context);
    expect(result.replayed).toBeGreaterThanOrEqual(1);
    await drain('broken');
    const after = deliveryTo(await trace(id), 'broken');
    expect(after.status).toBe('delivered');
    expect(after.attempts.map((a) => a.outcome)).toEqual(['dead-lettered', 'replayed', 'delivered']);
    expect(after.target).toMatch(new RegExp(`^s3://${s3Of('broken').bucket}/broken/`));
  });
});

describe('npx pushrail trace, against the local API server', () => {
  it('prints the timeline, and --json the API answer, signed like the other commands', async () => {
    const server = await startApiServer({
      handler: harness.handler,
      managementHandler: management,
      apiKey: 'unused',
      function: { functionName: 'management', region: REGION, accountId: ACCOUNT },
      port: 0,
      log: () => undefined,
    });
    try {
      const id = await post('acct_b', 'cli');
      await drain('broken');
      const lines: string[] = [];
      const errors: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l) };
      const resolveTarget = async () => ({
        baseUrl: server.url,
        region: REGION,
        credentials: { accessKeyId: 'AKIAOPERATOR00000001', secretAccessKey: 'local' },
        where: 'the test server',
      });
      expect(await runTrace([id], { io, resolveTarget })).toBe(0);
      const text = lines.join('\n');
      expect(text).toContain(id);
      expect(text).toMatch(/broken \(S3\): (dead-lettered|delivered)/);
      lines.length = 0;
      expect(await runTrace([id, '--json'], { io, resolveTarget })).toBe(0);
      expect((JSON.parse(lines.join('\n')) as Trace).eventId).toBe(id);
      expect(await runTrace([deriveEventId('nobody', 'cli')], { io, resolveTarget })).toBe(1);
      expect(errors.join('\n')).toMatch(/NOT_FOUND|not found/i);
    } finally {
      await server.close();
    }
  });
});

describe('a failure 20 h ago, behind 20 h of a busy destination', () => {
  /** The budget: about 1 MB read per trace (eventually consistent: 128 read units). */
  const MAX_BYTES = 1024 * 1024;
  const MAX_READ_UNITS = 128;

  it('is found reading one bucket and one event partition, within the budget', async () => {
    const retention = config.retentionDays * DAY_SECONDS;
    const attemptsTable = harness.tables.attempts as string;
    const traceLog = new TraceLog(dynamodb, attemptsTable, retention);
    const attemptLog = new AttemptLog(dynamodb, attemptsTable, retention);
    const events = new EventStore(dynamodb, harness.tables.events as string);
    const now = Date.now();
    const failedAt = new Date(now - 20 * 3600 * 1000);

    // The traced event: received and failed (transient, then dead-lettered later) 20 h ago, with the
    // injected clock of runDeliveryBatch.
    const record: EventRecord = {
      ...(seedEvent as unknown as EventRecord),
      customerExternalId: 'acct_c',
      idempotencyKey: `old-${RUN}`,
      eventId: deriveEventId('acct_c', `old-${RUN}`),
      receivedAt: new Date(failedAt.getTime() - 2000).toISOString(),
    };
    await events.putIfAbsent(
      storedEventFor(record, {
        bodyHash: 'test',
        destinations: ['busy'],
        expiresAt: Math.floor(now / 1000) + 3600,
      }),
    );
    const message = toMessage(record);
    const sqsEvent: SQSEvent = {
      Records: [
        {
          messageId: randomUUID(),
          receiptHandle: 'not-a-handle',
          body: message.body,
          attributes: {
            ApproximateReceiveCount: '1',
            ApproximateFirstReceiveTimestamp: String(failedAt.getTime()),
            SentTimestamp: String(failedAt.getTime()),
            SenderId: 'test',
          },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:busy',
          awsRegion: REGION,
        },
      ],
    };
    await runDeliveryBatch(
      sqsEvent,
      async () =>
        new Map([
          [
            record.eventId,
            {
              ok: false,
              failure: {
                failureClass: 'transient',
                code: 'SlowDown',
                message: 'Please reduce your request rate',
              },
              target: `s3://${s3Of('busy').bucket}/busy/part-x.ndjson`,
              latencyMs: 812,
            },
          ],
        ]),
      {
        destinationId: 'busy',
        destinationType: 'S3',
        sqs,
        sourceQueueUrl: queueUrlOf('busy'),
        dlqUrl: dlqUrlOf('busy'),
        attempts: attemptLog,
        trace: traceLog,
        logger: new Logger({ serviceName: 'test', logLevel: 'ERROR' }),
        now: () => failedAt,
        random: () => 0.5,
      },
    );

    // The busy destination around it, at 1,000 events/s: the traced event's own 10 s bucket full
    // (10,000 other members, in receipts of 100 with per-member targets, the largest kind), and 20 h
    // of batch-level attempt records and receipts in other buckets since.
    const bucketStart = Math.floor(Date.parse(record.receivedAt) / 10_000) * 10_000;
    const neighbours = Array.from({ length: 10_000 }, (_, i) => ({
      eventId: deriveEventId('acct_c', `neighbour-${i}-${RUN}`),
      receivedAt: new Date(bucketStart + (i % 10_000)).toISOString(),
      call: `PutEvents#${Math.floor(i / 10)}`,
      at: new Date(bucketStart + 1000 + i).toISOString(),
      latencyMs: 20,
      target: randomUUID(),
    }));
    for (let i = 0; i < neighbours.length; i += 100) {
      await traceLog.recordDelivered('busy', 'S3', neighbours.slice(i, i + 100));
    }
    const later: Record<string, unknown>[] = [];
    for (let m = 0; m < 20 * 60; m += 1) {
      const at = new Date(failedAt.getTime() + m * 60_000 + 5000);
      later.push({
        destinationId: 'busy',
        sk: `${at.toISOString()}#${randomUUID()}`,
        destinationType: 'S3',
        eventIds: Array.from({ length: 20 }, (_, n) => `evt_${String(m * 20 + n).padStart(26, '0')}`),
        outcome: 'delivered',
        attemptedAt: at.toISOString(),
        expiresAt: Math.floor(now / 1000) + 3600,
      });
    }
    for (let i = 0; i < later.length; i += 25) {
      await dynamodb.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [attemptsTable]: later.slice(i, i + 25).map((item) => ({ PutRequest: { Item: marshall(item) } })),
          },
        }),
      );
    }
    const laterReceipts = Array.from({ length: 20 * 60 }, (_, m) => ({
      eventId: deriveEventId('acct_c', `later-${m}-${RUN}`),
      receivedAt: new Date(failedAt.getTime() + m * 60_000 + 10_000).toISOString(),
      call: `PutEvents#${m}`,
      at: new Date(failedAt.getTime() + m * 60_000 + 11_000).toISOString(),
      target: randomUUID(),
    }));
    await traceLog.recordDelivered('busy', 'S3', laterReceipts);

    // Through the API: found, retrying as decided 20 h ago.
    const busy = deliveryTo(await trace(record.eventId), 'busy');
    expect(busy.status).toBe('retrying');
    expect(busy.reason).toMatch(/SlowDown/);
    expect(busy.attempts).toEqual([
      {
        at: failedAt.toISOString(),
        outcome: 'retry-scheduled',
        latencyMs: 812,
        errorCode: 'SlowDown',
        reason: 'Please reduce your request rate',
        target: `s3://${s3Of('busy').bucket}/busy/part-x.ndjson`,
      },
    ]);
    expect(Date.parse(busy.nextAttemptAt as string)).toBeGreaterThan(failedAt.getTime());

    // And what it read, counted by the reader (item sizes) and by DynamoDB's ReturnConsumedCapacity.
    const reader = new TraceReader(
      dynamodb,
      { events: harness.tables.events as string, attempts: attemptsTable },
      new DestinationStore(dynamodb, provisioned.tables.destinations as string),
    );
    const result = await reader.read(record.eventId);
    expect(result?.trace.deliveries[0]?.status).toBe('retrying');
    const reads = result?.reads as NonNullable<typeof result>['reads'];
    console.log(
      `trace of a failure 20 h ago: ${reads.requests} requests, ${reads.bytes} bytes, ${reads.readUnits} read units (DynamoDB reported ${reads.consumedCapacity})`,
    );
    expect(reads.bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(reads.readUnits).toBeLessThanOrEqual(MAX_READ_UNITS);
    expect(reads.consumedCapacity).toBeGreaterThan(0);
    // The event, its event partition, one receipt bucket, the destination: nothing of the 20 h since.
    expect(reads.requests).toBeLessThanOrEqual(5);
  }, 120_000);
});
