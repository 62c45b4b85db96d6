import { randomBytes, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { type ApiServer, startApiServer } from '../../local/api-server.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { seedEvent } from '../support/seed-event.js';
import { scanStoredEvents } from '../support/stored-events.js';

/**
 * Hostile and malformed requests against the real ingest handler on moto, called as API Gateway
 * calls it and through the local API Gateway stand-in: compressed batches are stored and enqueued;
 * everything refused is a 4xx that touched no AWS service, so nothing is stored or enqueued.
 */

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 's3-archive',
      type: 'S3',
      customerExternalId: 'acct_8K2zRq',
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
      name: 'bus',
      busArn: 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-events',
      region: 'us-east-1',
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter',
        externalId: 'acme-ext-7Pq2',
      },
    },
  ],
});

const API_KEY = 'local-test-key';
let proxy: FaultProxy;
let harness: IngestHarness;
let api: ApiServer;
const dynamodb = () => new DynamoDBClient({ endpoint: inject('awsEndpoint') });
const sqs = () => new SQSClient({ endpoint: inject('awsEndpoint') });

beforeAll(async () => {
  proxy = await FaultProxy.start(inject('awsEndpoint'));
  harness = await startIngestHarness({
    config,
    awsEndpoint: inject('awsEndpoint'),
    handlerEndpoint: proxy.endpoint,
  });
  api = await startApiServer({
    handler: harness.handler,
    apiKey: API_KEY,
    function: { functionName: 'pushrail-ingest', region: 'us-east-1', accountId: '123456789012' },
    port: 0,
    log: () => {},
  });
});

afterAll(async () => {
  await api.close();
  await proxy.stop();
});

beforeEach(async () => {
  proxy.requests.length = 0;
  for (const id of Object.keys(harness.queueUrls)) await drain(id);
});

interface Post {
  readonly body: Buffer | string;
  readonly contentEncoding?: string;
  readonly contentType?: string;
}

