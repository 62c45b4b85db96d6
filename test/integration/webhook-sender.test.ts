import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventStore } from '../../lambdas/adapters/event-store.js';
import type { Resolver } from '../../lambdas/adapters/webhook-http.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { DELIVERY_ENV } from '../../lambdas/core/function-env.js';
import { webhookId } from '../../lambdas/core/webhook-signing.js';
import { createDeliveryHandler } from '../../lambdas/destinations/webhook/handler.js';
import type { EmulatorTarget } from '../../local/aws-clients.js';
import { localMappingsEnvironment } from '../../local/local-mappings.js';
import { provision } from '../../local/provision.js';
import { QueuePoller } from '../../local/queue-poller.js';
import { queueArn } from '../../local/queues.js';
import { type RuntimeDestinations, startRuntimeDestinations } from '../../local/runtime-destinations.js';
import { storeAndEnqueue } from '../support/enqueue.js';
import { call } from '../support/management.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The webhook sender against a real HTTP receiver (node:http on 127.0.0.1), with the local runtime's
 * wiring on moto: destinations created through the management handler, converged by the provisioner,
 * delivered by pollers running the real webhook handler (loopback allowed: the local runtime's
 * switch). The SSRF tests run the same handler without that switch, with an injected resolver.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const namePrefix = `it-wh-${RUN}`;
const API_KEY = `key-${RUN}-0123456789`;

interface Received {
  readonly path: string;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** What the receiver answers on a path: a status (with headers), or no answer at all. */
type Behaviour = (
  request: Received,
  n: number,
) => { status: number; headers?: Record<string, string>; body?: string } | 'hang';

const received: Received[] = [];
const behaviours = new Map<string, Behaviour>();
let server: Server;
let port: number;
let runtime: RuntimeDestinations;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let events: EventStore;
let tables: Readonly<Record<string, string>>;
const target = (): EmulatorTarget => ({ endpoint: inject('awsEndpoint'), region: REGION });

const api = (method: string, url: string, options?: Parameters<typeof call>[3]) =>
  call(runtime.managementHandler, method, url, options);

const hook = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'WEBHOOK',
  name: `Webhook ${id}`,
  customerExternalId: `acct_${RUN}`,
  url: `http://127.0.0.1:${port}/${id}?token=q-${RUN}`,
  headers: { 'X-Tenant': 'acme' },
  auth: { mode: 'API_KEY', header: 'X-Api-Key', value: API_KEY },
  flushIntervalSec: 0,
  timeoutSec: 2,
  ...extra,
});

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates a webhook through the API and waits for it to be ACTIVE: its signing secret and queues. */
async function createHook(
  id: string,
  extra: Record<string, unknown> = {},
): Promise<{ secret: string; queueUrl: string; dlqUrl: string }> {
  const created = await api('POST', '/v1/destinations', { body: hook(id, extra) });
  expect(created.statusCode, created.raw).toBe(201);
  const secret = created.body.signingSecret as string;
  const view = await until(`${id} ACTIVE`, async () => {
    const got = await api('GET', `/v1/destinations/${id}`);
    return got.body.status === 'ACTIVE' ? got.body : undefined;
  });
  return { secret, queueUrl: view.queueUrl as string, dlqUrl: view.dlqUrl as string };
}

let sequence = 0;
/** Stores events and puts them on a destination's queue, as ingest does; answers their records. */
async function enqueue(
  id: string,
  queueUrl: string,
  count: number,
  payloadBytes = 10,
): Promise<EventRecord[]> {
  const receivedAt = new Date().toISOString();
  const records = Array.from({ length: count }, () => {
    sequence += 1;
    const idempotencyKey = `wh-${RUN}-${sequence}`;
    const customerExternalId = `acct_${RUN}`;
    return {
      ...seedEvent,
      customerExternalId,
      idempotencyKey,
      payload: { ...seedEvent.payload, filler: 'x'.repeat(payloadBytes) },
      eventId: deriveEventId(customerExternalId, idempotencyKey),
      receivedAt,
    } as EventRecord;
  });
  await storeAndEnqueue({ events, sqs }, queueUrl, id, records);
  return records;
}

