import { createHash, randomUUID } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { EventStore, type StoredEvent } from '../../lambdas/adapters/event-store.js';
import { canonicalJson, sha256Hex } from '../../lambdas/core/canonical.js';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { FaultProxy, jsonError, op } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { seedEvent } from '../support/seed-event.js';
import { scanStoredEvents } from '../support/stored-events.js';

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 's3-archive',
      type: 'S3',
      customerExternalId: 'acct_8K2zRq',
      eventTypes: ['order.*', 'invoice.sent'],
      name: 'archive',
      bucket: 'acme-pushrail-events',
      keyPrefix: 'raw/pushrail/',
      region: 'us-east-1',
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
        externalId: 'acme-ext-7Pq2',
      },
    },
    {
      id: 'bus',
      type: 'EVENTBRIDGE',
      customerExternalId: 'acct_8K2zRq',
      eventTypes: ['order.completed'],
      name: 'bus',
      busArn: 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-events',
      region: 'us-east-1',
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter',
        externalId: 'acme-ext-7Pq2',
      },
    },
    {
      id: 'other-archive',
      type: 'S3',
      customerExternalId: 'acct_other',
      name: 'other',
      bucket: 'other-pushrail-events',
      region: 'us-east-1',
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::210987654321:role/PushrailWriter',
        externalId: 'other-ext',
      },
    },
  ],
});

let proxy: FaultProxy;
let harness: IngestHarness;
let handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
const dynamodb = () => new DynamoDBClient({ endpoint: inject('awsEndpoint') });
const sqs = () => new SQSClient({ endpoint: inject('awsEndpoint') });

beforeAll(async () => {
  proxy = await FaultProxy.start(inject('awsEndpoint'));
  harness = await startIngestHarness({
    config,
    awsEndpoint: inject('awsEndpoint'),
    handlerEndpoint: proxy.endpoint,
  });
  handler = harness.handler;
});

afterAll(async () => {
  await proxy.stop();
});

beforeEach(async () => {
  proxy.clearFaults();
  proxy.requests.length = 0;
  for (const id of Object.keys(harness.queueUrls)) await drain(id);
});

let requestCounter = 0;
function post(body: unknown, options: { apiKey?: boolean; contentType?: string; remainingMs?: number } = {}) {
  requestCounter += 1;
  const event = {
    httpMethod: 'POST',
    path: '/v1/events',
    resource: '/v1/events',
    headers: { 'content-type': options.contentType ?? 'application/json' },
    multiValueHeaders: {},
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      requestId: `req-${requestCounter}`,
      identity: options.apiKey === false ? {} : { apiKey: 'k', apiKeyId: 'key-id' },
    },
  } as unknown as APIGatewayProxyEvent;
  const context = {
    awsRequestId: `aws-${requestCounter}`,
    functionName: 'pushrail-ingest',
    getRemainingTimeInMillis: () => options.remainingMs ?? 29_000,
  } as unknown as Context;
  return handler(event, context).then((r) => ({ status: r.statusCode, body: JSON.parse(r.body) }));
}

