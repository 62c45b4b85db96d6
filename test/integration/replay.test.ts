import { createHash, randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, GetItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { ReplayJournal } from '../../lambdas/adapters/replay-journal.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import { ReplayInProgressError, ReplayRequestError } from '../../lambdas/core/errors.js';
import { DLQ_ATTRIBUTES } from '../../lambdas/core/queue-message.js';
import {
  ReplayRequestSchema,
  type ReplayResult,
  replayId as replayIdOf,
} from '../../lambdas/core/replay-request.js';
import { DAY_SECONDS } from '../../lambdas/core/resources.js';
import { createDeliveryHandler as createEventBridgeSenderHandler } from '../../lambdas/destinations/eventbridge/handler.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { deliverySettings } from '../../lambdas/destinations/index.js';
import { createDeliveryHandler as createS3BatcherHandler } from '../../lambdas/destinations/s3/handler.js';
import { ensureBucket } from '../../lambdas/destinations/s3/local-customer.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import type { ReplayHandler } from '../../lambdas/replay/handler.js';
import { type ReplayDeps, runReplay } from '../../lambdas/replay/run-replay.js';
import { clientConfig, type EmulatorTarget, s3ClientConfig } from '../../local/aws-clients.js';
import { type CustomerAccess, customerAccess } from '../../local/customer-credentials.js';
import { localDeliveryEnvironment } from '../../local/delivery-pollers.js';
import { type Provisioned, provision } from '../../local/provision.js';
import { QueuePoller } from '../../local/queue-poller.js';
import { queueArn } from '../../local/queues.js';
import { replayFunction } from '../../local/replay-function.js';
import { type IngestHarness, startIngestHarness } from '../support/ingest-harness.js';
import { call, type Handler } from '../support/management.js';
import { peekQueue } from '../support/queues.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Replay on moto, through the real handlers: events go in through the ingest handler, the S3 batcher
 * and the EventBridge sender run under QueuePollers (the event source mapping stand-in) with small
 * windows, and the replay handler runs with the environment the local runtime gives it
 * (local/replay-function.ts). DESIGN.md invariants 1, 5, 7 and 8.
 */

// Ingest logs every accepted event at INFO.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const RUN = randomUUID().slice(0, 8);
const ACCOUNT = '123456789012'; // moto's default account: the customer roles' account
const REGION = 'us-east-1';
const BUS = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/pushrail-replay-${RUN}`;

const writer = (id: string) => ({
  mode: 'ASSUME_ROLE',
  roleArn: `arn:aws:iam::${ACCOUNT}:role/PushrailWriter`,
  externalId: `ext-${id}-7Pq2`,
});
const s3Destination = (id: string) => ({
  id,
  type: 'S3',
  name: id,
  customerExternalId: `acct_${id}`,
  bucket: `pushrail-replay-${id}-${RUN}`,
  keyPrefix: `${id}/`,
  region: REGION,
  flushIntervalSec: 1,
  maxEvents: 100,
  auth: writer(id),
});

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [
    s3Destination('broken'), // bucket deleted by the customer: every event dead-letters
    s3Destination('archive'), // healthy: delivered once, then replayed by window
    s3Destination('limited'), // bucket deleted too: a DLQ of 25 replayed in two limited runs
    s3Destination('contended'), // bucket deleted: a DLQ replayed by two invocations at once
    s3Destination('crashed'), // bucket deleted: a DLQ replay whose invocation dies mid-run
    s3Destination('audited'), // healthy: replayed twice, for the audit trail
    {
      id: 'bus',
      type: 'EVENTBRIDGE',
      name: 'bus',
      customerExternalId: 'acct_bus',
      busArn: BUS,
      region: REGION,
      auth: writer('bus'),
    },
  ],
});

const endpoint = () => inject('awsEndpoint');
const target = (): EmulatorTarget => ({ endpoint: endpoint(), region: REGION });
const sqs = new SQSClient({ endpoint: endpoint(), region: REGION });
const dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION });

let harness: IngestHarness;
let provisioned: Provisioned;
let replay: ReplayHandler;
let management: Handler;
let customer: CustomerAccess;
const pollers = new Map<string, QueuePoller>();

const destinationOf = (id: string): Destination =>
  config.destinations.find((d) => d.id === id) as Destination;
const s3DestinationOf = (id: string): S3DestinationConfig => destinationOf(id) as S3DestinationConfig;
const queueUrlOf = (id: string) => provisioned.destinations[id]?.queueUrl as string;
const dlqUrlOf = (id: string) => provisioned.destinations[id]?.dlqUrl as string;
const customerS3 = () => new S3Client(s3ClientConfig({ ...target(), credentials: customer.credentials }));
const customerSqs = () => new SQSClient(clientConfig({ ...target(), credentials: customer.credentials }));

beforeAll(async () => {
  harness = await startIngestHarness({ config, awsEndpoint: endpoint(), handlerEndpoint: endpoint() });
  // The consumers' and the replay function's SDK clients take their endpoint from the process.
  process.env.AWS_ENDPOINT_URL = endpoint();
  // Provisioning is idempotent: run again under the harness's prefix for the whole answer.
  provisioned = await provision({ config, namePrefix: harness.namePrefix, target: target() });
  // The replay function finds destinations in the table, where the management API keeps them.
  const store = new DestinationStore(dynamodb, provisioned.tables.destinations as string);
  const at = new Date().toISOString();
  for (const destination of config.destinations) {
    await store.create({
      destination,
      version: 1,
      desired: 'ACTIVE',
      status: 'ACTIVE',
      createdAt: at,
      updatedAt: at,
      updatedBy: 'test',
      queueUrl: queueUrlOf(destination.id),
      dlqUrl: dlqUrlOf(destination.id),
    });
  }
  management = createManagementHandler({
    DESTINATIONS_TABLE: provisioned.tables.destinations,
    AUDIT_TABLE: provisioned.tables.audit,
    NAME_PREFIX: harness.namePrefix,
    VENDOR_ACCOUNT_ID: ACCOUNT,
    AWS_ENDPOINT_URL: endpoint(),
    AWS_REGION: REGION,
  });
  replay = replayFunction({ config, namePrefix: harness.namePrefix, provisioned }).handler;
  customer = await customerAccess(destinationOf('broken'), target());
  expect(customer.accountId).toBe(ACCOUNT);

  const context = { config, namePrefix: harness.namePrefix, target: target(), provisioned };
  for (const destination of config.destinations) {
    const env = { ...process.env, ...localDeliveryEnvironment(context, destination) };
    const settings = deliverySettings(destination);
    pollers.set(
      destination.id,
      new QueuePoller({
        sqs,
        queueUrl: queueUrlOf(destination.id),
        queueArn: await queueArn(sqs, queueUrlOf(destination.id)),
        region: REGION,
        batchSize: settings.batchSize,
        windowSeconds: 1,
        timeoutSeconds: settings.timeoutSeconds,
        handler:
          destination.type === 'S3' ? createS3BatcherHandler(env) : createEventBridgeSenderHandler(env),
        functionName: `${harness.namePrefix}-${destination.id}`,
      }),
    );
  }
  // The customer deleted these buckets after configuring the destinations.
  for (const id of ['broken', 'limited', 'contended', 'crashed']) {
    await customerS3().send(new DeleteBucketCommand({ Bucket: s3DestinationOf(id).bucket }));
  }
});

afterAll(() => {
  sqs.destroy();
  dynamodb.destroy();
});

// ---------------------------------------------------------------------------------------------------

let requests = 0;

/** Events of one destination's customer, with keys unique to this run. */
function eventsFor(
  id: string,
  count: number,
  occurredAt: (i: number) => string = () => seedEvent.occurredAt,
) {
  return Array.from({ length: count }, (_, i) => ({
    ...seedEvent,
    customerExternalId: destinationOf(id).customerExternalId,
    idempotencyKey: `${id}-${i}-${RUN}`,
    occurredAt: occurredAt(i),
  }));
}

/** POSTs a batch through the real ingest handler; answers the event ids, in request order. */
async function post(events: readonly unknown[]): Promise<string[]> {
  requests += 1;
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
      requestContext: { requestId: `replay-${requests}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
    } as unknown as APIGatewayProxyEvent,
    context(29_000),
  );
  expect(res.statusCode, res.body).toBe(202);
  return (JSON.parse(res.body) as { results: { eventId: string }[] }).results.map((r) => r.eventId);
}