let requestCounter = 0;
/** Calls the handler with the proxy event API Gateway sends; a Buffer body goes base64-encoded. */
async function post({ body, contentEncoding, contentType = 'application/json' }: Post) {
  requestCounter += 1;
  const headers: Record<string, string> = { 'content-type': contentType };
  if (contentEncoding !== undefined) headers['content-encoding'] = contentEncoding;
  const event = {
    httpMethod: 'POST',
    path: '/v1/events',
    resource: '/v1/events',
    headers,
    multiValueHeaders: {},
    body: typeof body === 'string' ? body : body.toString('base64'),
    isBase64Encoded: typeof body !== 'string',
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: { requestId: `hostile-${requestCounter}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
  } as unknown as APIGatewayProxyEvent;
  const context = {
    awsRequestId: `aws-hostile-${requestCounter}`,
    functionName: 'pushrail-ingest',
    getRemainingTimeInMillis: () => 29_000,
  } as unknown as Context;
  const result = await harness.handler(event, context);
  return { status: result.statusCode, body: JSON.parse(result.body) };
}

interface HttpAnswer {
  readonly destinations?: string[];
  readonly error?: { readonly details?: { readonly field: string }[] };
}

/** POSTs raw bytes over HTTP to the local API Gateway stand-in. */
async function postHttp({ body, contentEncoding, contentType = 'application/json' }: Post) {
  const headers: Record<string, string> = { 'content-type': contentType, 'x-api-key': API_KEY };
  if (contentEncoding !== undefined) headers['content-encoding'] = contentEncoding;
  const response = await fetch(`${api.url}/v1/events`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as HttpAnswer };
}

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

/** Stored events whose idempotencyKey starts with `prefix`. */
async function storedWithPrefix(prefix: string) {
  const items = await scanStoredEvents(dynamodb(), harness.tables.events as string);
  return items.filter((i) => i.idempotencyKey.startsWith(prefix));
}

const withKey = (key: string, patch: Record<string, unknown> = {}) => ({
  ...seedEvent,
  idempotencyKey: key,
  ...patch,
});

/** One hostile request of each kind, all for keys starting with `run`. */
function hostileRequests(run: string): [string, Post, number][] {
  const seedText = (key: string) => JSON.stringify(withKey(key));
  const invalidUtf8 = Buffer.from(seedText(`${run}-utf8`).replace('ord_38a91f', 'ord_\u0001'));
  invalidUtf8[invalidUtf8.indexOf(0x01)] = 0xff;
  const zipped = gzipSync(Buffer.from(seedText(`${run}-corrupt`)));
  zipped[zipped.length - 10] = (zipped[zipped.length - 10] as number) ^ 0xff;
  return [
    [
      'a payload nested 100,000 levels deep',
      { body: seedText(`${run}-deep`).replace('12900', `${'['.repeat(100_000)}${']'.repeat(100_000)}`) },
      400,
    ],
    ['a number that overflows to Infinity', { body: seedText(`${run}-inf`).replace('12900', '1e400') }, 400],
    [
      'an integer canonical JSON would round',
      { body: seedText(`${run}-round`).replace('12900', '12345678901234567890') },
      400,
    ],
    [
      'a field given twice',
      { body: seedText(`${run}-twice`).replace('"amount":12900', '"amount":1,"amount":2') },
      400,
    ],
    ['invalid UTF-8 bytes', { body: invalidUtf8 }, 400],
    ['corrupt gzip', { body: zipped, contentEncoding: 'gzip' }, 400],
    ['brotli', { body: Buffer.from(seedText(`${run}-br`)), contentEncoding: 'br' }, 415],
    [
      'a Latin-1 charset',
      { body: seedText(`${run}-latin1`), contentType: 'application/json; charset=iso-8859-1' },
      415,
    ],
  ];
}

describe('compressed batches on moto', () => {
  it('accepts a gzip batch of 500 events and puts every one on each routed queue', async () => {
    const run = `gz-${randomUUID()}`;
    const events = Array.from({ length: 500 }, (_, i) => withKey(`${run}-${i}`, { payload: { i } }));
    const res = await post({ body: gzipSync(JSON.stringify({ events })), contentEncoding: 'gzip' });
    expect(res.status).toBe(202);
    expect(res.body.results).toHaveLength(500);
    for (const id of ['s3-archive', 'bus']) {
      const bodies = await drain(id);
      expect(bodies).toHaveLength(500);
      expect(new Set(bodies.map((b) => JSON.parse(b).payload.i)).size).toBe(500);
    }
    expect(await storedWithPrefix(run)).toHaveLength(500);
  });

  it('answers 413 for a 6 MB body that gzips to about 100 KB, touching no AWS service', async () => {
    const run = `bomb-${randomUUID()}`;
    // Mostly padding, with enough random text that it is no trivial run of one byte.
    const events = Array.from({ length: 500 }, (_, i) =>
      withKey(`${run}-${i}`, {
        payload: { pad: 'x'.repeat(12_000), noise: randomBytes(80).toString('hex') },
      }),
    );
    const json = Buffer.from(JSON.stringify({ events }));
    const zipped = gzipSync(json);
    expect(json.byteLength).toBeGreaterThan(6_000_000);
    expect(zipped.byteLength).toBeLessThan(150 * 1024);
    const res = await post({ body: zipped, contentEncoding: 'gzip' });
    expect(res.status).toBe(413);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: '(body)' })]);
    expect(proxy.requests).toHaveLength(0);
    expect(await storedWithPrefix(run)).toEqual([]);
  });
});

describe('hostile requests on moto', () => {
  it('answers each with its 4xx naming a field, and stores and enqueues nothing for any', async () => {
    const run = `hostile-${randomUUID()}`;
    for (const [name, request, status] of hostileRequests(run)) {
      const res = await post(request);
      expect(res.status, name).toBe(status);
      expect(res.body.error.details?.[0]?.field, name).toEqual(expect.any(String));
    }
    // No AWS call at all: not even a read of the idempotency table.
    expect(proxy.requests).toHaveLength(0);
    expect(await storedWithPrefix(run)).toEqual([]);
    for (const id of Object.keys(harness.queueUrls)) expect(await drain(id)).toEqual([]);
  });
});

describe('through the local API Gateway stand-in (local/api-server.ts)', () => {
  it('accepts a gzip body, decompressed by the gateway as API Gateway does, and enqueues it', async () => {
    const key = `http-gz-${randomUUID()}`;
    const res = await postHttp({ body: gzipSync(JSON.stringify(withKey(key))), contentEncoding: 'gzip' });
    expect(res.status).toBe(202);
    expect(res.body.destinations).toEqual(['s3-archive', 'bus']);
    expect(await drain('s3-archive')).toHaveLength(1);
    expect(await storedWithPrefix(key)).toHaveLength(1);
  });

  it('answers raw invalid UTF-8 bytes with 400 naming the field, and stores nothing', async () => {
    const key = `http-utf8-${randomUUID()}`;
    const body = Buffer.from(JSON.stringify(withKey(key)).replace('ord_38a91f', 'ord_\u0001'));
    body[body.indexOf(0x01)] = 0xc3; // the first byte of a two-byte sequence, cut short
    const res = await postHttp({ body });
    expect(res.status).toBe(400);
    expect(res.body.error?.details).toEqual([expect.objectContaining({ field: 'payload.orderId' })]);
    expect(proxy.requests).toHaveLength(0);
    expect(await storedWithPrefix(key)).toEqual([]);
  });

  it('answers 415 for another coding, 400 for a body not in its coding, and 413 for a bomb', async () => {
    const key = `http-enc-${randomUUID()}`;
    const text = JSON.stringify(withKey(key));
    const notGzip = await postHttp({ body: text, contentEncoding: 'gzip' });
    expect(notGzip.status).toBe(400);
    expect(notGzip.body.error?.details).toEqual([expect.objectContaining({ field: 'content-encoding' })]);
    expect((await postHttp({ body: text, contentEncoding: 'br' })).status).toBe(415);
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect((await postHttp({ body: bomb, contentEncoding: 'gzip' })).status).toBe(413);
    expect(proxy.requests).toHaveLength(0);
    expect(await storedWithPrefix(key)).toEqual([]);
  });

  it('answers every hostile request with the same 4xx as the handler, and stores nothing', async () => {
    const run = `http-hostile-${randomUUID()}`;
    for (const [name, request, status] of hostileRequests(run)) {
      expect((await postHttp(request)).status, name).toBe(status);
    }
    expect(proxy.requests).toHaveLength(0);
    expect(await storedWithPrefix(run)).toEqual([]);
    for (const id of Object.keys(harness.queueUrls)) expect(await drain(id)).toEqual([]);
  });
});
