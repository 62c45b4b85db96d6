import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type Message, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { getRecords } from '../../lambdas/adapters/event-store.js';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import type { CanonicalEvent } from '../../lambdas/core/event.js';
import { DLQ_ATTRIBUTES } from '../../lambdas/core/queue-message.js';
import { createDeliveryHandler as createEventBridgeSenderHandler } from '../../lambdas/destinations/eventbridge/handler.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { deliverySettings } from '../../lambdas/destinations/index.js';
import { createDeliveryHandler as createS3BatcherHandler } from '../../lambdas/destinations/s3/handler.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { createDeliveryHandler as createWebhookSenderHandler } from '../../lambdas/destinations/webhook/handler.js';
import type { ReplayHandler } from '../../lambdas/replay/handler.js';
import { clientConfig, s3ClientConfig } from '../../local/aws-clients.js';
import { customerAccess } from '../../local/customer-credentials.js';
import { localMappingsEnvironment } from '../../local/local-mappings.js';
import { replayFunction } from '../../local/replay-function.js';
import { apiDestinations, sqsAnsweringVia } from '../support/api-destinations.js';
import { ChaosProxy } from '../support/fault-suite/chaos-proxy.js';
import { FaultPlan } from '../support/fault-suite/faults.js';
import { type BucketView, drainInbox, eventIdOf, readBucket } from '../support/fault-suite/observe.js';
import { queueCounts, SuitePipeline } from '../support/fault-suite/pipeline.js';
import { startFaultyReceiver } from '../support/fault-suite/webhook-receiver.js';
import { makeEvents, planPosts, seededRandom } from '../support/fault-suite/workload.js';
import { startIngestHarness } from '../support/ingest-harness.js';
import { call } from '../support/management.js';
import { peekQueue } from '../support/queues.js';

/**
 * The fault-injection suite (issue 5, item 3; DESIGN.md invariants 1, 5, 6, 7, 8).
 *
 * The four destinations are created as a vendor's backend creates them (issue 11): POSTed to the real
 * management handler, converged by the real provisioner (queues, DLQs, then the mapping: a MappingPort
 * that hands the suite each queue, its pollers being the consumers), routed by ingest from the
 * destinations table, and read by the consumers from the table (one consumer per kind, as deployed).
 * Their customer side (buckets, buses with inboxes, roles) is the local runtime's.
 *
 * FAULT_SUITE_EVENTS events (default 600, about 3 minutes; `npm run test:faults` runs 10,000) over two
 * customers, each with an S3 and an EventBridge destination (c2's bus only takes `invoice.*`), are
 * POSTed through the real ingest handler, in waves of about WAVE_EVENTS: batches of up to 500,
 * single-event bodies, and about one request in twelve sent again (a producer retry: same eventIds,
 * `duplicate: true`, no second fan-out). After each wave the real S3 batcher and EventBridge sender
 * run under QueuePollers (the event source mapping stand-in, with the deployed batch settings), the
 * four consumers concurrently, until every queue is empty, with every AWS call they make going
 * through a ChaosProxy in front of moto (test/support/fault-suite/) that injects:
 *
 * | fault                                    | how                                                       | step boundary / path exercised                      |
 * |------------------------------------------|-----------------------------------------------------------|-----------------------------------------------------|
 * | S3 503 SlowDown / 500 InternalError      | ~20% of part PutObjects; a third of those keys fail 3x    | the PUT after sealing fails: SDK retry, or the      |
 * |                                          | in a row (the SDK's 3 attempts used up)                   | batcher reports it transient → queue backoff →      |
 * |                                          |                                                           | re-PUT of the sealed part, byte for byte            |
 * | EventBridge whole-call throttling        | ~10% of PutEvents answered ThrottlingException (a third   | PutEvents fails: SDK retry, or the rest of the      |
 * |                                          | of them for 3 attempts in a row)                          | batch backs off through the queue                   |
 * | EventBridge partial FailedEntryCount     | ~15% of PutEvents: a random subset is marked Throttling-  | only the failed entries are retried (checked on the |
 * |                                          | Exception / InternalFailure and NOT forwarded (not        | wire: the retry carries none of the accepted ones)  |
 * |                                          | delivered); the rest reaches moto, its EventIds merged in |                                                     |
 * | crash mid-seal (S3)                      | the function dies at its n-th seal claim (PutItem)        | part left `claiming`, some members claimed          |
 * | crash after sealing, before the PUT (S3) | dies at its first part PutObject (it never reaches S3)    | sealed part not written; the redelivery writes it   |
 * | crash after the PUT (S3)                 | dies right after its first part PutObject is answered     | object written, nothing deleted; the redelivery     |
 * |                                          |                                                           | re-PUTs identical bytes to the same key (412)       |
 * | crash before PutEvents (EventBridge)     | dies at its first PutEvents (it never reaches the bus)    | nothing sent; the redelivery sends                  |
 * | crash after PutEvents (EventBridge)      | dies right after its first PutEvents is answered          | entries on the bus, nothing deleted; the            |
 * |                                          |                                                           | redelivery re-sends them (at least once)            |
 * | crash before the queue delete (both)     | the handler runs to the end, the poller skips the delete  | all work done; the whole batch comes back           |
 * |                                          | (`runOnce({ deleteAfter: false })`)                       |                                                     |
 * | duplicate queue deliveries               | copies of ~4% of a wave's messages (a third of those      | the same event twice in one batch, in two batches,  |
 * |                                          | twice) before its consumers start, ~1% more at the end    | and again after it was delivered                    |
 * | webhook 5xx / timeouts (c1-wh)           | a local receiver answers ~15% of requests 503, ~5% 500,   | HTTP5xx / HTTP503 / WebhookTimeout: transient, the  |
 * |                                          | and leaves ~5% unanswered past timeoutSec (1 s)           | batch backs off and is re-sent with its webhook-id  |
 * | a permanently broken destination         | c2-s3's bucket is deleted after provisioning; it is       | NoSuchBucket → DLQ with the reason; the customer    |
 * |                                          | created after the first wave                              | creates the bucket, on-call replays the DLQ (replay |
 * |                                          |                                                           | handler: a dry run, then the move, `limit` at a     |
 * |                                          |                                                           | time, each slice delivered) → delivered             |
 *
 * A crash is the function dying: from the trigger until the invocation ends, every request of that
 * destination's function is answered with a non-retryable error by the proxy and never reaches moto,
 * and the wrapper throws so the poller deletes nothing. Every crash point happens at least once on
 * every consumer it applies to (each consumer's first invocations go through them in turn; the
 * broken destination's `after-put` waits for its bucket), then 10% of the invocations crash at a
 * random point. A crashed batch (and every message a consumer reports failed) is made visible again
 * at once: both handlers get their jitter seam `random = () => 0`, so the backoff delay they set is
 * 0; a crashed batch (or one whose delete was skipped) would come back when the queue's visibility
 * timeout ends (12 min), so the suite sets its visibility to 0 (ChangeMessageVisibility) — the timeout
 * passing, sooner. (It resets the reported failures too, which the seam already made visible.)
 *
 * Afterwards 30 already-delivered events per S3 destination are replayed by id (no new rows, no new
 * objects). At the end it reads every object of both buckets, the inbox queue of both buses and every
 * DLQ, prints one line of figures and asserts: lost = 0, no duplicate S3 rows, every routed event on
 * its bus at least once, every DLQ empty after the replay, every object's key = its partition plus the
 * SHA-256 of its bytes, every row and entry the stored record, and nothing wrong on the wire
 * (ExpectedBucketOwner, If-None-Match, ≤ 10 entries per PutEvents, only failed entries re-sent).
 *
 * FAULT_SUITE_SEED repeats a run's choices (the SDK's own jitter aside); FAULT_SUITE_LOG_LEVEL shows
 * the handlers' logs; FAULT_SUITE_DEBUG prints where moto spent its time and when each phase ended.
 */