const requestsTo = (id: string) => received.filter((r) => r.path.startsWith(`/${id}`));
const eventIdsOf = (r: Received) =>
  (JSON.parse(r.body) as { events: { eventId: string }[] }).events.map((e) => e.eventId);

async function attemptsOf(id: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await dynamodb.send(
    new QueryCommand({
      TableName: tables.attempts,
      KeyConditionExpression: 'destinationId = :d',
      ExpressionAttributeValues: { ':d': { S: id } },
    }),
  );
  return Items.map((i) => unmarshall(i));
}

async function depth(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = {
        path: req.url ?? '',
        method: req.method ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      received.push(request);
      const key = [...behaviours.keys()].find((k) => request.path.startsWith(`/${k}`));
      const behaviour = key ? behaviours.get(key) : undefined;
      const n = key ? requestsTo(key).length : 0;
      const answer = behaviour ? behaviour(request, n) : { status: 200 };
      if (answer === 'hang') return; // never answers: the sender's timeout must end it
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;

  process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
  const config = parseConfig({ vendor: 'acme', destinations: [] });
  ({ tables } = await provision({ config, namePrefix, target: target() }));
  sqs = new SQSClient({ endpoint: inject('awsEndpoint'), region: REGION });
  dynamodb = new DynamoDBClient({ endpoint: inject('awsEndpoint'), region: REGION });
  events = new EventStore(dynamodb, tables.events as string);
  runtime = startRuntimeDestinations({
    config,
    namePrefix,
    target: target(),
    tables,
    accountId: ACCOUNT,
    onChange: () => undefined,
    warn: () => undefined,
    // No jitter: a retry comes back after the receiver's Retry-After, or at once.
    handlerOptions: { random: () => 0, catalogCheckMs: 1_000 },
  });
  await runtime.applyConfig('test');
});

afterAll(async () => {
  await runtime?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  sqs?.destroy();
  dynamodb?.destroy();
});