function context(remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  return {
    awsRequestId: randomUUID(),
    functionName: `${harness.namePrefix}-replay`,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as unknown as Context;
}

/** Invokes the replay function as on-call does (15 minutes to run). */
const invokeReplay = (request: Record<string, unknown>): Promise<ReplayResult> =>
  replay(request, context(15 * 60 * 1000));

/** Runs a destination's consumer until its queue is empty; answers how many messages it handled. */
async function drain(id: string): Promise<number> {
  const poller = pollers.get(id) as QueuePoller;
  let received = 0;
  for (;;) {
    const result = await poller.runOnce({ maxWaitSeconds: 1 });
    if (result.received === 0) return received;
    received += result.received;
  }
}

/** Messages in a queue: visible, and received but not yet deleted. */
async function depth(queueUrl: string): Promise<{ visible: number; hidden: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    hidden: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

const eventIdOf = (m: Message) => (JSON.parse(m.Body ?? '{}') as { eventId: string }).eventId;

interface StoredObject {
  readonly sha256: string;
  readonly body: string;
}

/** Every object of a destination's bucket, read as the customer: key → SHA-256 and bytes. */
async function objects(id: string): Promise<Map<string, StoredObject>> {
  const s3 = customerS3();
  const { bucket, keyPrefix } = s3DestinationOf(id);
  const out = new Map<string, StoredObject>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, ContinuationToken: token }),
    );
    for (const { Key } of page.Contents ?? []) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
      const body = (await res.Body?.transformToString('utf8')) ?? '';
      out.set(Key as string, { sha256: createHash('sha256').update(body).digest('hex'), body });
    }
    token = page.NextContinuationToken;
  } while (token);
  s3.destroy();
  return out;
}