// Consumers log every transient failure; thousands of injected faults would bury the output.
process.env.POWERTOOLS_LOG_LEVEL = process.env.FAULT_SUITE_LOG_LEVEL ?? 'SILENT';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const EVENTS = Number(process.env.FAULT_SUITE_EVENTS ?? 600);
const SEED = Number(process.env.FAULT_SUITE_SEED ?? 20_260_526);
const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
/** Each customer in an account of its own, as real customers are (moto's STS issues credentials there). */
const ACCOUNTS = { c1: '111111111111', c2: '222222222222' } as const;
const CUSTOMERS = { c1: `acct_c1_${RUN}`, c2: `acct_c2_${RUN}` } as const;
/** S3 batches: about ten first-pass batches per S3 destination whatever the size (10,000 → 500). */
const MAX_EVENTS = Math.min(1000, Math.max(20, Math.round(EVENTS / 2 / 10)));
const BROKEN = 'c2-s3';
/**
 * Events posted per wave; each wave is delivered before the next is posted. moto's SQS costs grow with
 * a queue's depth (every SendMessage reads the queue's attributes, which count every message, and every
 * receive and delete walks the queue), so a 10,000-event backlog took hours to drain; deep queues change
 * nothing the suite checks.
 */
const WAVE_EVENTS = 1000;
/** Accepted events traced at the end (invariant 12). */
const TRACE_SAMPLE = 100;

/** DLQ messages the replay moves per invocation (on-call's `--limit`), delivered before it continues. */
const REPLAY_LIMIT = 200;

const endpoint = () => inject('awsEndpoint');

/** c1's webhook endpoint: a real HTTP receiver on 127.0.0.1 that fails a share of requests on purpose. */
const receiver = await startFaultyReceiver(seededRandom(SEED + 1), {
  status503: 0.15,
  status500: 0.05,
  hang: 0.05,
});
afterAll(async () => {
  await receiver.stop();
});

