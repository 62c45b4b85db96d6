import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventStore } from '../../lambdas/adapters/event-store.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import type { EmulatorTarget } from '../../local/aws-clients.js';
import { provision } from '../../local/provision.js';
import { type RuntimeDestinations, startRuntimeDestinations } from '../../local/runtime-destinations.js';
import { storeAndEnqueue } from '../support/enqueue.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { call } from '../support/management.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * A credentials rotation through the management API (`PUT` with new access keys), on moto with the
 * local runtime's wiring (management handler, provisioner, a poller running the real S3 batcher), every
 * call going through a proxy that records which key signed it and can hold a request: the batch in flight
 * when the rotation lands finishes on the old key, and the next batch signs with the new one within the
 * catalog bound (not after the secret cache's minute).
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const ACCOUNT = '123456789012'; // moto's account for any key
const namePrefix = `it-rot-${RUN}`;
const ID = 'rotating';
const BUCKET = `rot-${RUN}`;
const OLD = { accessKeyId: 'AKIAOLDKEY0000000001', secretAccessKey: `oldSecret${RUN}0123456789abcdef` };
const NEW = { accessKeyId: 'AKIANEWKEY0000000002', secretAccessKey: `newSecret${RUN}0123456789abcdef` };

let proxy: FaultProxy;
let runtime: RuntimeDestinations;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let events: EventStore;

const body = (keys: typeof OLD) => ({
  id: ID,
  type: 'S3',
  name: 'Rotating archive',
  customerExternalId: `acct_${RUN}`,
  bucket: BUCKET,
  keyPrefix: 'raw/',
  region: REGION,
  bucketOwnerAccountId: ACCOUNT,
  flushIntervalSec: 1,
  maxEvents: 10,
  auth: { mode: 'ACCESS_KEY', ...keys },
});

const api = (method: string, url: string, options?: Parameters<typeof call>[3]) =>
  call(runtime.managementHandler, method, url, options);

/** The key id that signed each S3 PutObject to the customer's bucket, in order. */
const signersOfPuts = () =>
  proxy
    .calls('S3.PUT')
    .filter((r) => r.path.startsWith(`/${BUCKET}/raw/`))
    .map((r) => /Credential=([^/]+)\//.exec(String(r.headers.authorization))?.[1]);

let sequence = 0;
/** Stores events of the customer and puts them on the destination's queue, as ingest does. */
async function enqueue(queueUrl: string, eventTypes: readonly string[]): Promise<void> {
  const receivedAt = new Date().toISOString();
  const records: EventRecord[] = eventTypes.map((eventType) => {
    sequence += 1;
    const idempotencyKey = `rot-${RUN}-${sequence}`;
    const customerExternalId = `acct_${RUN}`;
    return {
      ...seedEvent,
      eventType,
      customerExternalId,
      idempotencyKey,
      eventId: deriveEventId(customerExternalId, idempotencyKey),
      receivedAt,
    };
  });
  await storeAndEnqueue({ events, sqs }, queueUrl, ID, records);
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  proxy = await FaultProxy.start(inject('awsEndpoint'));
  // Every SDK client of the wiring, the consumers' too, goes through the proxy.
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const target: EmulatorTarget = { endpoint: proxy.endpoint, region: REGION };
  const config = parseConfig({ vendor: 'acme', destinations: [] });
  const { tables } = await provision({ config, namePrefix, target });
  sqs = new SQSClient({ endpoint: proxy.endpoint, region: REGION });
  dynamodb = new DynamoDBClient({ endpoint: proxy.endpoint, region: REGION });
  events = new EventStore(dynamodb, tables.events as string);
  runtime = startRuntimeDestinations({
    config,
    namePrefix,
    target,
    tables,
    accountId: ACCOUNT,
    onChange: () => undefined,
    warn: () => undefined,
  });
  await runtime.applyConfig('test');
});

afterAll(async () => {
  await runtime?.stop();
  await proxy?.stop();
  sqs?.destroy();
  dynamodb?.destroy();
});

describe('a credentials rotation through the management API', () => {
  it('lets the batch in flight finish on the old key, and signs the next batch with the new one within the catalog bound', async () => {
    const created = await api('POST', '/v1/destinations', { body: body(OLD) });
    expect(created.statusCode, created.raw).toBe(201);
    const queueUrl = await until('ACTIVE', async () => {
      const got = await api('GET', `/v1/destinations/${ID}`);
      return got.body.status === 'ACTIVE' ? (got.body.queueUrl as string) : undefined;
    });

    // A batch of two event types: two files, two PutObjects. The first is held at the proxy while the
    // rotation lands and the consumers' catalog check (5 s) has certainly seen it.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    proxy.inject((r) => r.operation === 'S3.PUT' && r.path.startsWith(`/${BUCKET}/raw/`), { until: held }, 1);
    await enqueue(queueUrl, ['order.created', 'invoice.paid']);
    await until('the first PutObject held', () => (signersOfPuts().length > 0 ? true : undefined));

    const current = await api('GET', `/v1/destinations/${ID}`);
    const rotated = await api('PUT', `/v1/destinations/${ID}`, {
      body: body(NEW),
      headers: { 'If-Match': current.headers.etag as string },
    });
    expect(rotated.statusCode, rotated.raw).toBe(200);
    await new Promise((r) => setTimeout(r, 6_000));
    release();
    const inFlight = await until('both files of the batch in flight', () =>
      signersOfPuts().length >= 2 ? signersOfPuts() : undefined,
    );
    expect(inFlight).toEqual([OLD.accessKeyId, OLD.accessKeyId]);

    // The next batch: the new key, well before the secret cache's minute would have let it through.
    const rotatedAt = Date.now();
    await enqueue(queueUrl, ['order.created']);
    const next = await until('the next batch', () =>
      signersOfPuts().length >= 3 ? signersOfPuts().slice(2) : undefined,
    );
    expect(next).toEqual([NEW.accessKeyId]);
    expect(Date.now() - rotatedAt).toBeLessThan(30_000);

    // The audit entry names the rotation, and no key or secret is anywhere in the answers or the trail.
    const audit = await api('GET', `/v1/audit?destinationId=${ID}&action=destination.credentials-rotated`);
    expect(audit.body.entries).toHaveLength(1);
    const everything = [created.raw, current.raw, rotated.raw, audit.raw].join('\n');
    for (const secret of [OLD.accessKeyId, OLD.secretAccessKey, NEW.accessKeyId, NEW.secretAccessKey])
      expect(everything).not.toContain(secret);
  });
});
