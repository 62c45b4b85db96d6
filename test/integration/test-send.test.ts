import { randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { TEST_EVENT_TYPE } from '../../lambdas/core/test-send.js';
import type { EmulatorTarget } from '../../local/aws-clients.js';
import { provision } from '../../local/provision.js';
import { type RuntimeDestinations, startRuntimeDestinations } from '../../local/runtime-destinations.js';
import { FaultProxy, jsonError, op } from '../support/fault-proxy.js';
import { type Answer, call } from '../support/management.js';

/**
 * `POST /v1/destinations/{id}/test` through the local runtime's wiring (local/runtime-destinations.ts:
 * the management handler, the provisioner, and the kinds' consumer handlers run in-process as the
 * test sender), on moto. The consumers' AWS calls go through a FaultProxy, which records what they
 * sent (moto checks no ExternalId) and answers chosen calls with the errors a customer's misconfigured
 * account gives.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const ACCOUNT = '123456789012'; // moto's default account: assumed roles and unknown keys land here
const namePrefix = `it-test-${RUN}`;
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY02';

const endpoint = () => inject('awsEndpoint');
const target = (): EmulatorTarget => ({ endpoint: endpoint(), region: REGION });
const dynamodb = () => new DynamoDBClient({ endpoint: endpoint(), region: REGION });
const s3 = () => new S3Client({ endpoint: endpoint(), region: REGION, forcePathStyle: true });
const sqs = () => new SQSClient({ endpoint: endpoint(), region: REGION });

let proxy: FaultProxy;
let runtime: RuntimeDestinations;
let tables: Readonly<Record<string, string>>;
const answers: Answer[] = [];

const api = async (method: string, url: string, body?: unknown): Promise<Answer> => {
  const answer = await call(runtime.managementHandler, method, url, body === undefined ? {} : { body });
  answers.push(answer);
  return answer;
};

const bucketOf = (id: string) => `it-test-${id}-${RUN}`;

function s3Destination(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    type: 'S3',
    name: id,
    customerExternalId: `acct_${id}`,
    bucket: bucketOf(id),
    keyPrefix: `${id}/raw/`,
    region: REGION,
    auth: {
      mode: 'ASSUME_ROLE',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/Writer-${id}`,
      externalId: `ext-${id}-${RUN}`,
    },
    ...extra,
  };
}

function busDestination(id: string) {
  return {
    id,
    type: 'EVENTBRIDGE',
    name: id,
    customerExternalId: `acct_${id}`,
    busArn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/it-test-${id}-${RUN}`,
    region: REGION,
    auth: {
      mode: 'ASSUME_ROLE',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/Bus-${id}`,
      externalId: `ext-${id}-${RUN}`,
    },
  };
}

/** Creates through the API and waits for the provisioner to make it ACTIVE. */
async function createActive(body: Record<string, unknown>): Promise<Answer> {
  const created = await api('POST', '/v1/destinations', body);
  expect(created.statusCode, created.raw).toBe(201);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = await api('GET', `/v1/destinations/${String(body.id)}`);
    if (got.body.status === 'ACTIVE') return got;
    if (Date.now() > deadline) throw new Error(`${String(body.id)} not ACTIVE: ${got.raw}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function scan(role: string): Promise<Record<string, unknown>[]> {
  const { Items } = await dynamodb().send(new ScanCommand({ TableName: tables[role] }));
  return (Items ?? []).map((i) => unmarshall(i));
}

async function keysIn(bucket: string): Promise<string[]> {
  const { Contents } = await s3().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (Contents ?? []).map((o) => o.Key as string);
}

beforeAll(async () => {
  proxy = await FaultProxy.start(endpoint());
  const config = { vendor: 'acme', retentionDays: 30, destinations: [] } as unknown as PushrailConfig;
  const provisioned = await provision({ config, namePrefix, target: target() });
  tables = provisioned.tables;
  // The consumers' SDK clients take their endpoint from the process, read when the test sender first
  // builds them: every AWS call of a test send goes through the proxy. The management handler, the
  // provisioner and the customer side are given moto itself.
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  runtime = startRuntimeDestinations({
    config,
    namePrefix,
    target: target(),
    tables,
    accountId: provisioned.accountId,
    onChange: () => undefined,
    warn: () => undefined,
  });
});

afterAll(async () => {
  await runtime?.stop();
  await proxy?.stop();
});

beforeEach(() => {
  proxy.clearFaults();
  proxy.requests.length = 0;
});

describe('the test send of an S3 destination', () => {
  it('writes one object under <keyPrefix>_pushrail/test/ with the real PutObject, and answers the attempt', async () => {
    const destination = s3Destination('s3ok');
    await createActive(destination);

    const tested = await api('POST', '/v1/destinations/s3ok/test');
    expect(tested.statusCode, tested.raw).toBe(200);
    expect(tested.body).toMatchObject({ outcome: 'delivered', eventId: expect.stringMatching(/^evt_/) });
    expect(tested.body.latencyMs).toBeGreaterThanOrEqual(0);
    expect(tested.body.errorCode).toBeUndefined();
    const key = String(tested.body.target).replace(`s3://${destination.bucket}/`, '');
    expect(key).toMatch(
      new RegExp(`^s3ok/raw/_pushrail/test/\\d{4}-\\d{2}-\\d{2}/\\d{6}Z-${tested.body.eventId}\\.ndjson$`),
    );
    expect(await keysIn(destination.bucket)).toEqual([key]);

    const object = await s3().send(new GetObjectCommand({ Bucket: destination.bucket, Key: key }));
    const line = JSON.parse(
      await (object.Body as { transformToString(): Promise<string> }).transformToString(),
    );
    expect(line).toMatchObject({
      eventType: TEST_EVENT_TYPE,
      customerExternalId: destination.customerExternalId,
      eventId: tested.body.eventId,
    });
    expect(object.ContentType).toBe('application/x-ndjson');
    // The real put path: the customer's role with the destination's ExternalId, ExpectedBucketOwner.
    const assumed = proxy.calls('STS.AssumeRole').map((r) => new URLSearchParams(r.body).get('ExternalId'));
    expect(assumed).toEqual([destination.auth.externalId]);
    const put = proxy.calls('S3.PUT').find((r) => r.path.includes('_pushrail'));
    expect(put?.headers['x-amz-expected-bucket-owner']).toBe(ACCOUNT);

    // Never a real part: no seal, no stored event, nothing in a partition; one attempt, marked a test.
    expect(await scan('seals')).toEqual([]);
    expect(await scan('events')).toEqual([]);
    const attempts = (await scan('attempts')).filter((a) => a.destinationId === 's3ok');
    expect(attempts).toMatchObject([
      { outcome: 'delivered', test: true, eventIds: [tested.body.eventId], target: tested.body.target },
    ]);

    const audit = await api('GET', '/v1/audit?action=destination.tested&destinationId=s3ok');
    expect(audit.body.entries).toMatchObject([
      {
        action: 'destination.tested',
        destinationId: 's3ok',
        customerExternalId: destination.customerExternalId,
        version: 1,
        details: { outcome: 'delivered' },
      },
    ]);
  });

  it('a wrong ExternalId fails with AccessDenied and a reason naming AssumeRole, and nothing is written', async () => {
    const destination = s3Destination('s3ext');
    await createActive(destination);
    // What STS answers when the role's trust policy names another ExternalId (moto checks none).
    proxy.inject(
      (r) => op('STS.AssumeRole')(r) && r.body.includes(`ExternalId=${destination.auth.externalId}`),
      {
        status: 403,
        body:
          '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>' +
          '<Code>AccessDenied</Code><Message>Access denied</Message></Error><RequestId>1</RequestId></ErrorResponse>',
        headers: { 'content-type': 'text/xml' },
      },
    );

    const tested = await api('POST', '/v1/destinations/s3ext/test');
    expect(tested.statusCode, tested.raw).toBe(200);
    expect(tested.body).toMatchObject({
      outcome: 'failed',
      errorCode: 'AccessDenied',
      failureClass: 'permanent',
    });
    expect(tested.body.reason).toContain(`sts:AssumeRole on ${destination.auth.roleArn}`);
    expect(tested.body.reason).toContain('Access denied');
    expect(tested.body.target).toBeUndefined();
    expect(await keysIn(destination.bucket)).toEqual([]);
    expect(proxy.calls('S3.PUT')).toEqual([]);

    const audit = await api('GET', '/v1/audit?action=destination.tested&destinationId=s3ext');
    expect(audit.body.entries[0].details).toEqual({
      outcome: 'failed',
      errorCode: 'AccessDenied',
      failureClass: 'permanent',
    });
  });

  it('a bucket the customer deleted fails with NoSuchBucket, permanent', async () => {
    const destination = s3Destination('s3gone');
    await createActive(destination);
    await s3().send(new DeleteBucketCommand({ Bucket: destination.bucket }));

    const tested = await api('POST', '/v1/destinations/s3gone/test');
    expect(tested.statusCode, tested.raw).toBe(200);
    expect(tested.body).toMatchObject({
      outcome: 'failed',
      errorCode: 'NoSuchBucket',
      failureClass: 'permanent',
      target: expect.stringMatching(new RegExp(`^s3://${destination.bucket}/s3gone/raw/_pushrail/test/`)),
    });
    expect((await scan('attempts')).filter((a) => a.destinationId === 's3gone')).toMatchObject([
      { outcome: 'failed', test: true, errorCode: 'NoSuchBucket', failureClass: 'permanent' },
    ]);
  });

  it('keys posted to the API are used from Secrets Manager and never appear in an answer or entry', async () => {
    const destination = s3Destination('s3keys', {
      auth: { mode: 'ACCESS_KEY', accessKeyId: KEY_ID, secretAccessKey: SECRET },
      bucketOwnerAccountId: ACCOUNT,
    });
    await createActive(destination);
    const tested = await api('POST', '/v1/destinations/s3keys/test');
    expect(tested.body, tested.raw).toMatchObject({ outcome: 'delivered' });
    // Signed with the posted key, read back from the secret.
    const put = proxy.calls('S3.PUT').find((r) => r.path.includes('_pushrail'));
    expect(String(put?.headers.authorization)).toContain(`Credential=${KEY_ID}/`);

    await api('GET', '/v1/audit?destinationId=s3keys');
    const everything = [...answers.map((a) => a.raw), JSON.stringify(await scan('attempts'))].join('\n');
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(KEY_ID);
  });
});