function webhookDestination(customer: 'c1' | 'c2') {
  return {
    id: `${customer}-wh`,
    type: 'WEBHOOK',
    name: `${customer} webhook`,
    customerExternalId: CUSTOMERS[customer],
    url: `${receiver.url}/${customer}?token=fault-suite`,
    maxEvents: 25,
    batchSizeKb: 64,
    flushIntervalSec: 0,
    timeoutSec: 1,
  };
}

function s3Destination(customer: 'c1' | 'c2', keyPrefix: string) {
  return {
    id: `${customer}-s3`,
    type: 'S3',
    name: `${customer} data lake`,
    customerExternalId: CUSTOMERS[customer],
    bucket: `fault-suite-${RUN}-${customer}`,
    keyPrefix,
    region: REGION,
    maxEvents: MAX_EVENTS,
    flushIntervalSec: 1,
    auth: {
      mode: 'ASSUME_ROLE',
      roleArn: `arn:aws:iam::${ACCOUNTS[customer]}:role/PushrailWriter`,
      externalId: `ext-${customer}-${RUN}`,
    },
  };
}

function busDestination(customer: 'c1' | 'c2', extra: Record<string, unknown> = {}) {
  return {
    id: `${customer}-eb`,
    type: 'EVENTBRIDGE',
    name: `${customer} bus`,
    customerExternalId: CUSTOMERS[customer],
    busArn: `arn:aws:events:${REGION}:${ACCOUNTS[customer]}:event-bus/fault-suite-${RUN}-${customer}`,
    region: REGION,
    auth: {
      mode: 'ASSUME_ROLE',
      roleArn: `arn:aws:iam::${ACCOUNTS[customer]}:role/PushrailEventBridgeWriter`,
      externalId: `ext-${customer}-${RUN}`,
    },
    ...extra,
  };
}

/** The bodies POSTed to the management API. */
const destinationBodies = [
  s3Destination('c1', 'raw/pushrail/'),
  busDestination('c1'),
  s3Destination('c2', 'exports/events'),
  // c2 routes only its invoice events to its bus (a prefix filter): "routed" is not "everything".
  busDestination('c2', { eventTypes: ['invoice.*'] }),
  webhookDestination('c1'),
];
/** The same destinations as a config file would give them (the API validates with the same schema). */
const config: PushrailConfig = parseConfig({ vendor: 'acme', destinations: destinationBodies });
const destinationOf = (id: string) => config.destinations.find((d) => d.id === id) as Destination;
const customerOf = (d: Destination) => (d.customerExternalId === CUSTOMERS.c1 ? 'c1' : 'c2');

let proxy: ChaosProxy | undefined;
afterAll(async () => {
  await proxy?.stop();
});

const sqs = () => new SQSClient({ endpoint: endpoint(), region: REGION });