/** The eventId of every NDJSON row of every object, duplicates kept. */
const rows = (all: Map<string, StoredObject>): string[] =>
  [...all.values()].flatMap((o) =>
    o.body
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { eventId: string }).eventId),
  );

/** The attempts table's items of one destination (delivery attempts and the replay journal). */
async function auditItems(destinationId: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamodb.send(
      new QueryCommand({
        TableName: harness.tables.attempts,
        KeyConditionExpression: 'destinationId = :d',
        ExpressionAttributeValues: { ':d': { S: destinationId } },
        ExclusiveStartKey: start as never,
      }),
    );
    out.push(...(page.Items ?? []).map((i) => unmarshall(i)));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

/** Reads (and deletes) what the customer's bus copied into its inbox queue. */
async function readInbox(): Promise<{ detail: { eventId: string } }[]> {
  const inbox = provisioned.destinations.bus;
  if (inbox?.type !== 'EVENTBRIDGE') throw new Error('no bus destination');
  const client = customerSqs();
  const out: { detail: { eventId: string } }[] = [];
  for (;;) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: inbox.inboxQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    if (Messages.length === 0) break;
    out.push(...Messages.map((m) => JSON.parse(m.Body ?? '{}') as { detail: { eventId: string } }));
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: inbox.inboxQueueUrl,
        Entries: Messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  client.destroy();
  return out;
}

/** The `replay#<replayId>` item of a request: the run's checkpoint and lease. */
async function runItem(request: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const parsed = ReplayRequestSchema.parse(request);
  const { Item } = await dynamodb.send(
    new GetItemCommand({
      TableName: harness.tables.attempts,
      Key: marshall({ destinationId: parsed.destinationId, sk: `replay#${replayIdOf(parsed)}` }),
      ConsistentRead: true,
    }),
  );
  return Item ? unmarshall(Item) : undefined;
}

/**
 * The replay function's dependencies as the handler builds them (lambdas/replay/handler.ts), for a DLQ
 * replay, with the clients a test slows down or breaks to stage a concurrent or a crashed invocation.
 */
function dlqReplayDeps(
  destinationId: string,
  invocationId: string,
  clients: { readonly sqs?: SQSClient; readonly journalDynamodb?: DynamoDBClient } = {},
): ReplayDeps {
  const retentionSeconds = config.retentionDays * DAY_SECONDS;
  const attemptsTable = harness.tables.attempts as string;
  const deadline = Date.now() + 15 * 60 * 1000;
  return {
    sqs: clients.sqs ?? sqs,
    attempts: new AttemptLog(dynamodb, attemptsTable, retentionSeconds),
    journal: new ReplayJournal(clients.journalDynamodb ?? dynamodb, attemptsTable, retentionSeconds),
    destinationType: () => 'S3',
    queueUrl: queueUrlOf(destinationId),
    dlqUrl: dlqUrlOf(destinationId),
    readEvents: () => Promise.reject(new Error('a DLQ replay reads no stored events')),
    scanWindow: () => Promise.reject(new Error('a DLQ replay scans no window')),
    remainingMs: () => deadline - Date.now(),
    invocationId,
    logger: new Logger({ serviceName: 'pushrail-replay' }),
  };
}

/** A promise and the function that settles it. */
function signal(): { readonly promise: Promise<void>; readonly fire: () => void } {
  let fire = () => {};
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

/** Runs before each call of a client: how a test pauses an invocation mid-run, or makes it die there. */
type Hook = (commandName: string, input: Record<string, unknown>) => Promise<void>;
const HOOK = { step: 'initialize', name: 'testHook' } as const;

function hookedSqs(hook: Hook): SQSClient {
  const client = new SQSClient({ endpoint: endpoint(), region: REGION });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await hook(context.commandName ?? '', args.input as Record<string, unknown>);
      return next(args);
    },
    HOOK,
  );
  return client;
}