/** Receives and deletes every message on a destination queue, returning the bodies. */
async function drain(destinationId: string): Promise<string[]> {
  const client = sqs();
  const url = harness.queueUrls[destinationId] as string;
  const bodies: string[] = [];
  for (;;) {
    const out = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return bodies;
    bodies.push(...messages.map((m) => m.Body ?? ''));
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}

/** The stored events of one idempotencyKey, as the event store reads them back (record inflated). */
async function storedItems(idempotencyKey: string) {
  const items = await scanStoredEvents(dynamodb(), harness.tables.events as string);
  return items.filter((i) => i.idempotencyKey === idempotencyKey);
}

/** Every item in the idempotency table (one test run's table: completion markers, a few dozen). */
async function idempotencyRecords() {
  const out = await dynamodb().send(new ScanCommand({ TableName: harness.tables.idempotency }));
  return (out.Items ?? []).map((i) => unmarshall(i));
}

const withKey = (key: string, patch: Record<string, unknown> = {}) => ({
  ...seedEvent,
  idempotencyKey: key,
  ...patch,
});
const sendBatchCallsTo = (destinationId: string) =>
  proxy
    .calls('AmazonSQS.SendMessageBatch')
    .filter((r) => JSON.parse(r.body).QueueUrl.endsWith(`/${harness.queueNames[destinationId]}`));

describe('POST /v1/events on moto', () => {
  it('stores the seed event once and puts one message carrying it on each routed queue', async () => {
    const res = await post(seedEvent);
    expect(res.status).toBe(202);
    const eventId = deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey);
    expect(res.body).toEqual({ eventId, duplicate: false, destinations: ['s3-archive', 'bus'] });

    const items = await storedItems(seedEvent.idempotencyKey);
    expect(items).toHaveLength(1);
    const record = JSON.parse(items[0]?.record as string);
    expect(record).toMatchObject({ ...seedEvent, eventId });
    expect(Date.parse(record.receivedAt)).not.toBeNaN();

    for (const id of ['s3-archive', 'bus']) {
      const bodies = await drain(id);
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).toBe(canonicalJson(record));
    }
    expect(await drain('other-archive')).toEqual([]);
  });

  it('routes an event of another customer, or of a type no destination takes, to no queue', async () => {
    const unrouted = await post(withKey(`unrouted-${randomUUID()}`, { eventType: 'user.signup' }));
    expect(unrouted.status).toBe(202);
    expect(unrouted.body.destinations).toEqual([]);
    const stranger = await post(withKey(`stranger-${randomUUID()}`, { customerExternalId: 'acct_nobody' }));
    expect(stranger.status).toBe(202);
    expect(stranger.body.destinations).toEqual([]);
    for (const id of Object.keys(harness.queueUrls)) expect(await drain(id)).toEqual([]);
    expect(sendBatchCallsTo('s3-archive')).toHaveLength(0);
  });

  it('answers the same idempotencyKey twice with the same eventId, duplicate: true, and no second message', async () => {
    const event = withKey(`dup-${randomUUID()}`);
    const first = await post(event);
    // Key order differs: the same event, so still a duplicate and not a conflict.
    const reordered = Object.fromEntries(Object.entries(event).reverse());
    const second = await post(reordered);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual({ ...first.body, duplicate: true });
    expect(await drain('s3-archive')).toHaveLength(1);
    expect(await drain('bus')).toHaveLength(1);
    expect(await storedItems(event.idempotencyKey)).toHaveLength(1);
  });

  it('answers 409 when an idempotencyKey is reused with a different body, and enqueues nothing more', async () => {
    const key = `conflict-${randomUUID()}`;
    expect((await post(withKey(key))).status).toBe(202);
    await drain('s3-archive');
    await drain('bus');
    const res = await post(withKey(key, { payload: { orderId: 'something-else' } }));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(res.body.error.details[0].field).toBe('idempotencyKey');
    expect(await drain('s3-archive')).toEqual([]);
    const items = await storedItems(key);
    expect(items).toHaveLength(1);
    expect(JSON.parse(items[0]?.record as string).payload).toEqual(seedEvent.payload);
  });

  it('answers 409 for one key used twice with different bodies in one batch, storing nothing', async () => {
    const key = `batch-conflict-${randomUUID()}`;
    const res = await post({
      events: [withKey(key), withKey(`${key}-b`), withKey(key, { source: 'elsewhere' })],
    });
    expect(res.status).toBe(409);
    expect(res.body.error.details.map((d: { index: number }) => d.index)).toEqual([0, 2]);
    expect(await storedItems(key)).toEqual([]);
    expect(await storedItems(`${key}-b`)).toEqual([]);
  });

  it('rejects a 300 KiB event with 413 and stores and enqueues nothing', async () => {
    const key = `big-${randomUUID()}`;
    const res = await post(withKey(key, { payload: { blob: 'x'.repeat(300 * 1024) } }));
    expect(res.status).toBe(413);
    expect(res.body.error.details[0].message).toContain('262144');
    expect(await storedItems(key)).toEqual([]);
    expect(proxy.requests).toHaveLength(0);
  });

  it('rejects a request without an API key with 401 and stores nothing', async () => {
    const key = `nokey-${randomUUID()}`;
    const res = await post(withKey(key), { apiKey: false });
    expect(res.status).toBe(401);
    expect(res.body.error.details[0].field).toBe('x-api-key');
    expect(await storedItems(key)).toEqual([]);
    expect(proxy.requests).toHaveLength(0);
  });

  it('rejects invalid input with 400 naming the field, and touches no AWS service', async () => {
    const res = await post({
      events: [withKey(`ok-${randomUUID()}`), withKey(`bad-${randomUUID()}`, { occurredAt: 'yesterday' })],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ index: 1, field: 'occurredAt' })]);
    expect((await post('not json')).status).toBe(400);
    expect((await post(seedEvent, { contentType: 'text/plain' })).status).toBe(415);
    expect(proxy.requests).toHaveLength(0);
  });

  it('accepts a batch of 500 and fans it out in at most 50 SendMessageBatch calls per queue', async () => {
    const run = randomUUID();
    const events = Array.from({ length: 500 }, (_, i) => withKey(`batch-${run}-${i}`, { payload: { i } }));
    const res = await post({ events });
    expect(res.status).toBe(202);
    expect(res.body.results).toHaveLength(500);
    expect(new Set(res.body.results.map((r: { eventId: string }) => r.eventId)).size).toBe(500);
    expect(res.body.results[7]).toEqual({
      eventId: deriveEventId(seedEvent.customerExternalId, `batch-${run}-7`),
      duplicate: false,
      destinations: ['s3-archive', 'bus'],
    });
    expect(sendBatchCallsTo('s3-archive').length).toBeLessThanOrEqual(50);
    expect(sendBatchCallsTo('bus').length).toBeLessThanOrEqual(50);
    const s3Bodies = await drain('s3-archive');
    expect(s3Bodies).toHaveLength(500);
    expect(new Set(s3Bodies.map((b) => JSON.parse(b).payload.i)).size).toBe(500);
    expect(await drain('bus')).toHaveLength(500);
  });

  it('answers 503 when SQS fails, and the retry with the same key delivers exactly one message per queue', async () => {
    const event = withKey(`sqs-down-${randomUUID()}`);
    const fault = proxy.inject(op('AmazonSQS.SendMessageBatch'), jsonError(500, 'InternalError'));
    const failed = await post(event);
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe('RETRY_WITH_SAME_IDEMPOTENCY_KEY');
    expect(await storedItems(event.idempotencyKey)).toHaveLength(1); // stored, not yet acknowledged
    fault.times = 0;

    const retried = await post(event);
    expect(retried.status).toBe(202);
    expect(retried.body.duplicate).toBe(false);
    expect(retried.body.eventId).toBe(deriveEventId(event.customerExternalId, event.idempotencyKey));
    expect(await drain('s3-archive')).toHaveLength(1);
    expect(await drain('bus')).toHaveLength(1);
  });

  it('after a fan-out that reached one queue but not the other, the retry enqueues only the missing one', async () => {
    const event = withKey(`half-${randomUUID()}`);
    const busQueue = harness.queueNames.bus as string;
    const fault = proxy.inject(
      (r) =>
        r.operation === 'AmazonSQS.SendMessageBatch' && JSON.parse(r.body).QueueUrl.endsWith(`/${busQueue}`),
      jsonError(500, 'InternalError'),
    );
    expect((await post(event)).status).toBe(503);
    fault.times = 0;
    const first = await drain('s3-archive');
    expect(first).toHaveLength(1);
    expect((await post(event)).status).toBe(202);
    expect(await drain('s3-archive')).toEqual([]); // not sent twice
    const bus = await drain('bus');
    expect(bus).toEqual(first); // byte-identical record: same eventId and receivedAt
  });

  it('answers 409 to a different body after a failed fan-out left the event stored', async () => {
    const key = `stored-conflict-${randomUUID()}`;
    const fault = proxy.inject(op('AmazonSQS.SendMessageBatch'), jsonError(500, 'InternalError'));
    expect((await post(withKey(key))).status).toBe(503);
    fault.times = 0;
    const res = await post(withKey(key, { payload: { changed: true } }));
    expect(res.status).toBe(409);
    expect(await drain('s3-archive')).toEqual([]);
  });

  it('keeps the idempotency record of an accepted event and none of a failed one', async () => {
    // The record lives in the event item (adapters/event-idempotency.ts): its claim, and the request's
    // completion marker listing the event once its fan-out finished.
    const key = `records-${randomUUID()}`;
    const eventId = deriveEventId(seedEvent.customerExternalId, key);
    const fault = proxy.inject(op('AmazonSQS.SendMessageBatch'), jsonError(500, 'InternalError'));
    expect((await post(withKey(key))).status).toBe(503);
    fault.times = 0;
    const stored = await dynamodb().send(
      new GetItemCommand({ TableName: harness.tables.events, Key: { eventId: { S: eventId } } }),
    );
    expect(stored.Item).toBeDefined();
    // The failed attempt released its claim and no marker lists it, so the retry runs instead of
    // answering from a record.
    expect(stored.Item?.st?.S).toBe('RELEASED');
    const listing = (records: Record<string, unknown>[]) =>
      records.filter((r) => r.events instanceof Set && r.events.has(eventId));
    expect(listing(await idempotencyRecords())).toEqual([]);

    expect((await post(withKey(key))).status).toBe(202);
    const afterRetry = listing(await idempotencyRecords());
    expect(afterRetry).toHaveLength(1);
    const claimed = await dynamodb().send(
      new GetItemCommand({ TableName: harness.tables.events, Key: { eventId: { S: eventId } } }),
    );
    expect(claimed.Item?.cm?.S).toBe(afterRetry[0]?.id);
    const again = await post(withKey(key));
    expect(again.body).toEqual({ eventId, duplicate: true, destinations: ['s3-archive', 'bus'] });
  });

  it('answers a POST of a key whose first attempt is still fanning out with 503, and fans it out once (invariant 3)', async () => {
    // Deterministic: the first attempt is held inside its fan-out (its claim written, its sends not
    // answered) while two more POSTs of the key arrive. That two claims cannot both win is DynamoDB's
    // conditional write, which moto (threaded, no item locks) does not reproduce under load.
    const event = withKey(`concurrent-${randomUUID()}`);
    const eventId = deriveEventId(event.customerExternalId, event.idempotencyKey);
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    proxy.inject(op('AmazonSQS.SendMessageBatch'), { until: held }, 2);
    const first = post(event);
    while (proxy.calls('AmazonSQS.SendMessageBatch').length < 2) await new Promise((r) => setTimeout(r, 10));
    const during = await Promise.all([post(event), post(event)]);
    for (const a of during) {
      expect(a).toMatchObject({ status: 503, body: { error: { code: 'RETRY_WITH_SAME_IDEMPOTENCY_KEY' } } });
    }
    release();
    expect(await first).toEqual({
      status: 202,
      body: { eventId, duplicate: false, destinations: ['s3-archive', 'bus'] },
    });
    const retried = await post(event);
    expect(retried.body).toEqual({ eventId, duplicate: true, destinations: ['s3-archive', 'bus'] });
    expect(await drain('s3-archive')).toHaveLength(1);
    expect(await drain('bus')).toHaveLength(1);
  });

  it("answers a retry after a lost 202, even one past the attempt's timeout, as a duplicate with no second message", async () => {
    const event = withKey(`lost-202-${randomUUID()}`);
    // The first answer never reaches the producer; its invocation had 1 ms left, so its claim is dead
    // by the time the retry arrives, and only the completion marker says the fan-out finished.
    const lost = await post(event, { remainingMs: 1 });
    expect(lost.status).toBe(202);
    await new Promise((r) => setTimeout(r, 20));
    const retried = await post(event);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ ...lost.body, duplicate: true });
    expect(await drain('s3-archive')).toHaveLength(1);
    expect(await drain('bus')).toHaveLength(1);
    expect(await storedItems(event.idempotencyKey)).toHaveLength(1);
  });

  it('when the completion marker cannot be written, answers 503 and the retry still delivers the same bytes (invariant 2)', async () => {
    const event = withKey(`no-marker-${randomUUID()}`);
    const markerWrite = (r: { operation: string; body: string }) =>
      r.operation === 'DynamoDB.PutItem' && JSON.parse(r.body).TableName === harness.tables.idempotency;
    const fault = proxy.inject(markerWrite, jsonError(500, 'InternalServerError'));
    const failed = await post(event, { remainingMs: 1 });
    expect(failed.status).toBe(503);
    fault.times = 0;
    const first = { s3: await drain('s3-archive'), bus: await drain('bus') };
    await new Promise((r) => setTimeout(r, 20));
    // The dead attempt's claim is taken over and the fan-out runs again: at least once, same bytes.
    const retried = await post(event);
    expect(retried.status).toBe(202);
    expect(retried.body.eventId).toBe(deriveEventId(event.customerExternalId, event.idempotencyKey));
    const again = { s3: await drain('s3-archive'), bus: await drain('bus') };
    expect([...first.s3, ...again.s3].length).toBeGreaterThanOrEqual(1);
    expect(new Set([...first.s3, ...again.s3, ...first.bus, ...again.bus]).size).toBe(1);
    expect((await post(event)).body.duplicate).toBe(true);
    expect(await drain('s3-archive')).toEqual([]);
  });

  it('lets exactly one of two retries take over a dead claim', async () => {
    const store = new EventStore(dynamodb(), harness.tables.events as string);
    const key = `takeover-${randomUUID()}`;
    const eventId = deriveEventId(seedEvent.customerExternalId, key);
    const record = canonicalJson({
      ...seedEvent,
      idempotencyKey: key,
      eventId,
      receivedAt: new Date().toISOString(),
    });
    const stored: StoredEvent = {
      eventId,
      customerExternalId: seedEvent.customerExternalId,
      idempotencyKey: key,
      eventType: seedEvent.eventType,
      occurredAt: seedEvent.occurredAt,
      receivedAt: new Date().toISOString(),
      bodyHash: 'h',
      record,
      destinations: ['s3-archive'],
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    };
    const dead = Date.now() - 1000;
    expect((await store.claim(stored, { inProgressExpiry: dead, completion: 'done#a' }, 0)).claimed).toBe(
      true,
    );
    const takes = await Promise.all([
      store.takeOver(eventId, dead, { inProgressExpiry: Date.now() + 60_000, completion: 'done#b' }),
      store.takeOver(eventId, dead, { inProgressExpiry: Date.now() + 60_000, completion: 'done#c' }),
    ]);
    expect(takes.filter((t) => t !== undefined)).toHaveLength(1);
    expect(takes.find((t) => t)?.record).toBe(record);
  });

  it('answers a retry of a key accepted before the record moved into the event item from its Powertools record', async () => {
    // The layout of the previous version: the record as a plain string, no claim, and Powertools' own
    // COMPLETED record in the idempotency table (its default attribute names).
    const completedKey = `legacy-done-${randomUUID()}`;
    const unfinishedKey = `legacy-open-${randomUUID()}`;
    for (const key of [completedKey, unfinishedKey]) {
      const eventId = deriveEventId(seedEvent.customerExternalId, key);
      const record = canonicalJson({ ...withKey(key), eventId, receivedAt: new Date().toISOString() });
      await dynamodb().send(
        new PutItemCommand({
          TableName: harness.tables.events,
          Item: marshall({
            eventId,
            record,
            receivedAt: JSON.parse(record).receivedAt,
            bodyHash: sha256Hex(canonicalJson(withKey(key))),
            destinations: ['s3-archive', 'bus'],
            expiresAt: Math.floor(Date.now() / 1000) + 3600,
          }),
        }),
      );
    }
    const selected = JSON.stringify([seedEvent.customerExternalId, completedKey]);
    await dynamodb().send(
      new PutItemCommand({
        TableName: harness.tables.idempotency,
        Item: marshall({
          id: `pushrail-ingest#${createHash('md5').update(selected).digest('base64')}`,
          status: 'COMPLETED',
          expiration: Math.floor(Date.now() / 1000) + 3600,
          data: JSON.stringify({ eventId: deriveEventId(seedEvent.customerExternalId, completedKey) }),
        }),
      }),
    );
    // Completed before the upgrade: a duplicate, nothing enqueued.
    const done = await post(withKey(completedKey));
    expect(done.body).toMatchObject({ duplicate: true });
    expect(await drain('s3-archive')).toEqual([]);
    // Stored but never completed (its fan-out failed before the upgrade): the retry runs, with the stored bytes.
    const open = await post(withKey(unfinishedKey));
    expect(open.body).toMatchObject({ duplicate: false });
    const s3 = await drain('s3-archive');
    expect(s3).toHaveLength(1);
    expect(JSON.parse(s3[0] as string).idempotencyKey).toBe(unfinishedKey);
    expect((await post(withKey(unfinishedKey))).body.duplicate).toBe(true);
    expect(await drain('bus')).toHaveLength(1);
  });
});
