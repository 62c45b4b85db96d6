import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { AttemptLog, type AttemptRecord } from '../../lambdas/adapters/attempt-log.js';
import { DeliveriesReader } from '../../lambdas/adapters/deliveries-reader.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { parseFeedQuery } from '../../lambdas/core/deliveries-feed.js';
import { clientConfig } from '../../local/aws-clients.js';
import { type Provisioned, provision } from '../../local/provision.js';
import { localManagementEnvironment } from '../../local/runtime-destinations.js';
import { call, type Handler } from '../support/management.js';

/**
 * `GET /v1/deliveries` on moto, on the attempts table as the local runtime provisions it (with the
 * `feed` index): newest first across destinations and 10-minute buckets, a destination's own
 * partition, the filters, a cursor through every page, and the 400s naming the field.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const NAME_PREFIX = `feed-${RUN}`;
/** A fixed hour, so buckets are known: attempts every 4 minutes from 12:00 to 12:56. */
const T0 = Date.parse('2026-05-26T12:00:00.000Z');
const NOW = new Date(T0 + 60 * 60_000);

let provisioned: Provisioned;
let reader: DeliveriesReader;
let handler: Handler;
const written: { at: string; destinationId: string; outcome: string }[] = [];

beforeAll(async () => {
  const target = { endpoint: inject('awsEndpoint'), region: REGION };
  provisioned = await provision({
    config: parseConfig({ vendor: 'acme', destinations: [] }),
    namePrefix: NAME_PREFIX,
    target,
  });
  const dynamodb = new DynamoDBClient(clientConfig(target));
  const table = provisioned.tables.attempts as string;
  const customers: Record<string, string> = { 'feed-a': 'acct_a', 'feed-b': 'acct_b' };
  const log = new AttemptLog(dynamodb, table, 86_400, { customerOf: (id) => customers[id] });
  for (let i = 0; i < 15; i += 1) {
    const destinationId = i % 3 === 0 ? 'feed-b' : 'feed-a';
    const outcome = i % 5 === 4 ? 'dead-lettered' : 'delivered';
    const at = new Date(T0 + i * 4 * 60_000);
    const record: AttemptRecord = {
      destinationId,
      destinationType: 'S3',
      // A big batch: the feed lists its first ten ids and says how many.
      eventIds: Array.from({ length: i === 7 ? 25 : 1 }, (_, n) => `evt_${String(i).padStart(2, '0')}${n}`),
      outcome,
      ...(outcome === 'delivered'
        ? { latencyMs: 10 + i }
        : { errorCode: 'NoSuchBucket', errorMessage: 'gone' }),
    };
    await log.record(record, at);
    written.push({ at: at.toISOString(), destinationId, outcome });
  }
  reader = new DeliveriesReader(dynamodb, table);
  handler = createManagementHandler(
    localManagementEnvironment({
      tables: provisioned.tables,
      namePrefix: NAME_PREFIX,
      accountId: provisioned.accountId,
      target,
    }),
    { notify: () => undefined },
  );
});

function query(params: Parameters<typeof parseFeedQuery>[0]) {
  const parsed = parseFeedQuery({ to: NOW.toISOString(), ...params }, NOW);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.query;
}

/** Every page of a query, following its cursor. */
async function all(params: Parameters<typeof parseFeedQuery>[0]) {
  const out: { at: string; destinationId: string; outcome: string }[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await reader.read(query({ ...params, ...(cursor ? { cursor } : {}) }));
    out.push(
      ...page.deliveries.map((d) => ({ at: d.at, destinationId: d.destinationId, outcome: d.outcome })),
    );
    cursor = page.cursor;
    pages += 1;
  } while (cursor && pages < 50);
  return { out, pages };
}

const newestFirst = (rows: typeof written) => [...rows].sort((a, b) => b.at.localeCompare(a.at));

