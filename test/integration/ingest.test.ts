import { createHash, randomUUID } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { FaultProxy, jsonError, op } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { seedEvent } from '../support/seed-event.js';

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
function post(body: unknown, options: { apiKey?: boolean; contentType?: string } = {}) {
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
    getRemainingTimeInMillis: () => 29_000,
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

async function storedItems(idempotencyKey: string) {
  const out = await dynamodb().send(
    new ScanCommand({
      TableName: harness.tables.events,
      FilterExpression: 'idempotencyKey = :k',
      ExpressionAttributeValues: { ':k': { S: idempotencyKey } },
    }),
  );
  return (out.Items ?? []).map((i) => unmarshall(i));
}

/** Every record in the idempotency table (one test run's table: a few dozen items). */
async function idempotencyRecords() {
  const out = await dynamodb().send(new ScanCommand({ TableName: harness.tables.idempotency }));
  return (out.Items ?? []).map((i) => unmarshall(i));
}

/**
 * The id Powertools gives an event's idempotency record (BasePersistenceLayer.getHashedIdempotencyKey):
 * the key prefix, `#`, and the base64 MD5 of the JSON of what `eventKeyJmesPath` selects. The prefix is
 * written out, not imported: changing it would forget every key accepted before the change.
 */
function idempotencyRecordId(customerExternalId: string, idempotencyKey: string): string {
  const selected = JSON.stringify([customerExternalId, idempotencyKey]);
  return `pushrail-ingest#${createHash('md5').update(selected).digest('base64')}`;
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
    const record = JSON.parse(items[0]?.record);
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
    expect(JSON.parse(items[0]?.record).payload).toEqual(seedEvent.payload);
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
    const key = `records-${randomUUID()}`;
    const eventId = deriveEventId(seedEvent.customerExternalId, key);
    const recordId = idempotencyRecordId(seedEvent.customerExternalId, key);
    const fault = proxy.inject(op('AmazonSQS.SendMessageBatch'), jsonError(500, 'InternalError'));
    expect((await post(withKey(key))).status).toBe(503);
    fault.times = 0;
    const stored = await dynamodb().send(
      new GetItemCommand({ TableName: harness.tables.events, Key: { eventId: { S: eventId } } }),
    );
    expect(stored.Item).toBeDefined();
    // The failed attempt left no record for its key, so the retry runs instead of answering from one.
    const afterFailure = await idempotencyRecords();
    expect(afterFailure.filter((r) => r.id === recordId)).toEqual([]);
    expect(afterFailure.filter((r) => JSON.stringify(r.data ?? null).includes(eventId))).toEqual([]);

    expect((await post(withKey(key))).status).toBe(202);
    const afterRetry = (await idempotencyRecords()).filter((r) => r.id === recordId);
    expect(afterRetry).toHaveLength(1);
    expect(afterRetry[0]?.status).toBe('COMPLETED');
    expect(afterRetry[0]?.data).toEqual({
      eventId,
      destinations: ['s3-archive', 'bus'],
    });
  });
});
