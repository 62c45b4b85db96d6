import { fileURLToPath } from 'node:url';
import { EventBridgeClient, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { type AuthorizerResult, createAuthorizerHandler } from '../lambdas/authorizer/handler.js';
import type { CanonicalEvent } from '../lambdas/core/event.js';
import { AUTHORIZER_ENV } from '../lambdas/core/function-env.js';
import { TABLE_LIST } from '../lambdas/core/resources.js';
import { createDeliveryHandler as createEventBridgeSenderHandler } from '../lambdas/destinations/eventbridge/handler.js';
import {
  busName,
  ensureBusWithInbox,
  INBOX_RULE_NAME,
} from '../lambdas/destinations/eventbridge/local-customer.js';
import { deliverySettings } from '../lambdas/destinations/index.js';
import { createDeliveryHandler as createS3BatcherHandler } from '../lambdas/destinations/s3/handler.js';
import { createIngestHandler } from '../lambdas/ingest/handler.js';
import {
  authorizerRequestEvent,
  httpApiEvent,
  INTEGRATION_TIMEOUT_MS,
  type IncomingRequest,
  lambdaContext,
  proxyEvent,
} from '../local/api-gateway-event.js';
import type { IngestProxyHandler } from '../local/api-server.js';
import { cachedAuthorizer } from '../local/authorizer-cache.js';
import { clientConfig, type EmulatorTarget } from '../local/aws-clients.js';
import { customerAccess } from '../local/customer-credentials.js';
import { localDeliveryEnvironment } from '../local/delivery-pollers.js';
import { type Emulator, startMoto } from '../local/emulator.js';
import { ingestEnvironment, ingestFunctionName } from '../local/ingest-function.js';
import { ensureProducerPlan } from '../local/producer-plan.js';
import { type Provisioned, provision } from '../local/provision.js';
import { QueuePoller, type SqsHandler } from '../local/queue-poller.js';
import { queueArn } from '../local/queues.js';
import type { AwsMeter, MeterSnapshot } from './aws-meter.js';
import { BENCH_CONFIG } from './workload.js';

/**
 * The local pipeline, end to end on moto: the real ingest handler (built as the integration tests'
 * harness does: provision, then build it with the function's environment), and the real S3 batcher and
 * EventBridge sender driven by QueuePoller.runOnce (the local stand-in for the event source mapping)
 * with the deployed batch sizes and windows. Single-event POSTs go through the HTTP API as the local
 * runtime emulates it (the real authorizer against the producer usage plan on moto, its answers cached
 * per key as API Gateway caches them, payload 2.0 events); batches through the REST API.
 */

/** The bench producer's key (API Gateway takes keys of 20 characters or more). */
export const API_KEY = 'bench-producer-api-key-0001';
/** The longest API Gateway waits for a Lambda authorizer. */
const AUTHORIZER_TIMEOUT_MS = 10_000;
const NAME_PREFIX = 'bench';

export interface Pipeline {
  readonly emulator: Emulator;
  readonly target: EmulatorTarget;
  readonly provisioned: Provisioned;
  readonly ingest: IngestProxyHandler;
  /**
   * The HTTP API's authorizer (checking keys against the producer usage plan on moto) behind API
   * Gateway's cache of its answers: invoked, and metered as `authorizer`, on a miss only.
   */
  readonly authorize: (
    apiKey: string,
    event: APIGatewayRequestAuthorizerEventV2,
  ) => Promise<AuthorizerResult>;
  readonly s3Handler: SqsHandler;
  readonly eventBridgeHandler: SqsHandler;
  /** The benchmark's own SQS client (its calls count only inside a metered scope). */
  readonly sqs: SQSClient;
  readonly s3: {
    readonly id: string;
    readonly queueUrl: string;
    readonly queueArn: string;
    readonly dlqUrl: string;
  };
  readonly eventBridge: {
    readonly id: string;
    readonly queueUrl: string;
    readonly queueArn: string;
    readonly dlqUrl: string;
    readonly inboxQueueUrl: string;
  };
  stop(): Promise<void>;
}

export async function startPipeline(meter: AwsMeter): Promise<Pipeline> {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  delete process.env.AWS_SESSION_TOKEN;
  process.env.AWS_REGION = 'us-east-1';
  // moto with a cheap clock in SQS (test/support/moto_server_fast.py says why); the same requests either way.
  const emulator = await startMoto({
    command: ['python3', fileURLToPath(new URL('../test/support/moto_server_fast.py', import.meta.url))],
  });
  // Every SDK client of this process goes to the emulator: the consumers' take their endpoint from
  // the process, ingest's from the environment it is built with.
  process.env.AWS_ENDPOINT_URL = emulator.endpoint;
  const target: EmulatorTarget = { endpoint: emulator.endpoint, region: 'us-east-1' };
  const config = BENCH_CONFIG;
  const provisioned = await provision({ config, namePrefix: NAME_PREFIX, target });
  meter.describeTables(
    provisioned.tables,
    Object.fromEntries(
      TABLE_LIST.map((t) => [t.role, t.sortKey ? [t.partitionKey, t.sortKey] : [t.partitionKey]]),
    ),
  );

  const plan = await ensureProducerPlan(target, NAME_PREFIX, API_KEY);
  const authorizer = createAuthorizerHandler({
    [AUTHORIZER_ENV.usagePlanId]: plan.usagePlanId,
    AWS_REGION: target.region,
    AWS_ENDPOINT_URL: target.endpoint,
  });
  const authorize = cachedAuthorizer((event) =>
    meter.invoke('authorizer', () =>
      authorizer(
        event,
        lambdaContext(
          {
            functionName: `${NAME_PREFIX}-authorizer`,
            region: target.region,
            accountId: provisioned.accountId,
          },
          Date.now() + AUTHORIZER_TIMEOUT_MS,
        ),
      ),
    ),
  );
  const ingest = createIngestHandler(
    ingestEnvironment({
      config,
      namePrefix: NAME_PREFIX,
      provisioned,
      region: target.region,
      endpoint: target.endpoint,
    }),
  );

  const [s3Destination, eventBridgeDestination] = config.destinations;
  if (s3Destination?.type !== 'S3' || eventBridgeDestination?.type !== 'EVENTBRIDGE') {
    throw new Error('the benchmark config must have one S3 and one EventBridge destination, in that order');
  }
  const context = { config, namePrefix: NAME_PREFIX, target, provisioned };
  const s3Handler = createS3BatcherHandler({
    ...process.env,
    ...localDeliveryEnvironment(context, s3Destination),
  });
  const eventBridgeHandler = createEventBridgeSenderHandler({
    ...process.env,
    ...localDeliveryEnvironment(context, eventBridgeDestination),
  });

  const sqs = new SQSClient(clientConfig(target));
  const s3 = provisioned.destinations[s3Destination.id];
  const eb = provisioned.destinations[eventBridgeDestination.id];
  if (s3?.type !== 'S3' || eb?.type !== 'EVENTBRIDGE') throw new Error('destinations were not provisioned');
  return {
    emulator,
    target,
    provisioned,
    ingest,
    authorize,
    s3Handler,
    eventBridgeHandler,
    sqs,
    s3: {
      id: s3Destination.id,
      queueUrl: s3.queueUrl,
      queueArn: await queueArn(sqs, s3.queueUrl),
      dlqUrl: s3.dlqUrl,
    },
    eventBridge: {
      id: eventBridgeDestination.id,
      queueUrl: eb.queueUrl,
      queueArn: await queueArn(sqs, eb.queueUrl),
      dlqUrl: eb.dlqUrl,
      inboxQueueUrl: eb.inboxQueueUrl,
    },
    async stop() {
      sqs.destroy();
      await emulator.stop();
    },
  };
}

/**
 * Attaches or detaches the local inbox rule's target on the customer's bus. moto delivers each entry
 * to a rule target in ~0.3 s (it rebuilds a JSONPath parser per entry), which would make the cost runs
 * take an hour; the rule is the customer's side, so Pushrail's requests are the same either way.
 */
export async function setInbox(pipeline: Pipeline, attached: boolean): Promise<void> {
  const destination = BENCH_CONFIG.destinations.find((d) => d.id === pipeline.eventBridge.id);
  if (destination?.type !== 'EVENTBRIDGE') throw new Error('no EventBridge destination');
  const customer = await customerAccess(destination, pipeline.target);
  if (attached) {
    await ensureBusWithInbox(destination, customer, pipeline.target);
    return;
  }
  const events = new EventBridgeClient(
    clientConfig({ ...pipeline.target, credentials: customer.credentials }),
  );
  try {
    await events.send(
      new RemoveTargetsCommand({
        Rule: INBOX_RULE_NAME,
        EventBusName: busName(destination.busArn),
        Ids: ['inbox'],
      }),
    );
  } finally {
    events.destroy();
  }
}

/** The bench producer's POST /v1/events, as it reaches API Gateway. */
function producerRequest(body: string): IncomingRequest {
  return {
    method: 'POST',
    url: '/v1/events',
    rawHeaders: ['content-type', 'application/json', 'x-api-key', API_KEY],
    body,
    sourceIp: '127.0.0.1',
    httpVersion: '1.1',
  };
}

/** Which API Gateway a POST goes through (lib/ingest-api.ts, lib/http-ingest-api.ts). */
export type Gateway = 'rest' | 'http';

/**
 * One POST /v1/events as API Gateway hands it to the ingest function, metered as one invocation; on
 * the HTTP API after the authorizer's (cached) answer, as API Gateway runs them.
 */
export async function postEvents(
  pipeline: Pipeline,
  meter: AwsMeter,
  body: string,
  gateway: Gateway = 'rest',
): Promise<APIGatewayProxyResult> {
  const { accountId } = pipeline.provisioned;
  const request = producerRequest(body);
  const context = lambdaContext(
    { functionName: ingestFunctionName(NAME_PREFIX), region: pipeline.target.region, accountId },
    Date.now() + INTEGRATION_TIMEOUT_MS,
  );
  if (gateway === 'rest') {
    const event = proxyEvent(request, { apiKey: API_KEY, apiKeyId: 'bench', accountId });
    return meter.invoke('ingest', () => pipeline.ingest(event, context));
  }
  const answer = await pipeline.authorize(API_KEY, authorizerRequestEvent(request, accountId));
  if (!answer.isAuthorized) throw new Error('bench: the authorizer refused the producer key');
  const event = httpApiEvent(request, answer.context, accountId);
  return meter.invoke('ingest', () => pipeline.ingest(event, context));
}

/** The authorizer's answer for the bench's producer key (through the cache, as any POST). */
async function authorizeProducer(pipeline: Pipeline): Promise<void> {
  const answer = await pipeline.authorize(
    API_KEY,
    authorizerRequestEvent(producerRequest(''), pipeline.provisioned.accountId),
  );
  if (!answer.isAuthorized) throw new Error('bench: the authorizer refused the producer key');
}

/** A poller for a destination queue with the deployed batch settings, its handler metered. */
export function destinationPoller(
  pipeline: Pipeline,
  meter: AwsMeter,
  which: 's3' | 'eventBridge',
  windowSeconds?: number,
): QueuePoller {
  const destination = BENCH_CONFIG.destinations.find((d) => d.id === pipeline[which].id);
  if (!destination) throw new Error(`no destination ${pipeline[which].id}`);
  const settings = deliverySettings(destination);
  const actor = which === 's3' ? 's3-batcher' : 'eventbridge-sender';
  const handler = which === 's3' ? pipeline.s3Handler : pipeline.eventBridgeHandler;
  return new QueuePoller({
    sqs: pipeline.sqs,
    queueUrl: pipeline[which].queueUrl,
    queueArn: pipeline[which].queueArn,
    region: pipeline.target.region,
    batchSize: settings.batchSize,
    windowSeconds: windowSeconds ?? settings.windowSeconds,
    timeoutSeconds: settings.timeoutSeconds,
    handler: (event, context) => meter.invoke(actor, () => handler(event, context)),
    functionName: `${NAME_PREFIX}-${destination.id}`,
    onError: (error) => process.stderr.write(`bench: ${actor} failed: ${(error as Error).message}\n`),
  });
}

export interface ModeResult {
  readonly mode: 'single' | 'batch';
  /** The API the POSTs went through: single-event POSTs the HTTP API, batches the REST API. */
  readonly gateway: Gateway;
  readonly events: number;
  readonly posts: number;
  /** Events in each POST, in order (the SQS floor: one SendMessageBatch cannot span two requests). */
  readonly eventsPerPost: readonly number[];
  /** Request units an HTTP API would bill for these POSTs: one per started 512 KiB of body. */
  readonly httpApiRequests: number;
  /** POSTs not answered 202 (the run is then not a clean measurement). */
  readonly rejected: number;
  readonly firstRejection?: string;
  /**
   * Where the run's time went: posting (`ingest`), each destination's drain (`s3`, `eventBridge`: they
   * run at once, as two event source mappings do, so they overlap) and the drains' wall time (`drain`).
   */
  readonly seconds: {
    readonly ingest: number;
    readonly s3: number;
    readonly eventBridge: number;
    readonly drain: number;
  };
  /** Durations of the POSTs run one at a time (the Lambda duration sample for ingest). */
  readonly ingestSampleMs: readonly number[];
  /**
   * CPU time (user + system) of this process during each sampled POST: what the function itself
   * computes; the rest of its duration is waiting on the emulator's answers.
   */
  readonly ingestSampleCpuMs: readonly number[];
  readonly meter: MeterSnapshot;
  /** Messages left in the destination queues and DLQs after the drain (all should be 0). */
  readonly leftover: Record<string, number>;
}

const BATCH_SIZE = 100;
/** HTTP APIs meter requests in 512 KB increments (https://aws.amazon.com/api-gateway/pricing/). */
const HTTP_API_METERING_BYTES = 512 * 1024;
/**
 * POSTs in flight at once after the one-at-a-time sample. moto answers one request at a time (one
 * Python interpreter), but each POST waits on several answers in turn, so a few at once keep it busy;
 * a batch POST already sends 100 events' writes at once. BENCH_POST_CONCURRENCY overrides both.
 */
const POST_CONCURRENCY = {
  single: concurrencyFromEnv() ?? 8,
  batch: concurrencyFromEnv() ?? 2,
} as const;

function concurrencyFromEnv(): number | undefined {
  const raw = process.env.BENCH_POST_CONCURRENCY;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `BENCH_POST_CONCURRENCY must be a whole number of at least 1 (received ${JSON.stringify(raw)})`,
    );
  }
  return n;
}

