import { describe, expect, it, vi } from 'vitest';
import { buildIndex, RoutesUnavailableError, tableRoutes } from '../../lambdas/adapters/route-cache.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DesiredState, DestinationRecord } from '../../lambdas/core/destination-record.js';
import { route } from '../../lambdas/core/routing.js';
import { seedEvent } from '../support/seed-event.js';

/** The routing cache over the destinations table: one small read per refresh window when nothing changed. */

const PREFIX = 'pushrail-test';
const CUSTOMER: string = seedEvent.customerExternalId;

function record(
  id: string,
  desired: DesiredState = 'ACTIVE',
  customerExternalId = CUSTOMER,
): DestinationRecord {
  const [destination] = parseConfig({
    vendor: 'acme',
    destinations: [
      {
        id,
        type: 'S3',
        customerExternalId,
        name: id,
        bucket: `bucket-${id}`,
        region: 'us-east-1',
        auth: { mode: 'ASSUME_ROLE', roleArn: 'arn:aws:iam::123456789012:role/W', externalId: 'ext-1' },
      },
    ],
  }).destinations;
  if (!destination) throw new Error('no destination');
  return {
    destination,
    version: 1,
    desired,
    status: desired === 'DELETED' ? 'DELETING' : desired,
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    updatedBy: 'AKIATEST',
    queueUrl: `https://sqs.us-east-1.amazonaws.com/123456789012/${PREFIX}-${id}`,
  };
}

/** A fake DestinationStore whose catalog version and records the test sets, counting the reads. */
function fakeStore(initial: DestinationRecord[]) {
  const state = { version: 1, records: initial, failing: false };
  const store = {
    catalogVersion: vi.fn(async () => {
      if (state.failing) throw new Error('ProvisionedThroughputExceededException');
      return state.version;
    }),
    list: vi.fn(async () => {
      if (state.failing) throw new Error('ProvisionedThroughputExceededException');
      return state.records;
    }),
  };
  const change = (records: DestinationRecord[]) => {
    state.records = records;
    state.version += 1;
  };
  return { store, state, change };
}

function setup(records: DestinationRecord[], refreshSeconds = 5) {
  const fake = fakeStore(records);
  const clock = { t: 1_000_000 };
  const logger = { info: vi.fn(), warn: vi.fn() };
  const routes = tableRoutes({
    store: fake.store,
    namePrefix: PREFIX,
    refreshSeconds,
    logger,
    now: () => clock.t,
  });
  const routedIds = async () => route(await routes(), seedEvent).map((r) => r.destinationId);
  return { ...fake, clock, logger, routes, routedIds };
}