describe('the webhook sender, against a local receiver', () => {
  it('posts signed batches within maxEvents and batchSizeKb; every event arrives and every signature verifies', async () => {
    const { secret, queueUrl } = await createHook('batches', { maxEvents: 3, batchSizeKb: 2 });
    // About 700 bytes each: at most two fit 2 KiB, though three would fit maxEvents.
    const sent = await enqueue('batches', queueUrl, 10, 400);
    const want = new Set(sent.map((r) => r.eventId));
    await until('every event', () =>
      want.size > 0 && [...want].every((id) => requestsTo('batches').some((r) => eventIdsOf(r).includes(id)))
        ? true
        : undefined,
    );
    const verifier = new Webhook(secret);
    for (const request of requestsTo('batches')) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe(`/batches?token=q-${RUN}`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-tenant']).toBe('acme');
      expect(request.headers['x-api-key']).toBe(API_KEY);
      const ids = eventIdsOf(request);
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.length).toBeLessThanOrEqual(3);
      expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(2 * 1024);
      expect(request.headers['webhook-id']).toBe(webhookId(ids));
      const verified = verifier.verify(request.body, request.headers as Record<string, string>) as {
        events: EventRecord[];
      };
      for (const event of verified.events) {
        expect(event).toMatchObject({
          eventId: expect.any(String),
          receivedAt: expect.any(String),
          eventType: seedEvent.eventType,
        });
      }
    }
    // The attempt: status, latency, URL without its query string.
    const attempts = await attemptsOf('batches');
    const delivered = attempts.filter((a) => a.outcome === 'delivered');
    expect(delivered.length).toBe(requestsTo('batches').length);
    for (const a of delivered) {
      expect(a).toMatchObject({
        httpStatus: 200,
        target: `http://127.0.0.1:${port}/batches`,
        latencyMs: expect.any(Number),
      });
    }
    expect(JSON.stringify(attempts)).not.toContain(API_KEY);
    expect(JSON.stringify(attempts)).not.toContain(`q-${RUN}`);
  });

  it('retries 503s (honouring Retry-After) with the same webhook-id, then delivers; the DLQ stays empty', async () => {
    behaviours.set('flaky', (_r, n) =>
      n <= 2
        ? { status: 503, headers: { 'Retry-After': '1' }, body: 'busy, try later' }
        : { status: 200, body: '{"ok":false}' },
    );
    const { queueUrl, dlqUrl } = await createHook('flaky');
    const [event] = await enqueue('flaky', queueUrl, 1);
    await until('a 200', () => (requestsTo('flaky').length >= 3 ? true : undefined));
    const ids = requestsTo('flaky').map((r) => r.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set([webhookId([event?.eventId as string])]));
    await until('the queue drained', async () => ((await depth(queueUrl)) === 0 ? true : undefined));
    expect(await depth(dlqUrl)).toBe(0);
    const attempts = await attemptsOf('flaky');
    const failed = attempts.filter((a) => a.outcome === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed[0]).toMatchObject({
      httpStatus: 503,
      errorCode: 'HTTP503',
      failureClass: 'transient',
      responseBody: 'busy, try later',
    });
    // A 200 with an error body is success.
    expect(attempts.some((a) => a.outcome === 'delivered' && a.httpStatus === 200)).toBe(true);
  });

  it('dead-letters on a 401 at once, with the reason', async () => {
    behaviours.set('denied', () => ({ status: 401, body: 'invalid api key' }));
    const { queueUrl, dlqUrl } = await createHook('denied');
    await enqueue('denied', queueUrl, 2);
    const messages = await until('the DLQ', async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 1,
        }),
      );
      return Messages.length > 0 ? Messages : undefined;
    });
    const attributes = messages[0]?.MessageAttributes ?? {};
    expect(attributes['pushrail.errorCode']?.StringValue).toBe('HTTP4xx');
    expect(attributes['pushrail.failureClass']?.StringValue).toBe('permanent');
    expect(attributes['pushrail.reason']?.StringValue).toContain('HTTP 401');
    expect(attributes['pushrail.reason']?.StringValue).not.toContain(`q-${RUN}`);
    expect(requestsTo('denied')).toHaveLength(1);
  });

  it('pauses the destination on a 410, with the reason, audited as Pushrail itself', async () => {
    behaviours.set('gone', () => ({ status: 410, body: 'endpoint removed' }));
    const { queueUrl } = await createHook('gone');
    await enqueue('gone', queueUrl, 1);
    const view = await until('PAUSED', async () => {
      const got = await api('GET', '/v1/destinations/gone');
      return got.body.status === 'PAUSED' ? got.body : undefined;
    });
    expect(view.statusReason).toContain('HTTP 410');
    const audit = await api('GET', '/v1/audit?destinationId=gone&action=destination.paused');
    expect(audit.body.entries).toEqual([
      expect.objectContaining({ who: 'pushrail', action: 'destination.paused' }),
    ]);
    // Events routed while paused wait in the queue; the resume ends the pause and its reason.
    const resumed = await api('POST', '/v1/destinations/gone/resume');
    expect(resumed.statusCode).toBe(200);
    const active = await until('ACTIVE again', async () => {
      const got = await api('GET', '/v1/destinations/gone');
      return got.body.status === 'ACTIVE' ? got.body : undefined;
    });
    expect(active.statusReason).toBeUndefined();
    await api('POST', '/v1/destinations/gone/pause');
  });

  it('ends a hanging request at timeoutSec as a transient WebhookTimeout', async () => {
    behaviours.set('hanging', (_r, n) => (n === 1 ? 'hang' : { status: 204 }));
    const { queueUrl, dlqUrl } = await createHook('hanging', { timeoutSec: 1 });
    await enqueue('hanging', queueUrl, 1);
    const timedOut = await until('the timeout attempt', async () =>
      (await attemptsOf('hanging')).find((a) => a.errorCode === 'WebhookTimeout'),
    );
    expect(timedOut).toMatchObject({ failureClass: 'transient', outcome: 'failed' });
    expect(timedOut.httpStatus).toBeUndefined();
    await until('delivered on the retry', async () =>
      (await attemptsOf('hanging')).some((a) => a.outcome === 'delivered') ? true : undefined,
    );
    expect(await depth(dlqUrl)).toBe(0);
  });

  it('signs with the old and the new secret after rotate-secret', async () => {
    const { secret: old, queueUrl } = await createHook('rotating');
    await enqueue('rotating', queueUrl, 1);
    await until('the first request', () => (requestsTo('rotating').length >= 1 ? true : undefined));
    expect(String(requestsTo('rotating')[0]?.headers['webhook-signature']).split(' ')).toHaveLength(1);
    const rotated = await api('POST', '/v1/destinations/rotating/rotate-secret');
    expect(rotated.statusCode, rotated.raw).toBe(200);
    const next = rotated.body.signingSecret as string;
    // The consumers see the new version within their catalog check (1 s here).
    await new Promise((r) => setTimeout(r, 2_000));
    await enqueue('rotating', queueUrl, 1);
    await until('the second request', () => (requestsTo('rotating').length >= 2 ? true : undefined));
    const second = requestsTo('rotating')[1] as Received;
    const signatures = String(second.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    for (const secret of [old, next]) {
      expect(() =>
        new Webhook(secret).verify(second.body, second.headers as Record<string, string>),
      ).not.toThrow();
    }
  });
});

