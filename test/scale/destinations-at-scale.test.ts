import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import pMap from 'p-map';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { INGEST_ENV } from '../../lambdas/core/function-env.js';
import { queueNames } from '../../lambdas/core/resources.js';
import { apiDestinations } from '../support/api-destinations.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { startIngestHarness } from '../support/ingest-harness.js';
import { call } from '../support/management.js';
import { peekQueue } from '../support/queues.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Issue 11: "1,000 destinations created through the API, routing still correct, with the time it
 * took". 250 customers × 4 destinations (both kinds, half of them with `eventTypes` filters) are
 * POSTed to the real management handler at the concurrency a vendor's backend would use, converged
 * by the real provisioner's reconcile (real queues and DLQs on moto; the MappingPort only records
 * what it was asked, as there is no Lambda to map onto), then events of a sample of customers go
 * through the real ingest handler routing from the destinations table, and every one of the 1,000
 * queues holds exactly what it should. It prints the time of each phase and the ingest handler's
 * reads of the table (a refresh when nothing changed: one small GetItem, no Scan).
 */

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';

const CUSTOMERS = Number(process.env.SCALE_CUSTOMERS ?? 250);
/** The backend's requests in flight at once (a worker pool onboarding customers). */
const CREATE_CONCURRENCY = 10;
const REFRESH_SECONDS = 1;
/** Every SAMPLE_EVERY-th customer gets events. */
const SAMPLE_EVERY = 10;
const REGION = 'us-east-1';
const EVENT_TYPES = ['invoice.paid', 'order.created', 'user.signed_up', 'page.viewed'] as const;
type EventType = (typeof EVENT_TYPES)[number];

const customerId = (i: number) => `acct_scale_${String(i).padStart(3, '0')}`;
const account = (i: number) => String(100_000_000_000 + i);

/** Customer i's four destinations, as the vendor's backend POSTs them. */
function bodiesOf(i: number): Record<string, unknown>[] {
  const c = `c${String(i).padStart(3, '0')}`;
  const role = (name: string) => ({
    mode: 'ASSUME_ROLE',
    roleArn: `arn:aws:iam::${account(i)}:role/${name}`,
  });
  const bus = `arn:aws:events:${REGION}:${account(i)}:event-bus/pushrail-${c}`;
  return [
    {
      id: `${c}-lake`,
      type: 'S3',
      name: 'data lake',
      customerExternalId: customerId(i),
      bucket: `lake-${c}`,
      region: REGION,
      auth: { ...role('PushrailWriter'), externalId: `ext-${c}` },
    },
    {
      // Even customers take every type on their bus; odd ones only their invoices.
      id: `${c}-bus`,
      type: 'EVENTBRIDGE',
      name: 'bus',
      customerExternalId: customerId(i),
      busArn: bus,
      region: REGION,
      ...(i % 2 === 1 ? { eventTypes: ['invoice.*'] } : {}),
      auth: { ...role('PushrailEventBridgeWriter'), externalId: `ext-${c}` },
    },
    {
      // No externalId: Pushrail generates one.
      id: `${c}-audit`,
      type: 'S3',
      name: 'audit archive',
      customerExternalId: customerId(i),
      bucket: `audit-${c}`,
      keyPrefix: 'audit/',
      region: REGION,
      eventTypes: ['user.signed_up', 'invoice.paid'],
      auth: role('PushrailWriter'),
    },
    {
      id: `${c}-orders`,
      type: 'EVENTBRIDGE',
      name: 'orders bus',
      customerExternalId: customerId(i),
      busArn: bus,
      region: REGION,
      eventTypes: ['order.*'],
      auth: { ...role('PushrailEventBridgeWriter'), externalId: `ext-${c}` },
    },
  ];
}

/** Where an event of customer i must go, written out from the definitions above. */
function expectedRoutes(i: number, eventType: EventType): string[] {
  const c = `c${String(i).padStart(3, '0')}`;
  const even = i % 2 === 0;
  const routes: Record<EventType, string[]> = {
    'invoice.paid': ['lake', 'bus', 'audit'],
    'order.created': ['lake', 'orders', ...(even ? ['bus'] : [])],
    'user.signed_up': ['lake', 'audit', ...(even ? ['bus'] : [])],
    'page.viewed': ['lake', ...(even ? ['bus'] : [])],
  };
  return routes[eventType].map((name) => `${c}-${name}`).sort();
}

const customers = Array.from({ length: CUSTOMERS }, (_, i) => i);
const bodies = customers.flatMap(bodiesOf);
const destinationIds = bodies.map((b) => String(b.id));

