import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { INGEST_ENV } from '../../lambdas/core/function-env.js';
import { gatewayRequestOf } from '../../lambdas/ingest/gateway-request.js';
import { createIngestHandler } from '../../lambdas/ingest/handler.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The ingest handler on both API Gateway shapes: the REST API's event (payload 1.0) and the HTTP
 * API's (2.0) get the same status and body. Only paths that answer before any AWS call run here
 * (400, 401, 413, 415) and the 503 of a store that cannot be reached; 202, duplicates and 409 on
 * payload 2.0 are test/integration/http-api-local.test.ts.
 */

// Nothing listens on port 9 (discard): a request that gets as far as DynamoDB fails to connect.
const UNREACHABLE = 'http://127.0.0.1:9';
const handler = createIngestHandler({
  [INGEST_ENV.eventsTable]: 'events',
  [INGEST_ENV.idempotencyTable]: 'idempotency',
  [INGEST_ENV.queueUrlBase]: `${UNREACHABLE}/123456789012/`,
  [INGEST_ENV.retentionDays]: '30',
  [INGEST_ENV.routes]: '[]',
  AWS_REGION: 'us-east-1',
  AWS_ENDPOINT_URL: UNREACHABLE,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});
const context = { awsRequestId: 'aws-1', getRemainingTimeInMillis: () => 29_000 } as unknown as Context;

interface Request {
  readonly body: string;
  readonly headers?: Record<string, string>;
  readonly isBase64Encoded?: boolean;
  /** @default 'key-id' */
  readonly apiKeyId?: string | null;
}

function v1({
  body,
  headers = { 'Content-Type': 'application/json' },
  isBase64Encoded = false,
  apiKeyId = 'key-id',
}: Request) {
  return {
    httpMethod: 'POST',
    path: '/v1/events',
    resource: '/v1/events',
    headers,
    multiValueHeaders: {},
    body,
    isBase64Encoded,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      requestId: 'req-1',
      identity: { sourceIp: '203.0.113.7', apiKeyId: apiKeyId ?? null },
    },
  } as unknown as APIGatewayProxyEvent;
}

function v2({
  body,
  headers = { 'Content-Type': 'application/json' },
  isBase64Encoded = false,
  apiKeyId = 'key-id',
}: Request) {
  return {
    version: '2.0',
    routeKey: 'POST /v1/events',
    rawPath: '/v1/events',
    rawQueryString: '',
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
    body,
    isBase64Encoded,
    requestContext: {
      requestId: 'req-1',
      routeKey: 'POST /v1/events',
      stage: '$default',
      http: {
        method: 'POST',
        path: '/v1/events',
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'ua',
      },
      ...(apiKeyId === null ? {} : { authorizer: { lambda: { apiKeyId } } }),
    },
  } as unknown as APIGatewayProxyEventV2;
}

const SHAPES = [
  ['REST (payload 1.0)', v1],
  ['HTTP API (payload 2.0)', v2],
] as const;

async function answer(shape: (typeof SHAPES)[number][1], request: Request) {
  const result = await handler(shape(request), context);
  return { status: result.statusCode, body: JSON.parse(result.body) };
}

const EVENT = JSON.stringify(seedEvent);

describe('gatewayRequestOf', () => {
  it('reads the same request from both shapes', () => {
    const request = { body: EVENT, headers: { 'Content-Type': 'application/json', 'X-Trace': 't' } };
    const expected = {
      method: 'POST',
      path: '/v1/events',
      headers: { 'content-type': 'application/json', 'x-trace': 't' },
      body: EVENT,
      isBase64Encoded: false,
      requestId: 'req-1',
      sourceIp: '203.0.113.7',
      apiKeyId: 'key-id',
    };
    expect(gatewayRequestOf(v1(request))).toEqual(expected);
    expect(gatewayRequestOf(v2(request))).toEqual(expected);
  });

  it('finds no key id where the API put none, and refuses an event of neither shape', () => {
    expect(gatewayRequestOf(v1({ body: EVENT, apiKeyId: null })).apiKeyId).toBeUndefined();
    expect(gatewayRequestOf(v2({ body: EVENT, apiKeyId: null })).apiKeyId).toBeUndefined();
    expect(() => gatewayRequestOf({ version: '2.0' })).toThrow('neither API Gateway payload 2.0 nor 1.0');
  });
});

describe.each(SHAPES)('the ingest handler on %s', (_name, shape) => {
  it('answers 400 naming the field, and 400 for a body that is not JSON', async () => {
    const bad = await answer(shape, { body: JSON.stringify({ ...seedEvent, occurredAt: 'yesterday' }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'occurredAt' })]);
    expect((await answer(shape, { body: 'not json' })).status).toBe(400);
  });

  it('answers 401 naming x-api-key when the gateway passed no key id', async () => {
    const res = await answer(shape, { body: EVENT, apiKeyId: null });
    expect(res).toEqual({
      status: 401,
      body: {
        error: expect.objectContaining({
          code: 'UNAUTHENTICATED',
          details: [{ field: 'x-api-key', message: 'missing' }],
        }),
      },
    });
  });

  it('answers 413 for an event over 256 KiB and 415 for a body not declared JSON', async () => {
    const big = await answer(shape, {
      body: JSON.stringify({ ...seedEvent, payload: { blob: 'x'.repeat(300 * 1024) } }),
    });
    expect(big.status).toBe(413);
    const text = await answer(shape, { body: EVENT, headers: { 'Content-Type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(text.body.error.details[0].field).toBe('content-type');
  });

  it('reads a base64 gzip body', async () => {
    const { gzipSync } = await import('node:zlib');
    const res = await answer(shape, {
      body: gzipSync(JSON.stringify({ ...seedEvent, occurredAt: 'yesterday' })).toString('base64'),
      isBase64Encoded: true,
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    });
    // Decoded and validated: the 400 names the field inside the compressed body.
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('occurredAt');
  });

  it('answers 503 (retry with the same key) when the store cannot be reached', async () => {
    const res = await answer(shape, { body: EVENT });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('RETRY_WITH_SAME_IDEMPOTENCY_KEY');
  });
});

describe('both shapes', () => {
  it('get byte-identical answers', async () => {
    for (const request of [
      { body: JSON.stringify({ ...seedEvent, occurredAt: 'yesterday' }) },
      { body: EVENT, apiKeyId: null },
      { body: EVENT, headers: { 'Content-Type': 'text/plain' } },
    ]) {
      const [a, b] = await Promise.all([handler(v1(request), context), handler(v2(request), context)]);
      expect(b).toEqual(a);
    }
  });
});