describe('a webhook in trace and health (issue 13: "breaking the receiver shows up in trace and health")', () => {
  it('traces a delivery to the URL and its status; a receiver that starts refusing reads dead-lettered with the reason, and failing', async () => {
    let broken = false;
    behaviours.set('observed', () =>
      broken ? { status: 401, body: 'token revoked' } : { status: 200, body: 'ok' },
    );
    const { dlqUrl } = await createHook('observed');
    const view = await api('GET', '/v1/destinations/observed');
    const [good] = await enqueue('observed', view.body.queueUrl as string, 1);
    const delivered = await until('delivered in the trace', async () => {
      const got = await api('GET', `/v1/events/${good?.eventId}`);
      const d = got.body.deliveries?.[0];
      return d?.status === 'delivered' ? d : undefined;
    });
    expect(delivered).toMatchObject({
      destinationId: 'observed',
      type: 'WEBHOOK',
      target: `http://127.0.0.1:${port}/observed 200`,
      deliveredAt: expect.any(String),
    });
    expect(JSON.stringify(delivered)).not.toContain(`q-${RUN}`);

    broken = true;
    const [bad] = await enqueue('observed', view.body.queueUrl as string, 1);
    const failed = await until('dead-lettered in the trace', async () => {
      const got = await api('GET', `/v1/events/${bad?.eventId}`);
      const d = got.body.deliveries?.[0];
      return d?.status === 'dead-lettered' ? d : undefined;
    });
    expect(failed.reason).toContain('HTTP 401');
    expect(failed.attempts.at(-1)).toMatchObject({ outcome: 'dead-lettered', errorCode: 'HTTP4xx' });
    await until('the DLQ', async () => ((await depth(dlqUrl)) > 0 ? true : undefined));

    const health = await until('failing', async () => {
      const got = await api('GET', '/v1/destinations/observed/health');
      return got.body.status === 'failing' ? got.body : undefined;
    });
    expect(health).toMatchObject({
      type: 'WEBHOOK',
      delivered: 1,
      dlqDepth: 1,
      lastError: { errorCode: 'HTTP4xx', reason: expect.stringContaining('HTTP 401') },
    });
    expect(JSON.stringify(health)).not.toContain(`q-${RUN}`);
  });
});

