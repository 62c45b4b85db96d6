import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import {
  DeleteEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { DELIVERY_ENV } from '../../lambdas/core/function-env.js';
import { createDeliveryHandler as createEventBridgeSenderHandler } from '../../lambdas/destinations/eventbridge/handler.js';
import { busName } from '../../lambdas/destinations/eventbridge/local-customer.js';
import type { EventBridgeDestinationConfig } from '../../lambdas/destinations/eventbridge/schema.js';
import type { ProvisionedDestination } from '../../lambdas/destinations/index.js';
import { deliverySettings } from '../../lambdas/destinations/index.js';
import { clientConfig } from '../../local/aws-clients.js';
import { type CustomerAccess, customerAccess } from '../../local/customer-credentials.js';
import { provision } from '../../local/provision.js';
import { QueuePoller } from '../../local/queue-poller.js';
import { queueArn } from '../../local/queues.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { seedEvent } from '../support/seed-event.js';
import { scanStoredEvents } from '../support/stored-events.js';

/**
 * The EventBridge sender on moto: the real ingest handler fans events out to the destination queues,
 * a QueuePoller (the local stand-in for the event source mapping) runs the sender on them, and the
 * customer's bus delivers to the inbox queue `npm start` provisions and to a rule the customer adds.
 * Every request the handlers make goes through a FaultProxy, so the test checks what was sent
 * (moto does not check ExternalId or entry sizes).
 */

const run = randomUUID().slice(0, 8);
const CUSTOMER_ACCOUNT = '123456789012';
const BUS = `arn:aws:events:us-east-1:${CUSTOMER_ACCOUNT}:event-bus/pushrail-events-${run}`;
const MISSING_BUS = `arn:aws:events:us-east-1:${CUSTOMER_ACCOUNT}:event-bus/pushrail-gone-${run}`;
const writer = (externalId: string) => ({
  mode: 'ASSUME_ROLE',
  roleArn: `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PushrailEventBridgeWriter`,
  externalId,
});

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 'acme-bus',
      type: 'EVENTBRIDGE',
      customerExternalId: 'acct_8K2zRq',
      name: 'Customer EventBridge bus',
      busArn: BUS,
      region: 'us-east-1',
      auth: writer('acme-ext-7Pq2'),
    },
    {
      // A second tenant of the vendor whose entries go to the same customer bus.
      id: 'other-bus',
      type: 'EVENTBRIDGE',
      customerExternalId: 'acct_other',
      name: 'Other tenant on the same bus',
      busArn: BUS,
      region: 'us-east-1',
      auth: writer('other-ext-4Lm9'),
    },
    {
      id: 'gone-bus',
      type: 'EVENTBRIDGE',
      customerExternalId: 'acct_gone',
      name: 'A bus the customer deleted',
      busArn: MISSING_BUS,
      region: 'us-east-1',
      auth: writer('gone-ext-2Qw8'),
    },
  ],
});

const destinationOf = (id: string) =>
  config.destinations.find((d) => d.id === id) as EventBridgeDestinationConfig;

let proxy: FaultProxy;
let harness: IngestHarness;
let provisioned: Readonly<Record<string, ProvisionedDestination & { type: 'EVENTBRIDGE' }>>;
let customer: CustomerAccess;
let tenantRuleQueueUrl: string;
const pollers = new Map<string, QueuePoller>();
const sqs = () => new SQSClient({ endpoint: inject('awsEndpoint'), region: 'us-east-1' });
/** SQS as the customer: the inbox and rule queues are in the customer's account. */
const customerSqs = () =>
  new SQSClient(
    clientConfig({ endpoint: inject('awsEndpoint'), region: 'us-east-1', credentials: customer.credentials }),
  );

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  const awsEndpoint = inject('awsEndpoint');
  proxy = await FaultProxy.start(awsEndpoint);
  harness = await startIngestHarness({ config, awsEndpoint, handlerEndpoint: proxy.endpoint });
  // The senders' SDK clients (DeliveryRuntime) take their endpoint from the process: the proxy.
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const target = { endpoint: awsEndpoint, region: 'us-east-1' };
  // Provisioning is idempotent: run again under the harness's prefix for its answer (queue, DLQ, inbox).
  const again = await provision({ config, namePrefix: harness.namePrefix, target });
  provisioned = again.destinations as typeof provisioned;
  customer = await customerAccess(destinationOf('acme-bus'), target);
  expect(customer.accountId).toBe(CUSTOMER_ACCOUNT);

  const events = new EventBridgeClient(clientConfig({ ...target, credentials: customer.credentials }));
  // The customer deleted this bus after configuring it (provisioning created it with its inbox).
  await events.send(new DeleteEventBusCommand({ Name: busName(MISSING_BUS) }));
  // The customer's own rule: only the entries of tenant acct_8K2zRq, into a queue of its own.
  const { QueueUrl } = await customerSqs().send(
    new CreateQueueCommand({ QueueName: `tenant-acct-8k2zrq-${run}` }),
  );
  tenantRuleQueueUrl = QueueUrl as string;
  await events.send(
    new PutRuleCommand({
      Name: 'tenant-acct-8K2zRq',
      EventBusName: busName(BUS),
      EventPattern: JSON.stringify({ resources: ['acct_8K2zRq'] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: 'tenant-acct-8K2zRq',
      EventBusName: busName(BUS),
      Targets: [{ Id: 'tenant-queue', Arn: await queueArn(customerSqs(), tenantRuleQueueUrl) }],
    }),
  );

  const attemptsTable =
    harness.tables.attempts ?? (await createAttemptsTable(`${harness.namePrefix}-eb-attempts`));
  const viaProxy = (url: string) => url.replace(awsEndpoint, proxy.endpoint);
  for (const destination of config.destinations) {
    const p = provisioned[destination.id];
    if (!p) throw new Error(`destination ${destination.id} was not provisioned`);
    const handler = createEventBridgeSenderHandler({
      ...process.env,
      [DELIVERY_ENV.destination]: JSON.stringify(destination),
      [DELIVERY_ENV.vendor]: config.vendor,
      [DELIVERY_ENV.attemptsTable]: attemptsTable,
      [DELIVERY_ENV.sourceQueueUrl]: viaProxy(p.queueUrl),
      [DELIVERY_ENV.dlqUrl]: viaProxy(p.dlqUrl),
      [DELIVERY_ENV.retentionDays]: String(config.retentionDays),
    });
    pollers.set(
      destination.id,
      new QueuePoller({
        sqs: sqs(),
        queueUrl: p.queueUrl,
        queueArn: await queueArn(sqs(), p.queueUrl),
        region: 'us-east-1',
        batchSize: deliverySettings(destination).batchSize,
        windowSeconds: deliverySettings(destination).windowSeconds,
        handler,
        functionName: `${harness.namePrefix}-eventbridge-${destination.id}`,
        timeoutSeconds: deliverySettings(destination).timeoutSeconds,
      }),
    );
  }
});