function hookedDynamodb(hook: Hook): DynamoDBClient {
  const client = new DynamoDBClient({ endpoint: endpoint(), region: REGION });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await hook(context.commandName ?? '', args.input as Record<string, unknown>);
      return next(args);
    },
    HOOK,
  );
  return client;
}

// ---------------------------------------------------------------------------------------------------

describe('replay of the DLQ of a permanently failed S3 destination (bucket missing)', () => {
  let posted: string[];
  let replayId: string;

  beforeAll(async () => {
    posted = await post(eventsFor('broken', 12));
    await drain('broken');
  });

  it('finds every event in the DLQ after the first failure, with the reason NoSuchBucket', async () => {
    const dead = await peekQueue(sqs, dlqUrlOf('broken'));
    expect(dead.map(eventIdOf).sort()).toEqual([...posted].sort());
    for (const m of dead) {
      expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue).toBe('NoSuchBucket');
      expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.failureClass]?.StringValue).toBe('permanent');
    }
  });

  it('counts the DLQ on a dry run and moves nothing: same depth, every message visible again at once', async () => {
    const result = await invokeReplay({ destinationId: 'broken', source: 'dlq', dryRun: true });
    expect(result).toMatchObject({
      dryRun: true,
      complete: true,
      matched: 12,
      replayed: 0,
      skipped: 0,
      failed: 0,
    });
    expect(await depth(dlqUrlOf('broken'))).toEqual({ visible: 12, hidden: 0 });
    expect((await peekQueue(sqs, dlqUrlOf('broken'))).map(eventIdOf).sort()).toEqual([...posted].sort());
    expect(await depth(queueUrlOf('broken'))).toEqual({ visible: 0, hidden: 0 });
  });

  it('refuses an unknown destination, naming it and listing the known ones, and moves nothing', async () => {
    const error = await invokeReplay({ destinationId: 'nope', source: 'dlq' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayRequestError);
    expect((error as Error).message).toContain('unknown destination "nope"');
    expect((error as Error).message).toContain('archive, audited, broken, bus, contended, crashed, limited');
    expect((error as ReplayRequestError).details.map((d) => d.field)).toEqual(['destinationId']);
    expect(await depth(dlqUrlOf('broken'))).toEqual({ visible: 12, hidden: 0 });
  });

  it.each([
    ['a missing source', { destinationId: 'broken' }, 'source'],
    [
      'a malformed event id',
      { destinationId: 'broken', source: 'dlq', eventIds: ['order_38a91f'] },
      'eventIds[0]',
    ],
    [
      'a window that ends before it starts',
      { destinationId: 'broken', source: 'dlq', from: '2026-05-26T15:00:00Z', to: '2026-05-26T14:00:00Z' },
      'to',
    ],
    ['an unknown field', { destinationId: 'broken', source: 'dlq', everything: true }, 'everything'],
  ])('refuses %s, naming the field, and moves nothing', async (_what, request, field) => {
    const error = await invokeReplay(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayRequestError);
    expect((error as ReplayRequestError).details.map((d) => d.field)).toContain(field);
    expect((error as Error).message).toContain(`${field}:`);
    expect(await depth(dlqUrlOf('broken'))).toEqual({ visible: 12, hidden: 0 });
    expect(await depth(queueUrlOf('broken'))).toEqual({ visible: 0, hidden: 0 });
  });

  it('delivers every event into exactly one object once the bucket exists, leaving the DLQ and the queue empty', async () => {
    await ensureBucket(s3DestinationOf('broken'), customer, target());
    const result = await invokeReplay({
      destinationId: 'broken',
      source: 'dlq',
      requestedBy: 'oncall@acme.test',
    });
    expect(result).toMatchObject({
      dryRun: false,
      complete: true,
      matched: 12,
      replayed: 12,
      skipped: 0,
      failed: 0,
    });
    replayId = result.replayId;
    expect(await depth(dlqUrlOf('broken'))).toEqual({ visible: 0, hidden: 0 });

    expect(await drain('broken')).toBe(12);
    const delivered = rows(await objects('broken'));
    expect(delivered).toHaveLength(12); // no event twice
    expect([...delivered].sort()).toEqual([...posted].sort());
    expect(await depth(dlqUrlOf('broken'))).toEqual({ visible: 0, hidden: 0 });
    expect(await depth(queueUrlOf('broken'))).toEqual({ visible: 0, hidden: 0 });
  });

  it('journals the replay (who, what, counts) and records every replayed event in the audit trail', async () => {
    const items = await auditItems('broken');
    const journal = items.find((i) => i.sk === `replay#${replayId}`);
    expect(journal).toMatchObject({
      kind: 'replay',
      status: 'complete',
      requestedBy: 'oncall@acme.test',
      counts: { matched: 12, replayed: 12, skipped: 0, failed: 0 },
    });
    expect(JSON.parse(journal?.request as string)).toEqual({
      destinationId: 'broken',
      source: 'dlq',
      requestedBy: 'oncall@acme.test',
    });
    // The finished run is kept on its own, so a later replay of the whole DLQ does not overwrite it.
    const run = items.find((i) => i.kind === 'replay-run');
    expect(run).toMatchObject({
      sk: `replay#${replayId}#${journal?.startedAt}`,
      requestedBy: 'oncall@acme.test',
    });
    // The dry run before it moved nothing and journaled nothing.
    expect(items.filter((i) => i.kind === 'replay' || i.kind === 'replay-run')).toHaveLength(2);

    const replayed = items.filter((i) => i.outcome === 'replayed');
    expect(replayed.length).toBeGreaterThan(0);
    for (const r of replayed) expect(r.target).toBe(`dlq:${replayId} by oncall@acme.test`);
    expect(replayed.flatMap((r) => r.eventIds as string[]).sort()).toEqual([...posted].sort());
    // And the failures that put them in the DLQ are there too, with their reason.
    const dead = items.filter((i) => i.outcome === 'dead-lettered');
    expect(dead.flatMap((r) => r.eventIds as string[]).sort()).toEqual([...posted].sort());
    expect(new Set(dead.map((d) => d.errorCode))).toEqual(new Set(['NoSuchBucket']));
  });
});