describe('the SSRF check at dial time (loopback not allowed)', () => {
  /** The webhook handler as deployed: no local switch, with `resolve` as its DNS. */
  function deployedHandler(resolve: Resolver) {
    const env = {
      ...process.env,
      ...localMappingsEnvironment({ tables, namePrefix, vendor: 'acme', retentionDays: 7 }),
    };
    delete env[DELIVERY_ENV.localRuntime];
    return createDeliveryHandler(env, { resolve, random: () => 0 });
  }

  /** A destination whose poller is paused, so the test runs its own handler on its queue. */
  async function parked(id: string, host: string) {
    const made = await createHook(id, { url: `https://${host}:${port}/${id}` });
    const paused = await api('POST', `/v1/destinations/${id}/pause`);
    expect(paused.statusCode).toBe(200);
    await until(`${id} PAUSED`, async () =>
      (await api('GET', `/v1/destinations/${id}`)).body.status === 'PAUSED' ? true : undefined,
    );
    return made;
  }

  async function runOnce(id: string, queueUrl: string, resolve: Resolver) {
    const poller = new QueuePoller({
      sqs,
      queueUrl,
      queueArn: await queueArn(sqs, queueUrl),
      region: REGION,
      batchSize: 10,
      windowSeconds: 0,
      handler: deployedHandler(resolve),
      functionName: `${namePrefix}-ssrf-${id}`,
      waitSeconds: 2,
    });
    return poller.runOnce({ maxWaitSeconds: 5 });
  }

  const answering = (...answers: string[]): Resolver & { calls: number } => {
    const resolver = ((_host, _options, callback) => {
      const address = answers[Math.min(resolver.calls, answers.length - 1)] as string;
      resolver.calls += 1;
      callback(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
    }) as Resolver & { calls: number };
    resolver.calls = 0;
    return resolver;
  };

  it.each([
    ['loopback', '127.0.0.1'],
    ['the instance metadata address', '169.254.169.254'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
  ])('refuses a name that resolves to %s, permanently, as AddressNotAllowed', async (_what, address) => {
    const id = `ssrf-${address.replace(/[^0-9a-f]/g, '')}`.slice(0, 40);
    const { queueUrl, dlqUrl } = await parked(id, `hooks-${id}.example`);
    await enqueue(id, queueUrl, 1);
    const before = received.length;
    const result = await runOnce(id, queueUrl, answering(address));
    expect(result.received).toBe(1);
    expect(received.length).toBe(before);
    const [attempt] = (await attemptsOf(id)).filter((a) => a.outcome === 'failed');
    expect(attempt).toMatchObject({ errorCode: 'AddressNotAllowed', failureClass: 'permanent' });
    expect(await depth(dlqUrl)).toBe(1);
  });

  it('refuses a name whose answer changes between lookups (DNS rebinding): the address dialled is the one checked', async () => {
    const id = 'ssrf-rebind';
    const { queueUrl } = await parked(id, 'rebind.example');
    await enqueue(id, queueUrl, 1);
    // The first lookup (a check before sending, as a naive sender would make) sees a public address;
    // every later one answers loopback.
    const resolver = answering('93.184.216.34', '127.0.0.1');
    const check = await new Promise<string>((resolve) =>
      resolver('rebind.example', { all: true }, (_e, addresses) => resolve(addresses[0]?.address ?? '')),
    );
    expect(check).toBe('93.184.216.34');
    const before = received.length;
    await runOnce(id, queueUrl, resolver);
    expect(resolver.calls).toBeGreaterThanOrEqual(2);
    expect(received.length).toBe(before);
    const [attempt] = (await attemptsOf(id)).filter((a) => a.outcome === 'failed');
    expect(attempt).toMatchObject({ errorCode: 'AddressNotAllowed', failureClass: 'permanent' });
    expect(String(attempt?.errorMessage)).toContain('127.0.0.1');
  });

  it('refuses an IP-literal URL to loopback (no lookup happens for a literal)', async () => {
    const id = 'ssrf-literal';
    const { queueUrl } = await parked(id, '127.0.0.1');
    await enqueue(id, queueUrl, 1);
    const before = received.length;
    await runOnce(id, queueUrl, answering('93.184.216.34'));
    expect(received.length).toBe(before);
    const [attempt] = (await attemptsOf(id)).filter((a) => a.outcome === 'failed');
    expect(attempt).toMatchObject({ errorCode: 'AddressNotAllowed', failureClass: 'permanent' });
  });
});