/**
 * Events per wave: posted, then drained from both queues before the next wave is posted, as the fault
 * suite does. moto's SQS requests cost time in proportion to the queue's depth (each receive and delete
 * walks the queue), so shallow queues keep the run linear in the number of events; one wave is one full
 * S3 batch (maxEvents 1,000), so the batches measured are full.
 */
export const CHUNK_EVENTS = 1000;
/**
 * The EventBridge poller's window while draining. The deployed 1 s would cut batches short only
 * because moto answers a ReceiveMessage more slowly than AWS (and more so on a busy machine); with a
 * backlog, AWS fills the batch of 100 first.
 */
const DRAIN_WINDOW_SECONDS = 20;

/**
 * Posts `events` as single-event POSTs or as {"events": [...]} batches of 100, and after every
 * CHUNK_EVENTS drains each destination queue through its consumer until it is empty, metering
 * everything. The first POSTs run one at a time: their durations are the ingest duration sample.
 */
export async function runMode(
  pipeline: Pipeline,
  meter: AwsMeter,
  mode: 'single' | 'batch',
  events: readonly CanonicalEvent[],
  progress: (line: string) => void,
): Promise<ModeResult> {
  const perPost = mode === 'single' ? 1 : BATCH_SIZE;
  const bodies = Array.from({ length: Math.ceil(events.length / perPost) }, (_, i) => {
    const slice = events.slice(i * perPost, (i + 1) * perPost);
    return mode === 'single' ? JSON.stringify(slice[0]) : JSON.stringify({ events: slice });
  });
  // Singles through the HTTP API (issue 14, lever 6); batches stay on REST: an HTTP API would save
  // them only its cheaper request price on a hundredth of the requests (about $0.025 per million events).
  const gateway: Gateway = mode === 'single' ? 'http' : 'rest';
  const sampleSize = Math.min(mode === 'single' ? 100 : 5, Math.ceil(bodies.length / 10));
  const concurrency = POST_CONCURRENCY[mode];
  const postsPerChunk = CHUNK_EVENTS / perPost;
  const s3Poller = destinationPoller(pipeline, meter, 's3');
  const ebPoller = destinationPoller(pipeline, meter, 'eventBridge', DRAIN_WINDOW_SECONDS);
  const seconds = { ingest: 0, s3: 0, eventBridge: 0, drain: 0 };
  const durations: number[] = [];
  const cpu: number[] = [];
  let rejected = 0;
  let firstRejection: string | undefined;
  let next = 0;

  const post = async (body: string, sampled = false) => {
    const t = performance.now();
    const c = sampled ? process.cpuUsage() : undefined;
    const res = await postEvents(pipeline, meter, body, gateway);
    if (sampled && c) {
      durations.push(performance.now() - t);
      const used = process.cpuUsage(c);
      cpu.push((used.user + used.system) / 1000);
    }
    if (res.statusCode !== 202) {
      rejected += 1;
      firstRejection ??= `${res.statusCode} ${res.body.slice(0, 300)}`;
    }
  };

  meter.start();
  // API Gateway runs the authorizer before the first POST reaches ingest (then serves its cached
  // answer): run here, metered, before the sample, so that the sample times ingest alone.
  if (gateway === 'http') await authorizeProducer(pipeline);
  while (next < bodies.length) {
    const chunkEnd = Math.min(bodies.length, next + postsPerChunk);
    let t = performance.now();
    // The sample runs one POST at a time, alone (no drain runs during posting): its durations and CPU
    // times are one invocation's, not a share of several at once.
    while (durations.length < sampleSize && next < chunkEnd) await post(bodies[next++] as string, true);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < chunkEnd) await post(bodies[next++] as string);
      }),
    );
    seconds.ingest += (performance.now() - t) / 1000;
    // Both queues at once, as their two event source mappings would; each poller's calls and batches
    // are the same as one after the other.
    t = performance.now();
    const [s3Seconds, ebSeconds] = await Promise.all([
      timed(drain(meter, s3Poller)),
      timed(drain(meter, ebPoller)),
    ]);
    seconds.s3 += s3Seconds;
    seconds.eventBridge += ebSeconds;
    seconds.drain += (performance.now() - t) / 1000;
    progress(
      `  ${mode}: ${Math.min(events.length, next * perPost)}/${events.length} events ingested and delivered (${(seconds.ingest + seconds.drain).toFixed(0)} s: ingest ${seconds.ingest.toFixed(0)}, drains ${seconds.drain.toFixed(0)})`,
    );
  }
  const snapshot = meter.stop();

  const leftover: Record<string, number> = {};
  for (const [name, url] of [
    ['s3 queue', pipeline.s3.queueUrl],
    ['s3 dlq', pipeline.s3.dlqUrl],
    ['eventbridge queue', pipeline.eventBridge.queueUrl],
    ['eventbridge dlq', pipeline.eventBridge.dlqUrl],
  ] as const) {
    leftover[name] = await queueDepth(pipeline.sqs, url);
  }
  return {
    mode,
    gateway,
    events: events.length,
    posts: bodies.length,
    eventsPerPost: bodies.map((_, i) => Math.min(perPost, events.length - i * perPost)),
    httpApiRequests: bodies.reduce(
      (n, b) => n + Math.max(1, Math.ceil(Buffer.byteLength(b) / HTTP_API_METERING_BYTES)),
      0,
    ),
    rejected,
    ...(firstRejection ? { firstRejection } : {}),
    seconds,
    ingestSampleMs: durations,
    ingestSampleCpuMs: cpu,
    meter: snapshot,
    leftover,
  };
}

async function timed(work: Promise<void>): Promise<number> {
  const t = performance.now();
  await work;
  return (performance.now() - t) / 1000;
}

/** Runs batches until a receive finds the queue empty; the poller's own calls count as `esm`. */
async function drain(meter: AwsMeter, poller: QueuePoller): Promise<void> {
  for (;;) {
    const result = await meter.as('esm', () => poller.runOnce({ maxWaitSeconds: 1 }));
    if (result.received === 0) return;
  }
}

async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes: a = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}
