import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type AuthorizerHandler, createAuthorizerHandler } from '../../lambdas/authorizer/handler.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { AUTHORIZER_ENV } from '../../lambdas/core/function-env.js';
import { type ApiServer, startApiServer } from '../../local/api-server.js';
import { ensureProducerPlan } from '../../local/producer-plan.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * POST /v1/events through the local HTTP API emulation (PUSHRAIL_LOCAL_API=http): the real authorizer
 * against a producer usage plan on moto, its answers cached per key, and the real ingest handler
 * getting payload 2.0 events.
 */

const config = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 's3-archive',
      type: 'S3',
      customerExternalId: 'acct_8K2zRq',
      name: 'archive',
      bucket: 'acme-pushrail-events',
      region: 'us-east-1',
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
        externalId: 'acme-ext-7Pq2',
      },
    },
  ],
});

const API_KEY = `http-local-${randomUUID()}`;
let harness: IngestHarness;
let api: ApiServer;
let authorizerCalls = 0;

beforeAll(async () => {
  const target = { endpoint: inject('awsEndpoint'), region: 'us-east-1' };
  harness = await startIngestHarness({
    config,
    awsEndpoint: target.endpoint,
    handlerEndpoint: target.endpoint,
  });
  const plan = await ensureProducerPlan(target, harness.namePrefix, API_KEY);
  // Provisioning twice finds the same plan and key (a restart of `npm start`).
  expect(await ensureProducerPlan(target, harness.namePrefix, API_KEY)).toEqual(plan);
  const authorizer = createAuthorizerHandler({
    [AUTHORIZER_ENV.usagePlanId]: plan.usagePlanId,
    AWS_REGION: target.region,
    AWS_ENDPOINT_URL: target.endpoint,
  });
  const counted: AuthorizerHandler = (event, context: Context) => {
    authorizerCalls += 1;
    return authorizer(event, context);
  };
  api = await startApiServer({
    handler: harness.handler,
    ingestGateway: { kind: 'http', authorizer: counted },
    apiKey: 'not-used-by-the-http-api',
    function: { functionName: 'pushrail-ingest', region: 'us-east-1', accountId: harness.accountId },
    port: 0,
    log: () => {},
  });
});

afterAll(async () => {
  await api.close();
});

/** The answers these tests read: ingest's (202 and errors) and API Gateway's own (`message`). */
interface Answer {
  readonly message?: string;
  readonly eventId?: string;
  readonly duplicate?: boolean;
  readonly destinations?: string[];
  readonly error?: { readonly code: string; readonly details: { readonly field: string }[] };
}

async function post(body: unknown, headers: Record<string, string> = { 'x-api-key': API_KEY }) {
  const res = await fetch(`${api.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

const event = (patch: Record<string, unknown> = {}) => ({
  ...seedEvent,
  idempotencyKey: `http-${randomUUID()}`,
  ...patch,
});

describe('POST /v1/events through the local HTTP API emulation', () => {
  it('accepts an event (202), answers its retry as a duplicate, and runs the authorizer once for both', async () => {
    const before = authorizerCalls;
    const e = event();
    const first = await post(e);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ duplicate: false, destinations: ['s3-archive'] });
    const again = await post(e);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    expect(authorizerCalls - before).toBe(1);
  });

  it('answers a missing key 401 and a wrong key 403, in API Gateway’s own shape, storing nothing', async () => {
    const e = event();
    expect(await post(e, {})).toEqual({ status: 401, body: { message: 'Unauthorized' } });
    expect(await post(e, { 'x-api-key': 'a-guess' })).toEqual({
      status: 403,
      body: { message: 'Forbidden' },
    });
    // Had either reached ingest, this would be a duplicate.
    expect((await post(e)).body.duplicate).toBe(false);
  });

  it('answers 400 naming the field, 409, 413 and 415 as the REST API does', async () => {
    const bad = await post(event({ occurredAt: 'yesterday' }));
    expect(bad.status).toBe(400);
    expect(bad.body.error?.details).toEqual([expect.objectContaining({ field: 'occurredAt' })]);

    const e = event();
    expect((await post(e)).status).toBe(202);
    const conflict = await post({ ...e, payload: { other: true } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.code).toBe('IDEMPOTENCY_CONFLICT');

    const big = await post(event({ payload: { blob: 'x'.repeat(300 * 1024) } }));
    expect(big.status).toBe(413);
    expect((await post(event(), { 'x-api-key': API_KEY, 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('takes a gzip body (an HTTP API passes it on undecoded; the handler decodes it)', async () => {
    const res = await post(gzipSync(JSON.stringify(event())), {
      'x-api-key': API_KEY,
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(202);
  });
});
