import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { HEALTH_EVENT_DETAIL_TYPE, HEALTH_EVENT_SOURCE } from '../../lambdas/adapters/health-announcer.js';
import { HealthRollups } from '../../lambdas/adapters/health-rollups.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import { HEALTH_WINDOW_SECONDS } from '../../lambdas/core/health-rules.js';
import type { ReplayResult } from '../../lambdas/core/replay-request.js';
import { deliverySettings } from '../../lambdas/destinations/index.js';
import { createDeliveryHandler as createS3BatcherHandler } from '../../lambdas/destinations/s3/handler.js';
import { ensureBucket } from '../../lambdas/destinations/s3/local-customer.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { s3ClientConfig } from '../../local/aws-clients.js';
import { type CustomerAccess, customerAccess } from '../../local/customer-credentials.js';
import { localDeliveryEnvironment } from '../../local/delivery-pollers.js';
import { type Provisioned, provision } from '../../local/provision.js';
import { QueuePoller } from '../../local/queue-poller.js';
import { queueArn } from '../../local/queues.js';
import { replayFunction } from '../../local/replay-function.js';
import { localManagementEnvironment } from '../../local/runtime-destinations.js';
import { FaultProxy, s3Error } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { call, type Handler } from '../support/management.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Health on moto through the real handlers (DESIGN.md "Trace, health, audit"): events in through the
 * ingest handler, the S3 batcher under a QueuePoller, the replay function, and the management
 * handler's health routes. Every SDK call of the consumers and of the management handler goes
 * through a fault proxy, which injects S3 throttling and records the PutEvents of notifications.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const RUN = randomUUID().slice(0, 8);
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

const s3Destination = (id: string) => ({
  id,
  type: 'S3',
  name: id,
  customerExternalId: `acct_${id}`,
  bucket: `pushrail-health-${id}-${RUN}`,
  keyPrefix: `${id}/`,
  region: REGION,
  flushIntervalSec: 1,
  maxEvents: 100,
  auth: {
    mode: 'ASSUME_ROLE',
    roleArn: `arn:aws:iam::${ACCOUNT}:role/PushrailWriter`,
    externalId: `ext-${id}-7Pq2`,
  },
});

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [s3Destination('broken'), s3Destination('throttled'), s3Destination('steady')],
});

const endpoint = () => inject('awsEndpoint');
let proxy: FaultProxy;
let harness: IngestHarness;
let provisioned: Provisioned;
let customer: CustomerAccess;
let sqs: SQSClient;
let replay: ReturnType<typeof replayFunction>['handler'];
const pollers = new Map<string, QueuePoller>();
/** The management handler as of `now` (health reads the window ending then). */
let managementAt: (now?: () => Date) => Handler;

const s3Of = (id: string) => config.destinations.find((d) => d.id === id) as S3DestinationConfig;

beforeAll(async () => {
  proxy = await FaultProxy.start(endpoint());
  harness = await startIngestHarness({ config, awsEndpoint: endpoint(), handlerEndpoint: endpoint() });
  // The consumers' and the replay function's SDK clients take their endpoint from the process.
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const target = { endpoint: proxy.endpoint, region: REGION };
  provisioned = await provision({ config, namePrefix: harness.namePrefix, target });
  sqs = new SQSClient({ endpoint: proxy.endpoint, region: REGION });
  const store = new DestinationStore(new DynamoDBClient(target), provisioned.tables.destinations as string);
  const at = new Date().toISOString();
  for (const destination of config.destinations) {
    const queues = provisioned.destinations[destination.id];
    await store.create({
      destination,
      version: 1,
      desired: 'ACTIVE',
      status: 'ACTIVE',
      createdAt: at,
      updatedAt: at,
      updatedBy: 'test',
      queueUrl: queues?.queueUrl as string,
      dlqUrl: queues?.dlqUrl as string,
    });
  }
  const env = localManagementEnvironment({
    tables: provisioned.tables,
    namePrefix: harness.namePrefix,
    accountId: ACCOUNT,
    target,
  });
  managementAt = (now) => createManagementHandler(env, now ? { health: { now } } : {});
  replay = replayFunction({ config, namePrefix: harness.namePrefix, provisioned }).handler;
  customer = await customerAccess(s3Of('broken'), target);

  const context = { config, namePrefix: harness.namePrefix, target, provisioned };
  for (const destination of config.destinations) {
    const queueUrl = provisioned.destinations[destination.id]?.queueUrl as string;
    const settings = deliverySettings(destination);
    pollers.set(
      destination.id,
      new QueuePoller({
        sqs,
        queueUrl,
        queueArn: await queueArn(sqs, queueUrl),
        region: REGION,
        batchSize: settings.batchSize,
        windowSeconds: 1,
        timeoutSeconds: settings.timeoutSeconds,
        // No jitter wait: a throttled batch comes back at once, so the test sees its retry succeed.
        handler: createS3BatcherHandler(
          { ...process.env, ...localDeliveryEnvironment(context, destination) },
          { random: () => 0 },
        ),
        functionName: `${harness.namePrefix}-${destination.id}`,
      }),
    );
  }
  // The customer deleted this bucket after configuring the destination.
  const s3 = new S3Client(s3ClientConfig({ ...target, credentials: customer.credentials }));
  await s3.send(new DeleteBucketCommand({ Bucket: s3Of('broken').bucket }));
  s3.destroy();
});