describe('window replay of S3 events already delivered', () => {
  let posted: string[];
  let from: string;
  let to: string;

  beforeAll(async () => {
    from = new Date(Date.now() - 1).toISOString();
    // Three hours of occurredAt: three partitions, three objects.
    posted = await post(
      eventsFor(
        'archive',
        10,
        (i) => `2026-05-26T${String(12 + (i % 3)).padStart(2, '0')}:0${i % 10}:00.000Z`,
      ),
    );
    to = new Date(Date.now() + 1).toISOString();
    expect(await drain('archive')).toBe(10);
  });

  it('rewrites the same objects byte for byte, twice, with no new row', async () => {
    const before = await objects('archive');
    expect(before.size).toBe(3);
    expect(rows(before).sort()).toEqual([...posted].sort());
    const delivered = async () =>
      (await auditItems('archive')).filter((i) => i.outcome === 'delivered').length;
    let writes = await delivered();

    for (let round = 1; round <= 2; round += 1) {
      const result = await invokeReplay({ destinationId: 'archive', source: 'events', from, to });
      expect(result, `round ${round}`).toMatchObject({
        complete: true,
        matched: 10,
        replayed: 10,
        failed: 0,
      });
      // Through the same path as the first delivery: the batcher consumed them and re-put each part.
      expect(await drain('archive')).toBe(10);
      const after = await delivered();
      expect(after - writes, `round ${round}: parts written`).toBe(before.size);
      writes = after;
      expect(await objects('archive'), `round ${round}`).toEqual(before);
    }
    expect(await depth(dlqUrlOf('archive'))).toEqual({ visible: 0, hidden: 0 });
  });

  it('re-sends nothing for a window with no event of the destination', async () => {
    const result = await invokeReplay({
      destinationId: 'archive',
      source: 'events',
      from: '2020-01-01T00:00:00Z',
      to: '2020-01-02T00:00:00Z',
    });
    expect(result).toMatchObject({ complete: true, matched: 0, replayed: 0 });
    expect(await depth(queueUrlOf('archive'))).toEqual({ visible: 0, hidden: 0 });
  });
});