describe('GET /v1/deliveries on the attempts table', () => {
  it('answers the newest attempts of every destination first, from the feed index, in the contract shape', async () => {
    const page = await reader.read(query({ limit: '3' }));
    expect(page.deliveries.map((d) => d.at)).toEqual(
      newestFirst(written)
        .slice(0, 3)
        .map((w) => w.at),
    );
    expect(page.deliveries[0]).toMatchObject({
      destinationId: 'feed-a',
      type: 'S3',
      customerExternalId: 'acct_a',
      outcome: 'dead-lettered',
      errorCode: 'NoSuchBucket',
      reason: 'gone',
      eventIds: ['evt_140'],
      eventCount: 1,
    });
    // 13:00's bucket is empty, 12:50's has two, 12:40's the third: one Query each.
    expect(page.reads.queries).toBe(3);
    expect(page.cursor).toBeDefined();
    // A poll within a busy bucket is one Query.
    const busy = await reader.read(query({ limit: '2', to: new Date(T0 + 57 * 60_000).toISOString() }));
    expect(busy.deliveries).toHaveLength(2);
    expect(busy.reads).toEqual({ queries: 1, itemsRead: 2 });
  });

  it('walks back bucket by bucket through every page with the cursor, each attempt once', async () => {
    const { out, pages } = await all({ limit: '4', from: new Date(T0).toISOString() });
    expect(out).toEqual(newestFirst(written));
    expect(pages).toBeGreaterThan(3);
  });

  it('lists the first ten event ids of a big batch and counts them all', async () => {
    const page = await reader.read(
      query({ from: new Date(T0 + 28 * 60_000).toISOString(), to: new Date(T0 + 28 * 60_000).toISOString() }),
    );
    expect(page.deliveries).toHaveLength(1);
    expect(page.deliveries[0]?.eventIds).toHaveLength(10);
    expect(page.deliveries[0]?.eventCount).toBe(25);
  });

  it('reads one destination from its own partition, and filters by customer and outcome', async () => {
    const b = await all({ destinationId: 'feed-b', limit: '2', from: new Date(T0).toISOString() });
    expect(b.out).toEqual(newestFirst(written.filter((w) => w.destinationId === 'feed-b')));
    const deadA = await all({
      customerExternalId: 'acct_a',
      outcome: 'dead-lettered',
      from: new Date(T0).toISOString(),
    });
    expect(deadA.out).toEqual(
      newestFirst(written.filter((w) => w.destinationId === 'feed-a' && w.outcome === 'dead-lettered')),
    );
    const window = await all({
      from: new Date(T0 + 10 * 60_000).toISOString(),
      to: new Date(T0 + 20 * 60_000).toISOString(),
    });
    expect(window.out.map((w) => w.at)).toEqual(
      newestFirst(
        written.filter(
          (w) =>
            w.at >= new Date(T0 + 10 * 60_000).toISOString() &&
            w.at <= new Date(T0 + 20 * 60_000).toISOString(),
        ),
      ).map((w) => w.at),
    );
  });

  it('is served by the management handler, signed only, with a 400 naming each bad field', async () => {
    const ok = await call(
      handler,
      'GET',
      `/v1/deliveries?destinationId=feed-b&from=${new Date(T0).toISOString()}&to=${NOW.toISOString()}&limit=200`,
    );
    expect(ok.statusCode).toBe(200);
    expect(ok.body.deliveries).toHaveLength(5);
    expect((await call(handler, 'GET', '/v1/deliveries', { as: null })).statusCode).toBe(401);
    for (const [q, field] of [
      ['limit=201', 'limit'],
      ['limit=0', 'limit'],
      ['from=yesterday', 'from'],
      ['to=2026-05-26', 'to'],
      ['outcome=lost', 'outcome'],
      ['cursor=not-a-cursor', 'cursor'],
      ['nope=1', 'nope'],
    ] as const) {
      const answer = await call(handler, 'GET', `/v1/deliveries?${q}`);
      expect(answer.statusCode, q).toBe(400);
      expect(answer.body.error.code).toBe('VALIDATION_FAILED');
      expect(answer.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });
});
