import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { INGEST_ENV } from '../../lambdas/core/function-env.js';
import { createIngestHandler } from '../../lambdas/ingest/handler.js';
import { ingestEnvironment } from '../../local/ingest-function.js';
import { type Provisioned, provision } from '../../local/provision.js';
import { FaultProxy, jsonError } from '../support/fault-proxy.js';
import { peekQueue } from '../support/queues.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Ingest routing from the destinations table (DESIGN.md "Management API": changes reach routing
 * within the cache bound), with the real ingest handler on moto. The queues are provisioned from a
 * config as `npm start` does; which of them ingest routes to is decided by the table alone.
 */

const CUSTOMER: string = seedEvent.customerExternalId;
const REFRESH_SECONDS = 1;
const IDS = ['first', 'added', 'paused', 'deleted'] as const;

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: IDS.map((id) => ({
    id,
    type: 'S3',
    customerExternalId: CUSTOMER,
    name: id,
    bucket: `bucket-${id}`,
    region: 'us-east-1',
    auth: { mode: 'ASSUME_ROLE', roleArn: 'arn:aws:iam::123456789012:role/W', externalId: 'ext-1' },
  })),
});

let proxy: FaultProxy;
let provisioned: Provisioned;
let store: DestinationStore;
let handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
const sqs = () => new SQSClient({ endpoint: inject('awsEndpoint') });

function recordOf(id: (typeof IDS)[number], overrides: Partial<DestinationRecord> = {}): DestinationRecord {
  const destination = config.destinations.find((d) => d.id === id);
  if (!destination) throw new Error(`no destination ${id}`);
  return {
    destination,
    version: 1,
    desired: 'ACTIVE',
    status: 'ACTIVE',
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    updatedBy: 'AKIATEST',
    queueUrl: provisioned.destinations[id]?.queueUrl as string,
    ...overrides,
  };
}

beforeAll(async () => {
  proxy = await FaultProxy.start(inject('awsEndpoint'));
  const namePrefix = `it-${randomUUID().slice(0, 8)}`;
  provisioned = await provision({
    config,
    namePrefix,
    target: { endpoint: inject('awsEndpoint'), region: 'us-east-1' },
  });
  const env = ingestEnvironment({
    config,
    namePrefix,
    provisioned: {
      ...provisioned,
      queueUrlBase: provisioned.queueUrlBase.replace(inject('awsEndpoint'), proxy.endpoint),
    },
    region: 'us-east-1',
    endpoint: proxy.endpoint,
  });
  const table = env[INGEST_ENV.destinationsTable];
  if (!table) throw new Error('the local runtime provisioned no destinations table');
  store = new DestinationStore(new DynamoDBClient({ endpoint: inject('awsEndpoint') }), table);
  handler = createIngestHandler({
    ...env,
    [INGEST_ENV.namePrefix]: namePrefix,
    [INGEST_ENV.routesRefreshSeconds]: String(REFRESH_SECONDS),
    // Left in on purpose: with the table selected, the config's fixed routes are not used.
    [INGEST_ENV.routes]: env[INGEST_ENV.routes],
  });
});

afterAll(async () => {
  await proxy.stop();
});

let counter = 0;
async function post(body: unknown) {
  counter += 1;
  const event = {
    httpMethod: 'POST',
    path: '/v1/events',
    resource: '/v1/events',
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    body: JSON.stringify(body),
    isBase64Encoded: false,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: { requestId: `req-${counter}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
  } as unknown as APIGatewayProxyEvent;
  const context = {
    awsRequestId: `aws-${counter}`,
    functionName: 'pushrail-ingest',
    getRemainingTimeInMillis: () => 29_000,
  } as unknown as Context;
  const r = await handler(event, context);
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

const event = () => ({ ...seedEvent, idempotencyKey: `k-${randomUUID()}` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const queued = async (id: string, idempotencyKey: string) =>
  (await peekQueue(sqs(), provisioned.destinations[id]?.queueUrl as string)).filter((m) =>
    (m.Body ?? '').includes(idempotencyKey),
  ).length;

describe('ingest routing from the destinations table, on moto', () => {
  it('answers 503 while the table was never readable, then routes what the table holds', async () => {
    const outage = proxy.inject(
      (r) => r.operation === 'DynamoDB.GetItem' && r.body.includes('"catalog"'),
      jsonError(500, 'InternalServerError'),
    );
    const refused = await post(event());
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('RETRY_WITH_SAME_IDEMPOTENCY_KEY');
    outage.times = 0;

    await store.create(recordOf('first'));
    const accepted = await post(event());
    expect(accepted.status).toBe(202);
    expect(accepted.body.destinations).toEqual(['first']);
  });

  it('routes a destination added to the table within the refresh bound, a paused one too, a deleted one no more', async () => {
    await store.create(recordOf('added'));
    await store.create(recordOf('paused', { desired: 'PAUSED', status: 'PAUSED' }));
    await store.create(recordOf('deleted'));
    await store.replace(recordOf('deleted', { version: 2, desired: 'DELETED', status: 'DELETING' }), 1);
    const changedAt = Date.now();

    let routed: string[] = [];
    let key = '';
    while (Date.now() - changedAt < 5_000) {
      const e = event();
      const res = await post(e);
      expect(res.status).toBe(202);
      routed = res.body.destinations;
      key = e.idempotencyKey;
      if (routed.includes('added')) break;
      await sleep(100);
    }
    const took = Date.now() - changedAt;
    expect(routed).toEqual(['added', 'first', 'paused']);
    // The bound plus the time of one refresh and one request on moto.
    expect(took).toBeLessThan(REFRESH_SECONDS * 1000 + 1_500);

    expect(await queued('added', key)).toBe(1);
    expect(await queued('paused', key)).toBe(1);
    expect(await queued('deleted', key)).toBe(0);
  });

  it('costs one small read per refresh when nothing changed, no scan; a failed refresh keeps the last routes', async () => {
    await post(event()); // settles any refresh still due from the changes above
    await sleep(REFRESH_SECONDS * 1000 + 100);
    proxy.requests.length = 0;
    for (let i = 0; i < 5; i += 1) expect((await post(event())).status).toBe(202);
    await sleep(REFRESH_SECONDS * 1000 + 100);
    expect((await post(event())).status).toBe(202);
    const catalogReads = proxy.calls('DynamoDB.GetItem').filter((r) => r.body.includes('"catalog"'));
    expect(catalogReads).toHaveLength(2);
    expect(proxy.calls('DynamoDB.Scan')).toHaveLength(0);

    proxy.inject(
      (r) => r.operation === 'DynamoDB.GetItem' && r.body.includes('"catalog"'),
      jsonError(500, 'InternalServerError'),
    );
    await sleep(REFRESH_SECONDS * 1000 + 100);
    const during = await post(event());
    proxy.clearFaults();
    expect(during.status).toBe(202);
    expect(during.body.destinations).toEqual(['added', 'first', 'paused']);
  });
});