describe('replay of single event ids to EventBridge', () => {
  let posted: string[];

  beforeAll(async () => {
    posted = await post(eventsFor('bus', 6));
    expect(await drain('bus')).toBe(6);
    const first = await readInbox();
    expect(first.map((e) => e.detail.eventId).sort()).toEqual([...posted].sort());
  });

  it('re-sends exactly the entries of those ids, and skips an id that was not routed to the bus', async () => {
    const chosen = [posted[1], posted[4]] as string[];
    const elsewhere = (
      await post([{ ...seedEvent, customerExternalId: 'acct_archive', idempotencyKey: `elsewhere-${RUN}` }])
    )[0] as string;
    const result = await invokeReplay({
      destinationId: 'bus',
      source: 'events',
      eventIds: [...chosen, elsewhere],
    });
    expect(result).toMatchObject({ complete: true, matched: 2, replayed: 2, skipped: 1, failed: 0 });

    expect(await drain('bus')).toBe(2);
    const again = await readInbox();
    expect(again.map((e) => e.detail.eventId).sort()).toEqual([...chosen].sort());
    await drain('archive');
  });
});

describe('a limited DLQ replay', () => {
  let posted: string[];

  beforeAll(async () => {
    posted = await post(eventsFor('limited', 25));
    expect(await drain('limited')).toBe(25);
    expect(await depth(dlqUrlOf('limited'))).toEqual({ visible: 25, hidden: 0 });
  });

  it('moves 10 of 25 with limit 10 (complete: false), and the other 15 when invoked again, each event once', async () => {
    const first = await invokeReplay({ destinationId: 'limited', source: 'dlq', limit: 10 });
    expect(first).toMatchObject({ complete: false, matched: 10, replayed: 10, skipped: 0, failed: 0 });
    expect(await depth(dlqUrlOf('limited'))).toEqual({ visible: 15, hidden: 0 });
    expect(await depth(queueUrlOf('limited'))).toEqual({ visible: 10, hidden: 0 });

    const second = await invokeReplay({ destinationId: 'limited', source: 'dlq', limit: 100 });
    expect(second).toMatchObject({ complete: true, matched: 15, replayed: 15, skipped: 0, failed: 0 });
    expect(second.replayId).toBe(first.replayId);
    // It says it continued the first run, whose start stays the DLQ cut-off.
    expect(first).toMatchObject({ resumed: false, newerThanRun: 0 });
    expect(second).toMatchObject({ resumed: true, startedAt: first.startedAt, newerThanRun: 0 });
    expect(await depth(dlqUrlOf('limited'))).toEqual({ visible: 0, hidden: 0 });
    const queued = (await peekQueue(sqs, queueUrlOf('limited'))).map(eventIdOf);
    expect(queued).toHaveLength(25);
    expect([...queued].sort()).toEqual([...posted].sort());

    // One journaled run over both invocations.
    const journal = (await auditItems('limited')).find((i) => i.sk === `replay#${first.replayId}`);
    expect(journal).toMatchObject({
      status: 'complete',
      counts: { matched: 25, replayed: 25, skipped: 0, failed: 0 },
    });
    // One run over two invocations: one started and one finished entry, with the run's counts.
    const audit = await call(management, 'GET', '/v1/audit?destinationId=limited');
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual([
      'replay.finished',
      'replay.started',
    ]);
    expect(audit.body.entries[0].details).toMatchObject({
      replayId: first.replayId,
      selection: { source: 'dlq' },
      counts: { matched: 25, replayed: 25, skipped: 0, failed: 0 },
    });
  });
});