let proxy: FaultProxy | undefined;
afterAll(async () => {
  await proxy?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => Math.round(ms / 100) / 10;
/** Each phase takes minutes on moto: say where the run is. */
const progress = (message: string) => console.log(`destinations-at-scale: ${message}`);

describe('1,000 destinations created through the management API', () => {
  it(`${bodies.length} destinations of ${CUSTOMERS} customers: created, converged, routed exactly`, {
    timeout: 3_600_000,
  }, async () => {
    expect(bodies).toHaveLength(CUSTOMERS * 4);
    const moto = inject('awsEndpoint');
    const target = { endpoint: moto, region: REGION };
    // In front of the ingest handler only: its reads of the destinations table are counted.
    proxy = await FaultProxy.start(moto);
    const harness = await startIngestHarness({
      // Vendor-level settings only: with table routing its destinations are not provisioned.
      config: parseConfig({ vendor: 'acme', destinations: bodiesOf(0).slice(0, 1) }),
      awsEndpoint: moto,
      handlerEndpoint: proxy.endpoint,
      routesFromTable: true,
      env: { [INGEST_ENV.routesRefreshSeconds]: String(REFRESH_SECONDS) },
    });
    const api = apiDestinations({
      target,
      tables: harness.tables,
      namePrefix: harness.namePrefix,
      accountId: harness.accountId,
    });
    const figures: Record<string, number | string> = { destinations: bodies.length, customers: CUSTOMERS };

    // --- Create: the vendor's backend POSTs every destination.
    let started = Date.now();
    let retries = 0;
    // A 503 says "retry" (DESIGN.md Management API): the backend does, after a short pause. On moto it
    // comes often: moto deep-copies both tables for every TransactWriteItems, and concurrent ones on
    // one table race (a 500 HTML page); on DynamoDB the same burst meets TransactionConflict on the
    // catalog item, which every write bumps.
    const create = async (body: Record<string, unknown>) => {
      for (let attempt = 1; ; attempt += 1) {
        const answer = await call(api.management, 'POST', '/v1/destinations', { body });
        if (answer.statusCode !== 503 || attempt === 20) return answer;
        retries += 1;
        await sleep(50 * attempt);
      }
    };
    const answers = await pMap(bodies, create, { concurrency: CREATE_CONCURRENCY });
    figures.createRetries = retries;
    figures.createSeconds = seconds(Date.now() - started);
    progress(`created in ${figures.createSeconds} s (${retries} retries)`);
    const refused = answers.filter((a) => a.statusCode !== 201);
    expect(
      refused.slice(0, 3).map((a) => a.raw),
      `${refused.length} creates refused`,
    ).toEqual([]);
    // The generated ExternalIds come back with the customer's setup; each is unique.
    const generated = answers.filter((a) => String(a.body.id).endsWith('-audit'));
    expect(generated.every((a) => a.body.customerSetup !== undefined)).toBe(true);
    expect(new Set(generated.map((a) => a.body.auth.externalId)).size).toBe(CUSTOMERS);
    expect(new Set(api.takeNotified())).toEqual(new Set(destinationIds));

    // --- Converge: the provisioner's reconcile creates every queue and DLQ and ensures every mapping.
    started = Date.now();
    await api.provisioner.reconcileAll();
    figures.convergeSeconds = seconds(Date.now() - started);
    progress(`converged in ${figures.convergeSeconds} s`);
    const store = new DestinationStore(
      new DynamoDBClient({ endpoint: moto }),
      harness.tables.destinations as string,
    );
    const records = await store.list();
    expect(records).toHaveLength(bodies.length);
    const notActive = records.filter((r) => r.status !== 'ACTIVE');
    expect(
      notActive.slice(0, 3).map((r) => `${r.destination.id}: ${r.status} ${r.statusReason ?? ''}`),
    ).toEqual([]);
    expect(api.mapped.size).toBe(bodies.length);
    expect([...api.mapped.values()].every((m) => m.enabled)).toBe(true);
    for (const r of records) {
      const names = queueNames(harness.namePrefix, r.destination.id);
      expect(r.queueUrl?.endsWith(`/${names.queue}`), r.destination.id).toBe(true);
      expect(api.mapped.get(r.destination.id)?.queue.queueUrl).toBe(r.queueUrl);
    }

    // --- Route: events of every SAMPLE_EVERY-th customer, one request per customer, one of each type.
    const sampled = customers.filter((i) => i % SAMPLE_EVERY === 3);
    const expectedKeys = new Map<string, Set<string>>(destinationIds.map((id) => [id, new Set<string>()]));
    const requestMs: number[] = [];
    const firstReads = { catalog: 0, scans: 0 };
    for (const [n, i] of sampled.entries()) {
      const events = EVENT_TYPES.map((eventType) => ({
        ...seedEvent,
        customerExternalId: customerId(i),
        eventType,
        idempotencyKey: `scale-${harness.namePrefix}-${i}-${eventType}`,
      }));
      const at = Date.now();
      const res = await post(harness.handler, { events }, n);
      requestMs.push(Date.now() - at);
      if (n === 0) {
        firstReads.catalog = catalogReads(proxy);
        firstReads.scans = proxy.calls('DynamoDB.Scan').length;
      }
      expect(res.statusCode, res.body).toBe(202);
      const results = (JSON.parse(res.body) as { results: { destinations: string[] }[] }).results;
      results.forEach((result, k) => {
        const event = events[k] as (typeof events)[number];
        expect([...result.destinations].sort(), `${customerId(i)} ${event.eventType}`).toEqual(
          expectedRoutes(i, event.eventType),
        );
        for (const id of result.destinations) expectedKeys.get(id)?.add(event.idempotencyKey);
      });
    }
    figures.firstRoutingRequestMs = requestMs[0] ?? 0;
    figures.laterRequestMsMedian =
      [...requestMs.slice(1)].sort((a, b) => a - b)[Math.floor(requestMs.length / 2)] ?? 0;
    figures.firstRefreshCatalogReads = firstReads.catalog;
    figures.firstRefreshScans = firstReads.scans;
    // The first refresh reads the catalog version, then lists the table once.
    expect(firstReads).toEqual({ catalog: 1, scans: 1 });
    const scansDuringRun = proxy.calls('DynamoDB.Scan').length;
    figures.scansDuringRun = scansDuringRun;
    expect(scansDuringRun).toBe(1);

    // A refresh when nothing changed: one small read of the catalog item, no Scan.
    await sleep(REFRESH_SECONDS * 1000 + 100);
    proxy.requests.length = 0;
    const idle = await post(
      harness.handler,
      { ...seedEvent, customerExternalId: 'acct_nobody', idempotencyKey: `idle-${harness.namePrefix}` },
      999,
    );
    expect(idle.statusCode).toBe(202);
    figures.idleRefreshCatalogReads = catalogReads(proxy);
    figures.idleRefreshScans = proxy.calls('DynamoDB.Scan').length;
    expect(catalogReads(proxy)).toBe(1);
    expect(proxy.calls('DynamoDB.Scan')).toHaveLength(0);

    // --- Every one of the 1,000 queues holds exactly the events routed to it: none elsewhere.
    const sqs = new SQSClient({ endpoint: moto, region: REGION });
    started = Date.now();
    const depths = await pMap(
      records,
      async (r) => {
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: r.queueUrl as string,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        return [
          r.destination.id,
          Number(Attributes?.ApproximateNumberOfMessages) +
            Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
        ] as const;
      },
      { concurrency: 10 },
    );
    const wrongDepth = depths.filter(([id, depth]) => depth !== expectedKeys.get(id)?.size);
    expect(wrongDepth.slice(0, 5)).toEqual([]);
    const routedTo = [...expectedKeys].filter(([, keys]) => keys.size > 0);
    for (const [id, keys] of routedTo) {
      const record = records.find((r) => r.destination.id === id);
      const bodies = (await peekQueue(sqs, record?.queueUrl as string)).map((m) =>
        JSON.parse(m.Body ?? '{}'),
      );
      expect(new Set(bodies.map((b) => String(b.idempotencyKey))), id).toEqual(keys);
    }
    figures.queuesChecked = depths.length;
    figures.queuesWithEvents = routedTo.length;
    figures.checkSeconds = seconds(Date.now() - started);
    console.log(
      `destinations-at-scale: ${Object.entries(figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    sqs.destroy();
    api.stop();
  });
});

function catalogReads(p: FaultProxy): number {
  return p.calls('DynamoDB.GetItem').filter((r) => r.body.includes('"catalog"')).length;
}

async function post(
  handler: (event: APIGatewayProxyEvent, context: Context) => Promise<{ statusCode: number; body: string }>,
  body: unknown,
  n: number,
): Promise<{ statusCode: number; body: string }> {
  return handler(
    {
      httpMethod: 'POST',
      path: '/v1/events',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      isBase64Encoded: false,
      requestContext: { requestId: `scale-${n}`, identity: { apiKey: 'k', apiKeyId: 'key-id' } },
    } as unknown as APIGatewayProxyEvent,
    {
      awsRequestId: `scale-${n}`,
      functionName: 'pushrail-ingest',
      getRemainingTimeInMillis: () => 29_000,
    } as unknown as Context,
  );
}