describe('tableRoutes', () => {
  it('reads the catalog version once per refresh window when nothing changed, and lists only once', async () => {
    const t = setup([record('a')]);
    expect(await t.routedIds()).toEqual(['a']);
    expect(t.store.catalogVersion).toHaveBeenCalledTimes(1);
    expect(t.store.list).toHaveBeenCalledTimes(1);

    // Within the window: no read at all, however many requests.
    for (let i = 0; i < 50; i += 1) {
      t.clock.t += 90;
      await t.routes();
    }
    expect(t.clock.t - 1_000_000).toBeLessThan(5_000);
    expect(t.store.catalogVersion).toHaveBeenCalledTimes(1);

    // Past the window, nothing changed: one small read, no list.
    t.clock.t = 1_000_000 + 5_000;
    expect(await t.routedIds()).toEqual(['a']);
    t.clock.t += 5_000;
    await t.routes();
    expect(t.store.catalogVersion).toHaveBeenCalledTimes(3);
    expect(t.store.list).toHaveBeenCalledTimes(1);
  });

  it('routes a change from the first request after the refresh window, and lists again only then', async () => {
    const t = setup([record('a')]);
    expect(await t.routedIds()).toEqual(['a']);
    t.change([record('a'), record('b')]);
    t.clock.t += 4_999;
    expect(await t.routedIds()).toEqual(['a']);
    t.clock.t += 1;
    expect(await t.routedIds()).toEqual(['a', 'b']);
    expect(t.store.list).toHaveBeenCalledTimes(2);
    expect(t.logger.info).toHaveBeenLastCalledWith(
      'routes loaded from the destinations table',
      expect.objectContaining({ catalogVersion: 2, destinations: 2, routed: 2 }),
    );
  });

  it('routes paused destinations (their events wait in the queue) but not a requested delete', async () => {
    const t = setup([record('active'), record('paused', 'PAUSED'), record('deleted', 'DELETED')]);
    expect(await t.routedIds()).toEqual(['active', 'paused']);
    expect((await t.routes()).ofDestination('deleted')).toBeUndefined();
  });

  it("routes by the destinations' customer and event types, with queue names from the name prefix", async () => {
    const t = setup([record('mine'), record('theirs', 'ACTIVE', 'acct_other')]);
    const index = await t.routes();
    expect(index.ofCustomer(CUSTOMER)).toEqual([
      { destinationId: 'mine', customerExternalId: CUSTOMER, queueName: `${PREFIX}-mine` },
    ]);
    expect(index.ofCustomer('acct_other').map((r) => r.destinationId)).toEqual(['theirs']);
  });

  it('keeps serving the last routes when a refresh fails, warns, and tries again a window later', async () => {
    const t = setup([record('a')]);
    expect(await t.routedIds()).toEqual(['a']);
    t.state.failing = true;
    t.clock.t += 5_000;
    expect(await t.routedIds()).toEqual(['a']);
    expect(t.logger.warn).toHaveBeenCalledWith(
      'could not refresh the routes; serving the last ones loaded',
      expect.objectContaining({ catalogVersion: 1 }),
    );
    // Not retried on every request while the table struggles: once per window.
    t.clock.t += 1_000;
    await t.routes();
    expect(t.store.catalogVersion).toHaveBeenCalledTimes(2);

    t.state.failing = false;
    t.change([record('a'), record('b')]);
    t.clock.t += 4_000;
    expect(await t.routedIds()).toEqual(['a', 'b']);
  });

  it('fails the request when no routes were ever loaded, and succeeds once the table answers', async () => {
    const t = setup([record('a')]);
    t.state.failing = true;
    const failure = t.routes();
    await expect(failure).rejects.toBeInstanceOf(RoutesUnavailableError);
    await expect(failure).rejects.toMatchObject({ cause: expect.any(Error) });
    t.state.failing = false;
    expect(await t.routedIds()).toEqual(['a']);
  });

  it('shares one refresh among concurrent requests', async () => {
    const t = setup([record('a')]);
    const answers = await Promise.all(Array.from({ length: 20 }, () => t.routes()));
    expect(new Set(answers).size).toBe(1);
    expect(t.store.catalogVersion).toHaveBeenCalledTimes(1);
    expect(t.store.list).toHaveBeenCalledTimes(1);
  });

  it('checks on every request with a refresh of 0 s, and refuses a bound over 30 s', async () => {
    const t = setup([record('a')], 0);
    await t.routes();
    await t.routes();
    expect(t.store.catalogVersion).toHaveBeenCalledTimes(2);
    expect(t.store.list).toHaveBeenCalledTimes(1);
    expect(() => setup([], 31)).toThrow(/refreshSeconds must be 0-30/);
  });
});

describe('buildIndex', () => {
  it('routes a destination only once its queue exists, and not after a delete was asked for', () => {
    const { queueUrl: _, ...provisioning } = record('new');
    const index = buildIndex([provisioning, record('ready'), record('going', 'DELETED')], PREFIX);
    expect(index.ofCustomer(CUSTOMER).map((r) => r.destinationId)).toEqual(['ready']);
  });

  it('orders routes by destination id, whatever order the table scan returned', () => {
    const index = buildIndex([record('c'), record('a'), record('b')], PREFIX);
    expect(index.ofCustomer(CUSTOMER).map((r) => r.destinationId)).toEqual(['a', 'b', 'c']);
  });
});