describe('the audit trail of replays', () => {
  const ONCALL = `arn:aws:iam::${ACCOUNT}:user/oncall`;
  let posted: string[];

  beforeAll(async () => {
    posted = await post(eventsFor('audited', 3));
    expect(await drain('audited')).toBe(3);
  });

  it('writes replay.started and replay.finished for every replay, with the selection and counts; a dry run writes none', async () => {
    const request = { destinationId: 'audited', source: 'events', eventIds: posted, requestedBy: ONCALL };
    const first = await invokeReplay(request);
    expect(first).toMatchObject({ complete: true, matched: 3, replayed: 3 });
    expect(await drain('audited')).toBe(3);
    await invokeReplay({ ...request, dryRun: true });
    const second = await invokeReplay(request);
    expect(second).toMatchObject({ complete: true, matched: 3, replayed: 3, resumed: false });
    expect(await drain('audited')).toBe(3);

    const audit = await call(management, 'GET', '/v1/audit?destinationId=audited');
    expect(audit.statusCode, audit.raw).toBe(200);
    const entries = audit.body.entries as Record<string, unknown>[];
    expect(entries.map((e) => e.action)).toEqual([
      'replay.finished',
      'replay.started',
      'replay.finished',
      'replay.started',
    ]);
    const selection = { source: 'events', eventIds: 3 };
    for (const entry of entries) {
      expect(entry).toMatchObject({
        who: ONCALL,
        destinationId: 'audited',
        customerExternalId: 'acct_audited',
        details: { replayId: first.replayId, selection, whoSelfReported: true },
      });
    }
    expect(entries[0]?.details).toMatchObject({
      startedAt: second.startedAt,
      counts: { matched: 3, replayed: 3, skipped: 0, failed: 0 },
    });
    expect(entries[3]?.details).toMatchObject({ startedAt: first.startedAt });
    expect(entries[3]?.details).not.toHaveProperty('counts');

    const finished = await call(management, 'GET', '/v1/audit?action=replay.finished&destinationId=audited');
    expect(finished.body.entries).toHaveLength(2);
    expect(finished.body.entries.every((e: { action: string }) => e.action === 'replay.finished')).toBe(true);
    const started = await call(
      management,
      'GET',
      '/v1/audit?action=replay.started&customerExternalId=acct_audited',
    );
    expect(started.body.entries.map((e: { details: { startedAt: string } }) => e.details.startedAt)).toEqual([
      second.startedAt,
      first.startedAt,
    ]);
  });
});