afterAll(async () => {
  sqs?.destroy();
  await proxy?.stop();
});

let requests = 0;
async function post(id: string, count: number): Promise<void> {
  requests += 1;
  const events = Array.from({ length: count }, (_, i) => ({
    ...seedEvent,
    customerExternalId: s3Of(id).customerExternalId,
    idempotencyKey: `${id}-${requests}-${i}-${RUN}`,
  }));
  const res = await harness.handler(
    {
      httpMethod: 'POST',
      path: '/v1/events',
      resource: '/v1/events',
      headers: { 'content-type': 'application/json' },
      multiValueHeaders: {},
      body: JSON.stringify({ events }),
      isBase64Encoded: false,
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      requestContext: { requestId: `health-${requests}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
    } as unknown as APIGatewayProxyEvent,
    lambdaContext(),
  );
  expect(res.statusCode, res.body).toBe(202);
}

function lambdaContext(): Context {
  const deadline = Date.now() + 15 * 60_000;
  return {
    awsRequestId: randomUUID(),
    functionName: 'health-test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as unknown as Context;
}

async function drain(id: string): Promise<void> {
  const poller = pollers.get(id) as QueuePoller;
  for (;;) {
    const result = await poller.runOnce({ maxWaitSeconds: 1 });
    if (result.received === 0) return;
  }
}

/** Reads (and deletes) the notifications the vendor's default bus copied into the inbox. */
async function notifications(): Promise<
  { source: string; 'detail-type': string; detail: Record<string, unknown> }[]
> {
  const out: { source: string; 'detail-type': string; detail: Record<string, unknown> }[] = [];
  for (;;) {
    const res = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: provisioned.notificationsQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (!res.Messages?.length) return out;
    for (const m of res.Messages) {
      out.push(JSON.parse(m.Body ?? '{}'));
      await sqs.send(
        new DeleteMessageCommand({
          QueueUrl: provisioned.notificationsQueueUrl,
          ReceiptHandle: m.ReceiptHandle,
        }),
      );
    }
  }
}

const putEvents = () => proxy.calls('AWSEvents.PutEvents');
const health = async (id: string, now?: () => Date) =>
  call(managementAt(now), 'GET', `/v1/destinations/${id}/health`);

describe('destination health', () => {
  it('turns failing when the bucket is deleted, and announces that once', async () => {
    await post('broken', 3);
    await drain('broken');

    const first = await health('broken');
    expect(first.statusCode, first.raw).toBe(200);
    expect(first.body).toMatchObject({
      destinationId: 'broken',
      type: 'S3',
      status: 'failing',
      window: 'PT15M',
      delivered: 0,
      failed: 3,
      deadLettered: 3,
      successRate: 0,
      dlqDepth: 3,
      backlog: { queued: 0, inFlight: 0 },
      lastError: { errorCode: 'NoSuchBucket' },
    });
    expect(first.body.lastError.reason).toContain('bucket');

    // More reads, and the list: no new announcement.
    expect((await health('broken')).body.status).toBe('failing');
    const all = await call(managementAt(), 'GET', '/v1/health');
    expect(all.statusCode, all.raw).toBe(200);
    const byId = new Map(
      (all.body.destinations as { destinationId: string; status: string }[]).map((d) => [d.destinationId, d]),
    );
    expect(byId.get('broken')?.status).toBe('failing');
    expect(byId.get('steady')?.status).toBe('healthy');

    expect(putEvents()).toHaveLength(1);
    const notes = await notifications();
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({
      source: HEALTH_EVENT_SOURCE,
      'detail-type': HEALTH_EVENT_DETAIL_TYPE,
      detail: {
        destinationId: 'broken',
        customerExternalId: 'acct_broken',
        from: 'healthy',
        to: 'failing',
        at: first.body.since,
        lastError: { errorCode: 'NoSuchBucket' },
      },
    });
  });

  it('returns to healthy after the bucket is fixed and the DLQ replayed', async () => {
    await ensureBucket(s3Of('broken'), customer, { endpoint: proxy.endpoint, region: REGION });
    const result = (await replay(
      { destinationId: 'broken', source: 'dlq', requestedBy: 'test' },
      lambdaContext(),
    )) as ReplayResult;
    expect(result).toMatchObject({ replayed: 3, failed: 0 });
    await drain('broken');

    // The window still holds the 3 failures; the replay settled them, and the 3 were delivered.
    const after = await health('broken');
    expect(after.body).toMatchObject({
      status: 'healthy',
      delivered: 3,
      failed: 3,
      successRate: 1,
      dlqDepth: 0,
      backlog: { queued: 0, inFlight: 0 },
    });
    expect(putEvents()).toHaveLength(2);
    const notes = (await notifications()).map((n) => [n.detail.from, n.detail.to]);
    expect(notes).toEqual([['failing', 'healthy']]);
  });

  it('reads degraded while the DLQ holds events after the window of their failures', async () => {
    await post('steady', 2);
    await drain('steady');
    // Dead-letter one event by hand (a crash guard's move): nothing in the window failed.
    const queues = provisioned.destinations.steady;
    await sqs.send(new SendMessageCommand({ QueueUrl: queues?.dlqUrl as string, MessageBody: '{}' }));
    const later = new Date(Date.now() + (HEALTH_WINDOW_SECONDS + 120) * 1000);
    expect((await health('steady', () => later)).body).toMatchObject({
      status: 'degraded',
      failed: 0,
      dlqDepth: 1,
    });
  });

  it('reads degraded when throttling makes some attempts fail and retry', async () => {
    await post('throttled', 4);
    await drain('throttled');
    expect((await health('throttled')).body).toMatchObject({ status: 'healthy', delivered: 4, failed: 0 });

    // SlowDown for one attempt's every SDK try (the S3 client's own 3), then S3 answers again.
    const bucket = s3Of('throttled').bucket;
    proxy.inject((r) => r.operation === 'S3.PUT' && r.path.includes(bucket), s3Error(503, 'SlowDown'), 3);
    await post('throttled', 1);
    await drain('throttled');

    const res = await health('throttled');
    expect(res.body).toMatchObject({
      status: 'degraded',
      delivered: 5,
      failed: 1,
      successRate: 0.8333,
      dlqDepth: 0,
      lastError: { errorCode: 'SlowDown' },
    });
    expect(res.body.latencyMs.p50).toBeGreaterThanOrEqual(0);
    expect(res.body.latencyMs.p95).toBeGreaterThanOrEqual(res.body.latencyMs.p50);
  });

  it('reads one small Query per destination, whatever the traffic (ReturnConsumedCapacity)', async () => {
    const rollups = new HealthRollups(
      new DynamoDBClient({ endpoint: endpoint(), region: REGION }),
      provisioned.tables.attempts as string,
    );
    const read = await rollups.read('throttled', new Date(Date.now() - HEALTH_WINDOW_SECONDS * 1000));
    expect(read.minutes.length).toBeGreaterThan(0);
    expect(read.minutes.length).toBeLessThanOrEqual(HEALTH_WINDOW_SECONDS / 60 + 1);
    // One 4 KB read unit at most: the README's ~0.5 per destination (eventually consistent).
    expect(read.readUnits).toBeGreaterThan(0);
    expect(read.readUnits).toBeLessThanOrEqual(1);
  });

  it('answers 404 for an unknown destination', async () => {
    expect((await health('nope')).statusCode).toBe(404);
  });
});