afterAll(async () => {
  await proxy?.stop();
});

async function createAttemptsTable(TableName: string): Promise<string> {
  const dynamodb = new DynamoDBClient({ endpoint: inject('awsEndpoint'), region: 'us-east-1' });
  await dynamodb.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'destinationId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'destinationId', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
    }),
  );
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName });
  return TableName;
}

let requestCounter = 0;
async function post(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  requestCounter += 1;
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
    requestContext: { requestId: `eb-${requestCounter}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
  } as unknown as APIGatewayProxyEvent;
  const context = {
    awsRequestId: `eb-${requestCounter}`,
    functionName: 'pushrail-ingest',
    getRemainingTimeInMillis: () => 29_000,
  } as unknown as Context;
  const res = await harness.handler(event, context);
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

/** Runs the sender on a destination's queue until it is empty. */
async function deliver(destinationId: string): Promise<void> {
  const poller = pollers.get(destinationId) as QueuePoller;
  for (;;) {
    const result = await poller.runOnce({ maxWaitSeconds: 1 });
    if (result.received === 0) return;
  }
}

interface BusEvent {
  source: string;
  'detail-type': string;
  resources: string[];
  time: string;
  detail: Record<string, unknown>;
}

/** Reads (and deletes) what a customer queue holds, as the customer. */
async function readAll(queueUrl: string, client: SQSClient = customerSqs()): Promise<BusEvent[]> {
  const out: BusEvent[] = [];
  for (;;) {
    const res = await client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = res.Messages ?? [];
    if (messages.length === 0) return out;
    out.push(...messages.map((m) => JSON.parse(m.Body ?? '{}') as BusEvent));
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}

async function storedRecord(eventId: string): Promise<Record<string, unknown>> {
  const dynamodb = new DynamoDBClient({ endpoint: inject('awsEndpoint'), region: 'us-east-1' });
  const stored = (await scanStoredEvents(dynamodb, harness.tables.events as string)).find(
    (e) => e.eventId === eventId,
  );
  if (!stored) throw new Error(`event ${eventId} is not stored`);
  return JSON.parse(stored.record);
}

/** The ExternalIds the senders' AssumeRole requests carried (moto does not check them). */
const assumedExternalIds = () =>
  proxy.calls('STS.AssumeRole').map((r) => {
    const body = new URLSearchParams(r.body);
    expect(body.get('RoleArn')).toBe(`arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PushrailEventBridgeWriter`);
    return body.get('ExternalId');
  });

const putEventsEntries = () =>
  proxy
    .calls('AWSEvents.PutEvents')
    .map((r) => JSON.parse(r.body).Entries as { Detail: string; EventBusName: string }[]);

describe('EventBridge sender on moto', () => {
  it('delivers the seed event to the customer bus with the contract envelope', async () => {
    const res = await post(seedEvent);
    expect(res.status).toBe(202);
    expect(res.body.destinations).toEqual(['acme-bus']);
    await deliver('acme-bus');

    const eventId = deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey);
    const inbox = (await readAll(provisioned['acme-bus']?.inboxQueueUrl as string)).filter(
      (e) => e.detail.eventId === eventId,
    );
    expect(inbox).toHaveLength(1);
    const [entry] = inbox as [BusEvent];
    expect(entry.source).toBe('pushrail.acme');
    expect(entry['detail-type']).toBe('order.completed');
    expect(entry.resources).toEqual(['acct_8K2zRq', 'order_38a91f-completed']);
    expect(entry.time).toBe('2026-05-26T14:21:08Z'); // EventBridge's `time` has whole seconds
    const record = await storedRecord(eventId);
    expect(entry.detail).toEqual(record);
    // What was sent is byte-for-byte the canonical record, to the configured bus ARN.
    const sent = putEventsEntries()
      .flat()
      .find((e) => JSON.parse(e.Detail).eventId === eventId);
    expect(sent?.Detail).toBe(canonicalJson(record));
    expect(sent?.EventBusName).toBe(BUS);
    // The bus was checked first, by ARN, with the destination's credentials.
    const describe = proxy.calls('AWSEvents.DescribeEventBus');
    expect(describe.map((r) => JSON.parse(r.body).Name)).toContain(BUS);
    expect(assumedExternalIds()).toContain('acme-ext-7Pq2');
  });

  it("routes by tenant: a customer rule on resources receives that tenant's entries and not another's", async () => {
    const mine = { ...seedEvent, idempotencyKey: `mine-${randomUUID()}` };
    const theirs = {
      ...seedEvent,
      customerExternalId: 'acct_other',
      idempotencyKey: `theirs-${randomUUID()}`,
    };
    expect((await post(mine)).body.destinations).toEqual(['acme-bus']);
    expect((await post(theirs)).body.destinations).toEqual(['other-bus']);
    await deliver('acme-bus');
    await deliver('other-bus');

    const tenant = await readAll(tenantRuleQueueUrl);
    expect(tenant.map((e) => e.resources[1])).toContain(mine.idempotencyKey);
    expect(tenant.every((e) => e.resources[0] === 'acct_8K2zRq')).toBe(true);
    expect(assumedExternalIds()).toEqual(expect.arrayContaining(['acme-ext-7Pq2', 'other-ext-4Lm9']));
    expect(tenant.map((e) => e.resources[1])).not.toContain(theirs.idempotencyKey);
    // Both reached the bus: the catch-all inbox has the other tenant's entry.
    const inbox = await readAll(provisioned['acme-bus']?.inboxQueueUrl as string);
    expect(inbox.map((e) => e.resources[1])).toEqual(
      expect.arrayContaining([mine.idempotencyKey, theirs.idempotencyKey]),
    );
  });

  it('dead-letters with EventBusNotFound after one attempt when the bus does not exist, and sends no PutEvents', async () => {
    const lost = { ...seedEvent, customerExternalId: 'acct_gone', idempotencyKey: `gone-${randomUUID()}` };
    expect((await post(lost)).body.destinations).toEqual(['gone-bus']);
    const before = putEventsEntries().flat().length;
    const poller = pollers.get('gone-bus') as QueuePoller;
    expect(await poller.runOnce({ maxWaitSeconds: 5 })).toEqual({ received: 1, failed: 0, deleted: 1 });

    const gone = provisioned['gone-bus'] as ProvisionedDestination;
    const dlq = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: gone.dlqUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    expect(dlq.Messages).toHaveLength(1);
    const attrs = dlq.Messages?.[0]?.MessageAttributes ?? {};
    expect(attrs['pushrail.errorCode']?.StringValue).toBe('EventBusNotFound');
    expect(attrs['pushrail.failureClass']?.StringValue).toBe('permanent');
    expect(attrs['pushrail.attempts']?.StringValue).toBe('1');
    expect(attrs['pushrail.reason']?.StringValue).toContain(MISSING_BUS);
    expect(JSON.parse(dlq.Messages?.[0]?.Body ?? '{}').idempotencyKey).toBe(lost.idempotencyKey);

    const left = await sqs().send(
      new GetQueueAttributesCommand({
        QueueUrl: gone.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(left.Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
    expect(putEventsEntries().flat().length).toBe(before);
    expect(assumedExternalIds()).toContain('gone-ext-2Qw8');
    expect(
      putEventsEntries()
        .flat()
        .some((e) => e.EventBusName === MISSING_BUS),
    ).toBe(false);
  });

  it('sends at most 10 entries per PutEvents request, and every event arrives', async () => {
    const keys = Array.from({ length: 23 }, (_, i) => `bulk-${run}-${i}`);
    const res = await post({ events: keys.map((idempotencyKey) => ({ ...seedEvent, idempotencyKey })) });
    expect(res.status).toBe(202);
    const before = proxy.calls('AWSEvents.PutEvents').length;
    await deliver('acme-bus');
    const calls = putEventsEntries().slice(before);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.every((entries) => entries.length >= 1 && entries.length <= 10)).toBe(true);
    expect(calls.flat().length).toBe(23);
    const inbox = await readAll(provisioned['acme-bus']?.inboxQueueUrl as string);
    expect(inbox.map((e) => e.resources[1]).sort()).toEqual([...keys].sort());
  });
});