describe('two invocations of the same DLQ replay at once', () => {
  const request = { destinationId: 'contended', source: 'dlq', requestedBy: 'alice@acme.test' };
  let posted: string[];

  beforeAll(async () => {
    posted = await post(eventsFor('contended', 20));
    expect(await drain('contended')).toBe(20);
    expect(await depth(dlqUrlOf('contended'))).toEqual({ visible: 20, hidden: 0 });
  });

  it('refuses the second while the first runs, before it moves anything, and journals exactly what the first moved', async () => {
    // The first invocation pauses before its first send: it has claimed the run and holds 10 dead letters.
    const paused = signal();
    const resume = signal();
    const slowSqs = hookedSqs(async (command) => {
      if (command !== 'SendMessageBatchCommand') return;
      paused.fire();
      await resume.promise;
    });
    const first = runReplay(
      ReplayRequestSchema.parse(request),
      dlqReplayDeps('contended', 'first', { sqs: slowSqs }),
    );
    await paused.promise;
    const claimed = await runItem(request);
    expect(claimed).toMatchObject({ status: 'running', leaseOwner: 'first', requestedBy: 'alice@acme.test' });

    // Bob retries the same selection meanwhile, through the deployed handler.
    const error = await invokeReplay({ ...request, requestedBy: 'bob@acme.test' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayInProgressError);
    const message = (error as Error).message;
    expect(message).toContain(replayIdOf(ReplayRequestSchema.parse(request)));
    expect(message).toContain(`requested by alice@acme.test at ${claimed?.updatedAt}`);
    expect(message).toContain(`retry after ${new Date(claimed?.leaseUntil as number).toISOString()}`);
    // Nothing moved, nothing journaled by Bob: every dead letter is still in the DLQ, the queue is empty,
    // and the run is still the first invocation's.
    const dlq = await depth(dlqUrlOf('contended'));
    expect(dlq.visible + dlq.hidden).toBe(20);
    expect(await depth(queueUrlOf('contended'))).toEqual({ visible: 0, hidden: 0 });
    expect(await runItem(request)).toEqual(claimed);

    resume.fire();
    const result = await first;
    expect(result).toMatchObject({
      complete: true,
      resumed: false,
      matched: 20,
      replayed: 20,
      skipped: 0,
      failed: 0,
    });
    slowSqs.destroy();

    // The journal's counts are what was moved: all 20, each once, and the lease is released.
    const moved = (await peekQueue(sqs, queueUrlOf('contended'))).map(eventIdOf);
    expect([...moved].sort()).toEqual([...posted].sort());
    expect(await depth(dlqUrlOf('contended'))).toEqual({ visible: 0, hidden: 0 });
    const journal = await runItem(request);
    expect(journal).toMatchObject({
      status: 'complete',
      requestedBy: 'alice@acme.test',
      counts: { matched: moved.length, replayed: moved.length, skipped: 0, failed: 0 },
    });
    expect(journal).not.toHaveProperty('leaseOwner');
  });

  it('lets exactly one through when both read the checkpoint before either claims it', async () => {
    // The 20 fail again (the bucket is still missing) and are back in the DLQ.
    expect(await drain('contended')).toBe(20);
    const sk = `replay#${replayIdOf(ReplayRequestSchema.parse(request))}`;
    let reads = 0;
    const bothRead = signal();
    const racingDynamodb = hookedDynamodb(async (command, input) => {
      const item = unmarshall((input.Key ?? input.Item ?? {}) as never);
      if (item.sk !== sk) return;
      if (command === 'GetItemCommand' && ++reads === 2) bothRead.fire();
      if (command === 'PutItemCommand' && item.leaseOwner) await bothRead.promise;
    });
    const parsed = ReplayRequestSchema.parse(request);
    const [a, b] = await Promise.allSettled([
      runReplay(parsed, dlqReplayDeps('contended', 'racer-a', { journalDynamodb: racingDynamodb })),
      runReplay(parsed, dlqReplayDeps('contended', 'racer-b', { journalDynamodb: racingDynamodb })),
    ]);
    racingDynamodb.destroy();
    const settled = [a, b];
    const won = settled.filter((r) => r.status === 'fulfilled');
    const refused = settled.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(ReplayInProgressError);
    expect((won[0] as PromiseFulfilledResult<ReplayResult>).value).toMatchObject({
      matched: 20,
      replayed: 20,
    });
    expect(await depth(dlqUrlOf('contended'))).toEqual({ visible: 0, hidden: 0 });
    expect(await runItem(request)).toMatchObject({
      status: 'complete',
      counts: { matched: 20, replayed: 20, skipped: 0, failed: 0 },
    });
  });
});

describe('a DLQ replay whose invocation crashes', () => {
  const request = { destinationId: 'crashed', source: 'dlq', requestedBy: 'carol@acme.test' };
  let posted: string[];

  beforeAll(async () => {
    posted = await post(eventsFor('crashed', 15));
    expect(await drain('crashed')).toBe(15);
  });

  it('holds the run until its lease lapses; the next invocation then takes it over and continues it', async () => {
    // The invocation dies after moving its first batch of 10: its next receive fails, and it never
    // writes to the journal again (not even to release its lease).
    let receives = 0;
    const dyingSqs = hookedSqs(async (command) => {
      if (command === 'ReceiveMessageCommand' && ++receives === 2) throw new Error('Runtime exited');
    });
    let claims = 0;
    const dyingDynamodb = hookedDynamodb(async (command) => {
      if (command === 'PutItemCommand' && ++claims > 1) throw new Error('Runtime exited');
    });
    await expect(
      runReplay(
        ReplayRequestSchema.parse(request),
        dlqReplayDeps('crashed', 'crashed-invocation', { sqs: dyingSqs, journalDynamodb: dyingDynamodb }),
      ),
    ).rejects.toThrow('Runtime exited');
    dyingSqs.destroy();
    dyingDynamodb.destroy();
    const left = await runItem(request);
    expect(left).toMatchObject({ status: 'running', leaseOwner: 'crashed-invocation' });
    expect(await depth(dlqUrlOf('crashed'))).toEqual({ visible: 5, hidden: 0 });
    expect(await depth(queueUrlOf('crashed'))).toEqual({ visible: 10, hidden: 0 });

    // While the lease lasts, the run is refused, and nothing moves.
    await expect(invokeReplay(request)).rejects.toBeInstanceOf(ReplayInProgressError);
    expect(await depth(dlqUrlOf('crashed'))).toEqual({ visible: 5, hidden: 0 });

    // The lease lapses (as 16 minutes would make it).
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: harness.tables.attempts,
        Key: marshall({ destinationId: 'crashed', sk: left?.sk }),
        UpdateExpression: 'SET leaseUntil = :past',
        ExpressionAttributeValues: marshall({ ':past': Date.now() - 1 }),
      }),
    );
    const result = await invokeReplay(request);
    expect(result).toMatchObject({
      complete: true,
      resumed: true,
      startedAt: left?.startedAt,
      matched: 5,
      replayed: 5,
      newerThanRun: 0,
    });
    expect(await depth(dlqUrlOf('crashed'))).toEqual({ visible: 0, hidden: 0 });
    const queued = (await peekQueue(sqs, queueUrlOf('crashed'))).map(eventIdOf);
    expect([...queued].sort()).toEqual([...posted].sort());
    // The crashed invocation's 10 died with it: the journal has what was checkpointed.
    const journal = await runItem(request);
    expect(journal).toMatchObject({
      status: 'complete',
      counts: { matched: 5, replayed: 5, skipped: 0, failed: 0 },
    });
    expect(journal).not.toHaveProperty('leaseOwner');
  });
});