let requestCounter = 0;
async function post(
  handler: (event: APIGatewayProxyEvent, context: Context) => Promise<{ statusCode: number; body: string }>,
  body: unknown,
): Promise<{ status: number; results: { eventId: string; duplicate: boolean; destinations: string[] }[] }> {
  requestCounter += 1;
  const res = await handler(
    {
      httpMethod: 'POST',
      path: '/v1/events',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      isBase64Encoded: false,
      requestContext: { requestId: `fs-${requestCounter}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
    } as unknown as APIGatewayProxyEvent,
    {
      awsRequestId: `fs-${requestCounter}`,
      functionName: 'pushrail-ingest',
      getRemainingTimeInMillis: () => 29_000,
    } as unknown as Context,
  );
  const parsed = JSON.parse(res.body) as Record<string, unknown>;
  const results = (parsed.results ?? [parsed]) as {
    eventId: string;
    duplicate: boolean;
    destinations: string[];
  }[];
  return { status: res.statusCode, results };
}

/** Puts copies of stored events' messages on a destination queue, as an SQS duplicate delivery would. */
async function sendCopies(
  queueUrl: string,
  records: Map<string, string>,
  ids: readonly string[],
): Promise<number> {
  const client = sqs();
  let sent = 0;
  for (let i = 0; i < ids.length; i += 10) {
    const chunk = ids.slice(i, i + 10);
    const res = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((id, n) => ({
          Id: String(n),
          MessageBody: records.get(id) as string,
          MessageAttributes: { eventId: { DataType: 'String', StringValue: id } },
        })),
      }),
    );
    expect(res.Failed ?? []).toEqual([]);
    sent += chunk.length;
  }
  return sent;
}

/** Where an event must go, written out from the config above rather than computed by the code under test. */
function expectedRoutes(event: CanonicalEvent): string[] {
  if (event.customerExternalId === CUSTOMERS.c1) return ['c1-eb', 'c1-s3', 'c1-wh'];
  const toBus = event.eventType.startsWith('invoice.');
  return toBus ? ['c2-eb', 'c2-s3'] : ['c2-s3'];
}

/** Consecutive requests of about `size` events each (a request is never split). */
function intoWaves<T extends { readonly events: readonly unknown[] }>(
  posts: readonly T[],
  size: number,
): T[][] {
  const waves: T[][] = [[]];
  let count = 0;
  for (const request of posts) {
    if (count >= size) {
      waves.push([]);
      count = 0;
    }
    (waves.at(-1) as T[]).push(request);
    count += request.events.length;
  }
  return waves;
}

function sample<T>(random: () => number, items: readonly T[], share: number): T[] {
  return items.filter(() => random() < share);
}

describe('fault-injection suite', () => {
  it(`${EVENTS} events over 2 customers × (S3 + EventBridge), and a webhook, under injected faults: nothing lost, no duplicate S3 rows`, {
    timeout: Math.max(600_000, EVENTS * 600),
  }, async () => {
    const started = Date.now();
    const random = seededRandom(SEED);
    const timings: Record<string, number> = {};
    /** Seconds since the start at which a phase ended (the delivery tracks overlap). */
    const lap = (name: string) => {
      timings[name] = Math.round((Date.now() - started) / 1000);
      // A full-size run takes the better part of an hour: say where it is.
      if (EVENTS >= 2000) console.log(`fault-suite progress: ${name} done at ${timings[name]} s`);
    };

    // --- Set-up: the stack's tables as `npm start` makes them; the destinations created as a vendor's
    // backend creates them: POSTed to the management API, converged by the provisioner.
    const chaos = await ChaosProxy.start(endpoint());
    proxy = chaos;
    const harness = await startIngestHarness({
      config,
      awsEndpoint: endpoint(),
      handlerEndpoint: chaos.endpoint,
      routesFromTable: true,
    });
    // The consumers' SDK clients take their endpoint from the process: the chaos proxy.
    process.env.AWS_ENDPOINT_URL = chaos.endpoint;
    const target = { endpoint: endpoint(), region: REGION };
    const viaProxy = (url: string) => url.replace(endpoint(), chaos.endpoint);
    const onMoto = (url: string) => url.replace(chaos.endpoint, endpoint());
    const api = apiDestinations({
      target,
      tables: harness.tables,
      namePrefix: harness.namePrefix,
      accountId: harness.accountId,
      // The queue URLs on the records, which the consumers send their queue calls to, name the proxy.
      sqs: sqsAnsweringVia(target, chaos.endpoint),
      customerSide: true,
    });
    for (const body of destinationBodies) {
      const created = await call(api.management, 'POST', '/v1/destinations', { body });
      expect(created.statusCode, created.raw).toBe(201);
      expect(created.body).toMatchObject({ id: body.id, status: 'PROVISIONING', version: 1 });
      // The receiver verifies every request with the signing secret the create answered.
      if (body.type === 'WEBHOOK') receiver.trust(created.body.signingSecret as string);
    }
    const notified = api.takeNotified();
    expect([...notified].sort()).toEqual(config.destinations.map((d) => d.id).sort());
    for (const id of notified) await api.provisioner.converge(id);
    expect(api.warnings).toEqual([]);
    for (const d of config.destinations) {
      const got = await call(api.management, 'GET', `/v1/destinations/${d.id}`);
      expect(got.body, got.raw).toMatchObject({ status: 'ACTIVE', version: 1 });
      // What the API stored is what the config file would have given (the same schema).
      expect(api.mapped.get(d.id)?.destination).toEqual(d);
      expect(api.mapped.get(d.id)?.enabled).toBe(true);
    }
    /** A destination's queues on moto (the suite's own reads) and its customer side. */
    const queueOf = (
      id: string,
    ): Readonly<Record<string, string>> & { queueUrl: string; queueArn: string; dlqUrl: string } => {
      const mapped = api.mapped.get(id);
      if (!mapped) throw new Error(`destination ${id} has no mapping`);
      const queueUrl = onMoto(mapped.queue.queueUrl);
      return { ...mapped.customer, queueUrl, queueArn: mapped.queue.queueArn, dlqUrl: `${queueUrl}-dlq` };
    };
    for (const d of config.destinations)
      expect(await queueCounts(sqs(), queueOf(d.id).dlqUrl), `DLQ of ${d.id}`).toEqual({
        visible: 0,
        inFlight: 0,
      });
    const customers = new Map<string, { s3: S3Client; sqs: SQSClient }>();
    for (const d of config.destinations) {
      if (d.type === 'WEBHOOK') continue; // an HTTP endpoint: no AWS account on the customer's side
      const access = await customerAccess(d, target);
      expect(access.accountId).toBe(ACCOUNTS[customerOf(d)]);
      customers.set(d.id, {
        s3: new S3Client(s3ClientConfig({ ...target, credentials: access.credentials })),
        sqs: new SQSClient(clientConfig({ ...target, credentials: access.credentials })),
      });
    }
    const customer = (id: string) => customers.get(id) as { s3: S3Client; sqs: SQSClient };
    const broken = destinationOf(BROKEN) as S3DestinationConfig;
    // The customer deleted the bucket after configuring the destination.
    await customer(BROKEN).s3.send(new DeleteBucketCommand({ Bucket: broken.bucket }));

    const plan = new FaultPlan(
      chaos,
      random,
      {
        destinationIds: config.destinations.map((d) => d.id),
        buckets: new Map(
          config.destinations.flatMap((d) => (d.type === 'S3' ? [[d.bucket, d.id] as const] : [])),
        ),
        buses: new Map(
          config.destinations.flatMap((d) => (d.type === 'EVENTBRIDGE' ? [[d.busArn, d.id] as const] : [])),
        ),
        sealsTable: harness.tables.seals as string,
        bucketOwners: new Map(
          config.destinations.flatMap((d) =>
            d.type === 'S3' ? [[d.bucket, ACCOUNTS[customerOf(d)]] as const] : [],
          ),
        ),
        entrySource: 'pushrail.acme',
      },
      { s3ErrorRate: 0.2, ebThrottleRate: 0.1, ebPartialRate: 0.15 },
    );
    const pipeline = new SuitePipeline(sqs(), plan, random, 0.1);
    // One consumer per kind reads its destinations from the table, as on AWS; each poller still gets a
    // handler of its own (a Lambda container runs one batch at a time), as the local runtime does.
    const env = {
      ...process.env,
      ...localMappingsEnvironment({
        tables: harness.tables,
        namePrefix: harness.namePrefix,
        vendor: config.vendor,
        retentionDays: config.retentionDays,
      }),
    };
    for (const destination of config.destinations) {
      const settings = deliverySettings(destination);
      pipeline.add({
        destination,
        queueUrl: queueOf(destination.id).queueUrl,
        queueArn: queueOf(destination.id).queueArn,
        dlqUrl: queueOf(destination.id).dlqUrl,
        // Backoff jitter pinned to 0: a transiently failed message is visible again at once.
        handler:
          destination.type === 'S3'
            ? createS3BatcherHandler(env, { random: () => 0 })
            : destination.type === 'EVENTBRIDGE'
              ? createEventBridgeSenderHandler(env, { random: () => 0 })
              : createWebhookSenderHandler(env, { random: () => 0 }),
        batchSize: settings.batchSize,
        windowSeconds: settings.windowSeconds,
        timeoutSeconds: settings.timeoutSeconds,
        region: REGION,
      });
    }
    lap('setup');

    // --- Producers (batches, single events, retries) and consumers, wave by wave.
    const events = makeEvents(EVENTS, [CUSTOMERS.c1, CUSTOMERS.c2], RUN, random);
    const byKey = new Map<string, CanonicalEvent>(events.map((e) => [e.idempotencyKey, e]));
    const eventIdOfKey = new Map<string, string>();
    const routed = new Map<string, Set<string>>(config.destinations.map((d) => [d.id, new Set<string>()]));
    const eventById = new Map<string, CanonicalEvent>();
    /** The stored record of every accepted event, what every row and entry must be. */
    const records = new Map<string, string>();
    const posts = planPosts(events, random);
    const waves = intoWaves(posts, WAVE_EVENTS);
    let retries = 0;
    let copies = 0;
    const dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION });

    const seen = new Map<string, Map<string, number>>(
      config.destinations.filter((d) => d.type === 'EVENTBRIDGE').map((d) => [d.id, new Map()]),
    );
    const foreign: string[] = [];
    const readInbox = async (d: Destination) => {
      if (d.type === 'EVENTBRIDGE') {
        const counts = seen.get(d.id) as Map<string, number>;
        const inbox = queueOf(d.id).inboxQueueUrl as string;
        for (const entry of await drainInbox(customer(d.id).sqs, inbox)) {
          const eventId = String(entry.detail.eventId);
          const event = eventById.get(eventId);
          if (
            !event ||
            !routed.get(d.id)?.has(eventId) ||
            entry.source !== 'pushrail.acme' ||
            entry['detail-type'] !== event.eventType ||
            JSON.stringify(entry.resources) !==
              JSON.stringify([event.customerExternalId, event.idempotencyKey]) ||
            // The entry's detail is the stored record, whatever path (retry, crash, replay) sent it.
            canonicalJson(entry.detail) !== canonicalJson(JSON.parse(records.get(eventId) ?? 'null'))
          ) {
            foreign.push(`${d.id}: ${JSON.stringify(entry).slice(0, 300)}`);
          }
          counts.set(eventId, (counts.get(eventId) ?? 0) + 1);
        }
      }
    };
    const drain = (ids: readonly string[]) =>
      pipeline.drain({
        only: ids,
        maxInvocations: 100 + Math.ceil(EVENTS / 5),
        afterInvocation: (consumer) => readInbox(consumer.destination),
      });
    const healthy = config.destinations.filter((d) => d.id !== BROKEN).map((d) => d.id);

    // Late duplicates: events already delivered come back once more.
    const lateCopies = async (ids: readonly string[]) => {
      for (const id of ids)
        copies += await sendCopies(
          queueOf(id).queueUrl,
          records,
          sample(random, [...(routed.get(id) ?? [])], 0.01),
        );
    };
    const replay = replayFunction({
      config,
      namePrefix: harness.namePrefix,
      provisioned: {
        accountId: harness.accountId,
        queueUrlBase: viaProxy(harness.queueUrlBase),
        tables: harness.tables,
        destinations: {},
        warnings: [],
      },
    });
    const invokeReplay = async (request: Record<string, unknown>) => {
      const deadline = Date.now() + replay.timeoutMs;
      return (replay.handler as ReplayHandler)(request, {
        functionName: replay.name,
        awsRequestId: randomUUID(),
        getRemainingTimeInMillis: () => deadline - Date.now(),
      } as unknown as Context);
    };

    let deadBefore: readonly Message[] = [];
    let replayed = 0;
    let replayInvocations = 0;
    /**
     * The broken destination after the first wave: every event routed to it so far is in its DLQ, with
     * the reason; the customer creates the bucket and on-call replays the DLQ (a dry run first: nothing
     * moves), in slices of REPLAY_LIMIT (`--limit`), each delivered before the next continues the run.
     */
    const fixAndReplay = async () => {
      deadBefore = await peekQueue(sqs(), queueOf(BROKEN).dlqUrl);
      expect(new Set(deadBefore.map(eventIdOf))).toEqual(routed.get(BROKEN));
      for (const m of deadBefore) {
        expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.failureClass]?.StringValue).toBe('permanent');
        expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue).toBe('NoSuchBucket');
        expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.destinationId]?.StringValue).toBe(BROKEN);
      }
      expect((await readBucket(customer(BROKEN).s3, broken).catch(() => undefined))?.objects.size ?? 0).toBe(
        0,
      );

      await customer(BROKEN).s3.send(new CreateBucketCommand({ Bucket: broken.bucket }));
      const dry = await invokeReplay({
        destinationId: BROKEN,
        source: 'dlq',
        dryRun: true,
        requestedBy: 'fault-suite',
      });
      expect(dry).toMatchObject({ dryRun: true, matched: deadBefore.length, replayed: 0, failed: 0 });
      expect((await peekQueue(sqs(), queueOf(BROKEN).dlqUrl)).length).toBe(deadBefore.length);
      for (;;) {
        const result = await invokeReplay({
          destinationId: BROKEN,
          source: 'dlq',
          limit: REPLAY_LIMIT,
          requestedBy: 'fault-suite',
        });
        replayInvocations += 1;
        expect(result.failed).toBe(0);
        expect(result.resumed).toBe(replayInvocations > 1);
        replayed += result.replayed;
        await drain([BROKEN]);
        if (result.complete) break;
        expect(replayInvocations, 'replay keeps answering complete: false').toBeLessThan(
          Math.ceil(deadBefore.length / REPLAY_LIMIT) + 5,
        );
      }
      expect(replayed).toBe(deadBefore.length);
      lap('fix+replay');
    };

    for (const [w, wave] of waves.entries()) {
      /** The events this wave is the first to accept, by destination. */
      const fresh = new Map<string, Set<string>>(config.destinations.map((d) => [d.id, new Set<string>()]));
      for (const request of wave) {
        const body = request.single ? request.events[0] : { events: request.events };
        const res = await post(harness.handler, body);
        expect(res.status, JSON.stringify(res.results).slice(0, 500)).toBe(202);
        expect(res.results).toHaveLength(request.events.length);
        if (request.retry) retries += 1;
        res.results.forEach((result, i) => {
          const event = request.events[i] as CanonicalEvent;
          const known = eventIdOfKey.get(event.idempotencyKey);
          // A producer retry answers the same eventId, marked duplicate; a first post is not a duplicate.
          expect(result.duplicate).toBe(known !== undefined);
          if (known) expect(result.eventId).toBe(known);
          eventIdOfKey.set(event.idempotencyKey, result.eventId);
          eventById.set(result.eventId, event);
          const expected = expectedRoutes(event);
          expect([...result.destinations].sort()).toEqual([...expected].sort());
          for (const id of result.destinations) {
            routed.get(id)?.add(result.eventId);
            if (!known) fresh.get(id)?.add(result.eventId);
          }
        });
      }
      // Ingest fanned each event out once, retries included: with the earlier waves delivered, the queues
      // hold exactly this wave's routed events.
      for (const d of config.destinations) {
        expect(await queueCounts(sqs(), queueOf(d.id).queueUrl), `${d.id}, wave ${w + 1}`).toEqual({
          visible: fresh.get(d.id)?.size,
          inFlight: 0,
        });
      }
      const stored = await getRecords(dynamodb, harness.tables.events as string, [
        ...new Set([...fresh.values()].flatMap((ids) => [...ids])),
      ]);
      for (const [id, record] of stored) records.set(id, record);

      // Duplicate deliveries before the consumers start (some events twice more).
      for (const d of config.destinations) {
        const ids = sample(random, [...(fresh.get(d.id) ?? [])], 0.04);
        copies += await sendCopies(queueOf(d.id).queueUrl, records, [...ids, ...sample(random, ids, 0.3)]);
      }
      // The consumers until every queue is empty (the inboxes read as they go); until it is fixed, the
      // broken destination dead-letters its share.
      await drain(config.destinations.map((d) => d.id));
      lap(`wave ${w + 1}/${waves.length}`);
      // The broken destination stays broken for the first wave only: on moto a receive walks the whole
      // queue, so scanning and replaying a DLQ of thousands would take longer than the rest of the run.
      if (w === 0) await fixAndReplay();
    }
    const accepted = eventIdOfKey.size;
    expect(accepted).toBe(byKey.size);

    // Late duplicates of every destination, then every queue drained once more.
    await lateCopies(config.destinations.map((d) => d.id));
    await drain(config.destinations.map((d) => d.id));
    lap('deliver');
    // Every injected fault is transient: nothing of the healthy destinations was dead-lettered.
    for (const id of healthy) {
      const dead = await peekQueue(sqs(), queueOf(id).dlqUrl);
      expect(
        dead.map((m) => `${eventIdOf(m)} ${m.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue}`),
        `DLQ of ${id}`,
      ).toEqual([]);
    }

    // Replaying already-delivered S3 events (by id) adds no rows and no objects.
    const before = new Map<string, BucketView>();
    for (const d of config.destinations)
      if (d.type === 'S3') before.set(d.id, await readBucket(customer(d.id).s3, d));
    for (const d of config.destinations) {
      if (d.type !== 'S3') continue;
      const ids = [...(routed.get(d.id) ?? [])].slice(0, 30);
      const again = await invokeReplay({ destinationId: d.id, source: 'events', eventIds: ids });
      expect(again).toMatchObject({ matched: ids.length, replayed: ids.length, failed: 0 });
    }
    await drain(config.destinations.map((d) => d.id));
    const second = await invokeReplay({ destinationId: BROKEN, source: 'dlq' });
    expect(second).toMatchObject({ matched: 0, replayed: 0 });
    lap('replay by id');

    // --- What the customers have now.
    for (const d of config.destinations) await readInbox(d);
    const buckets = new Map<string, BucketView>();
    for (const d of config.destinations)
      if (d.type === 'S3') buckets.set(d.id, await readBucket(customer(d.id).s3, d));
    // Every row is the stored record of its event, byte for byte (canonical JSON).
    const rowMismatches = [...buckets.values()].flatMap((view) =>
      [...view.records].filter(
        ([id, record]) => canonicalJson(record) !== canonicalJson(JSON.parse(records.get(id) ?? 'null')),
      ),
    );
    const dlq = new Map<string, string[]>();
    for (const d of config.destinations)
      dlq.set(d.id, (await peekQueue(sqs(), queueOf(d.id).dlqUrl)).map(eventIdOf));
    lap('read');

    const figures: Record<string, number | string> = {
      events: EVENTS,
      seed: SEED,
      posts: posts.length,
      singlePosts: posts.filter((p) => p.single).length,
      producerRetries: retries,
      waves: waves.length,
      accepted,
      maxEvents: MAX_EVENTS,
    };
    let lost = 0;
    let duplicateRows = 0;
    let ebMissing = 0;
    let whMissing = 0;
    const lostIds: string[] = [];
    for (const d of config.destinations) {
      const c = customerOf(d);
      const inDlq = new Set(dlq.get(d.id));
      const delivered =
        d.type === 'S3'
          ? (buckets.get(d.id) as BucketView).rows
          : d.type === 'WEBHOOK'
            ? receiver.delivered
            : (seen.get(d.id) as Map<string, number>);
      const missing = [...(routed.get(d.id) ?? [])].filter((id) => !delivered.has(id));
      const missingNotInDlq = missing.filter((id) => !inDlq.has(id));
      lost += missingNotInDlq.length;
      lostIds.push(...missingNotInDlq.slice(0, 5).map((id) => `${d.id}:${id}`));
      if (d.type === 'S3') {
        const view = buckets.get(d.id) as BucketView;
        figures[`s3.rows[${c}]`] = view.rows.size;
        figures[`s3.objects[${c}]`] = view.objects.size;
        duplicateRows += [...view.rows.values()].filter((n) => n > 1).length;
      } else if (d.type === 'WEBHOOK') {
        figures[`wh.delivered[${c}]`] = receiver.delivered.size;
        figures[`wh.requests[${c}]`] = receiver.requests;
        whMissing += missing.length;
      } else {
        const counts = seen.get(d.id) as Map<string, number>;
        figures[`eb.seen[${c}]`] = counts.size;
        figures[`eb.entries[${c}]`] = [...counts.values()].reduce((a, b) => a + b, 0);
        ebMissing += missing.length;
      }
    }
    Object.assign(figures, {
      's3.duplicateRows': duplicateRows,
      'eb.missing': ebMissing,
      'wh.missing': whMissing,
      ...Object.fromEntries([...receiver.injected].map(([k, v]) => [`faults.wh.${k}`, v])),
      'dlq.beforeReplay': deadBefore.length,
      replayed,
      replayInvocations,
      dlq: [...dlq.values()].reduce((n, ids) => n + ids.length, 0),
      lost,
      dupCopies: copies,
      invocations: pipeline.consumers.reduce((n, c) => n + c.invocations, 0),
      crashes: [...plan.crashes.values()].reduce((a, b) => a + b, 0),
      ...Object.fromEntries([...plan.injected].map(([k, v]) => [`faults.${k}`, v])),
      's3.puts': plan.observed.get('s3.put200') ?? 0,
      's3.rewrites': plan.observed.get('s3.put412') ?? 0,
      seconds: Math.round((Date.now() - started) / 1000),
    });
    console.log(
      `fault-suite: ${Object.entries(figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    if (process.env.FAULT_SUITE_DEBUG) {
      console.log(
        `fault-suite crashes: ${[...plan.crashes].map(([k, v]) => `${k}=${v}`).join(' ')}; phases ended at (s): ${JSON.stringify(timings)}`,
      );
      // Where moto spent its time: [operation, calls, seconds (summed over concurrent calls)].
      console.log(
        'fault-suite moto time:',
        JSON.stringify(
          [...chaos.upstreamMs]
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => [k, chaos.count(k), Math.round(v / 1000)]),
        ),
      );
    }
    // --- The invariants.
    expect(pipeline.unexpectedErrors.map(String)).toEqual([]);
    expect(plan.violations.slice(0, 20)).toEqual([]);
    expect(foreign.slice(0, 20)).toEqual([]);
    for (const view of buckets.values()) expect(view.problems.slice(0, 20)).toEqual([]);
    expect(rowMismatches.slice(0, 5)).toEqual([]);
    expect(lostIds).toEqual([]);
    expect(lost).toBe(0);
    expect(duplicateRows).toBe(0);
    expect(ebMissing).toBe(0);
    expect(whMissing).toBe(0);
    // Every webhook request verified with the destination's secret (standardwebhooks), every event in it
    // the stored record, and only events routed to the webhook.
    expect(receiver.problems.slice(0, 20)).toEqual([]);
    for (const [id, record] of receiver.bodies) {
      if (
        canonicalJson(record) !== canonicalJson(JSON.parse(records.get(id) ?? 'null')) ||
        !routed.get('c1-wh')?.has(id)
      )
        foreign.push(`c1-wh: ${id}`);
    }
    expect(foreign.slice(0, 20)).toEqual([]);
    expect(figures.dlq).toBe(0);
    for (const d of config.destinations) {
      if (d.type !== 'S3') continue;
      const view = buckets.get(d.id) as BucketView;
      // Only routed events, each exactly once.
      expect(new Set(view.rows.keys())).toEqual(routed.get(d.id));
    }
    // The by-id replay rewrote existing parts only: same keys, same bytes.
    for (const [id, view] of before) {
      expect(buckets.get(id)?.objects).toEqual(view.objects);
    }
    // Every crash point happened on every consumer it applies to, and every kind of fault was injected.
    for (const c of pipeline.consumers) expect(c.pendingCrashes, c.destination.id).toEqual([]);
    for (const kind of ['s3.503', 's3.500', 's3.exhausting', 'eb.throttle', 'eb.partialCalls'])
      expect(plan.injected.get(kind) ?? 0, kind).toBeGreaterThan(0);
    for (const kind of ['503', '500', 'timeout'])
      expect(receiver.injected.get(kind) ?? 0, `wh.${kind}`).toBeGreaterThan(0);

    // Invariant 12, after all those faults, crashes and replays: a sample of the accepted events traced
    // through GET /v1/events/{eventId} is delivered at every routed destination (the DLQs are empty),
    // each S3 copy to an object the customer's bucket holds.
    const traced = [...new Set([...routed.values()].flatMap((ids) => [...ids]))].slice(0, TRACE_SAMPLE);
    for (const id of traced) {
      const res = await call(api.management, 'GET', `/v1/events/${id}`);
      expect(res.statusCode, res.raw).toBe(200);
      for (const d of res.body.deliveries as {
        destinationId: string;
        type: string;
        status: string;
        target?: string;
      }[]) {
        expect(d.status, `${id} at ${d.destinationId}`).toBe('delivered');
        if (d.type === 'S3') {
          const key = String(d.target).replace(/^s3:\/\/[^/]+\//, '');
          expect(buckets.get(d.destinationId)?.objects.has(key), `${id}: ${d.target}`).toBe(true);
        }
      }
    }
  });
});