describe('the test send of an EventBridge destination', () => {
  it('puts one entry of the synthetic event on the customer bus after DescribeEventBus, target its EventId', async () => {
    const destination = busDestination('busok');
    await createActive(destination);
    const listed = runtime.destinations().busok;
    const inboxQueueUrl = listed && 'inboxQueueUrl' in listed ? listed.inboxQueueUrl : undefined;
    expect(inboxQueueUrl).toBeDefined();

    const tested = await api('POST', '/v1/destinations/busok/test');
    expect(tested.statusCode, tested.raw).toBe(200);
    expect(tested.body).toMatchObject({ outcome: 'delivered', target: expect.any(String) });
    expect(proxy.requests.map((r) => r.operation).filter((o) => o.startsWith('AWSEvents.'))).toEqual([
      'AWSEvents.DescribeEventBus',
      'AWSEvents.PutEvents',
    ]);
    const sent = JSON.parse(proxy.calls('AWSEvents.PutEvents')[0]?.body ?? '{}') as {
      Entries: Record<string, unknown>[];
    };
    expect(sent.Entries).toHaveLength(1);
    expect(sent.Entries[0]).toMatchObject({
      Source: 'pushrail.acme',
      DetailType: TEST_EVENT_TYPE,
      EventBusName: destination.busArn,
      Resources: [destination.customerExternalId, expect.stringMatching(/^pushrail-test-/)],
    });

    const received = await receiveOne(inboxQueueUrl as string);
    expect(received).toMatchObject({
      id: tested.body.target,
      'detail-type': TEST_EVENT_TYPE,
      detail: { eventId: tested.body.eventId, customerExternalId: destination.customerExternalId },
    });
    expect(await scan('events')).toEqual([]);
  });

  it('a missing events:DescribeEventBus permission fails with the reason, and nothing is put', async () => {
    const destination = busDestination('busperm');
    await createActive(destination);
    proxy.inject(
      op('AWSEvents.DescribeEventBus'),
      jsonError(400, 'AccessDeniedException', 'not authorized to perform: events:DescribeEventBus'),
    );
    const tested = await api('POST', '/v1/destinations/busperm/test');
    expect(tested.body, tested.raw).toMatchObject({
      outcome: 'failed',
      errorCode: 'AccessDeniedException',
      failureClass: 'permanent',
    });
    expect(tested.body.reason).toContain('may not call events:DescribeEventBus');
    expect(proxy.calls('AWSEvents.PutEvents')).toEqual([]);
  });
});

describe('the test send route', () => {
  it('answers 404 for an unknown destination and 409 for one being deleted', async () => {
    expect((await api('POST', '/v1/destinations/nope/test')).statusCode).toBe(404);
    await createActive(s3Destination('s3del'));
    expect((await api('DELETE', '/v1/destinations/s3del')).statusCode).toBe(202);
    const refused = await api('POST', '/v1/destinations/s3del/test');
    expect(refused.statusCode, refused.raw).toBe(409);
    expect(refused.body.error.code).toBe('CONFLICT');
  });
});

/** The one EventBridge event that reached the customer's inbox queue (the bus's catch-all rule). */
async function receiveOne(queueUrl: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { Messages } = await sqs().send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const [message] = Messages ?? [];
    if (message) {
      expect(Messages).toHaveLength(1);
      await sqs().send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
      return JSON.parse(message.Body as string) as Record<string, unknown>;
    }
  }
  throw new Error('nothing reached the inbox');
}
