import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PushrailConfig, parseConfig, parseConfigText } from '../../lambdas/core/config.js';
import { queueNames } from '../../lambdas/core/resources.js';
import {
  indexRoutes,
  matchesEventType,
  type Route,
  route,
  routingTable,
} from '../../lambdas/core/routing.js';
import { seedEvent } from '../support/seed-event.js';

/** Routing: an event goes to the destinations of its customer whose eventTypes allow its type. */

const A = 'acct_8K2zRq';
const B = 'acct_Other99';
const PREFIX = 'pushrail-test';

function s3(id: string, customerExternalId: string, eventTypes?: string[]) {
  return {
    id,
    type: 'S3',
    customerExternalId,
    name: id,
    bucket: `bucket-${id}`,
    region: 'us-east-1',
    auth: { mode: 'ASSUME_ROLE', roleArn: 'arn:aws:iam::123456789012:role/W', externalId: 'ext-1' },
    ...(eventTypes ? { eventTypes } : {}),
  };
}

const config: PushrailConfig = parseConfig({
  vendor: 'acme',
  destinations: [
    s3('all-a', A),
    s3('exact-a', A, ['order.completed']),
    s3('prefix-a', A, ['order.*']),
    s3('star-a', A, ['*']),
    s3('several-a', A, ['invoice.paid', 'refund.*']),
    s3('all-b', B),
  ],
});
const routes = routingTable(config, PREFIX);
const index = indexRoutes(routes);
const routedIds = (customerExternalId: string, eventType: string) =>
  route(index, { customerExternalId, eventType }).map((r) => r.destinationId);

describe('route', () => {
  it('sends the seed event to every destination of its customer that allows order.completed, in config order', () => {
    expect(route(index, seedEvent).map((r) => r.destinationId)).toEqual([
      'all-a',
      'exact-a',
      'prefix-a',
      'star-a',
    ]);
  });

  it.each([
    ['order.refunded', ['all-a', 'prefix-a', 'star-a']],
    ['order.completed.v2', ['all-a', 'prefix-a', 'star-a']],
    ['orders.created', ['all-a', 'star-a']],
    ['order', ['all-a', 'star-a']],
    ['Order.completed', ['all-a', 'star-a']],
    ['refund.issued', ['all-a', 'star-a', 'several-a']],
    ['invoice.paid', ['all-a', 'star-a', 'several-a']],
    ['invoice.paid.late', ['all-a', 'star-a']],
  ])('routes %s of the customer to %j', (eventType, expected) => {
    expect(routedIds(A, eventType)).toEqual(expected);
  });

  it("routes another customer's event only to that customer's destinations", () => {
    expect(routedIds(B, 'order.completed')).toEqual(['all-b']);
  });

  it('routes an event of a customer without destinations nowhere', () => {
    expect(routedIds('acct_Unknown', 'order.completed')).toEqual([]);
    expect(routedIds(`${A}2`, 'order.completed')).toEqual([]);
    expect(routedIds(A.toLowerCase(), 'order.completed')).toEqual([]);
  });

  it('routes no event of an unknown customer, whatever its type', () => {
    const known = new Set([A, B]);
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((c) => !known.has(c)),
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/),
        (customerExternalId, eventType) => {
          expect(route(index, { customerExternalId, eventType })).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('routes every event of a customer to its destinations without eventTypes', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/), (eventType) => {
        const ids = routedIds(A, eventType);
        expect(ids).toContain('all-a');
        expect(ids).toContain('star-a');
        expect(routedIds(B, eventType)).toEqual(['all-b']);
      }),
      { numRuns: 200 },
    );
  });

  it('routes the seed event to both destinations of the committed example config', () => {
    const example = parseConfigText(
      readFileSync(new URL('../../pushrail.config.json', import.meta.url), 'utf8'),
    );
    expect(route(indexRoutes(routingTable(example, PREFIX)), seedEvent).map((r) => r.destinationId)).toEqual([
      'acme-s3-archive',
      'acme-eventbridge',
    ]);
  });
});

describe('RouteIndex', () => {
  it("looks at the event's customer's routes only, however many destinations other customers have", () => {
    // Each route counts the reads of its customer and filter: routing an event may look at the
    // routes of its own customer, never at the 10,000 others (a scan would read every one).
    let reads = 0;
    const counted = (r: Route): Route => ({
      destinationId: r.destinationId,
      queueName: r.queueName,
      get customerExternalId() {
        reads += 1;
        return r.customerExternalId;
      },
      get eventTypes() {
        reads += 1;
        return r.eventTypes;
      },
    });
    const others = Array.from({ length: 10_000 }, (_, i) => ({
      destinationId: `other-${i}`,
      customerExternalId: `acct_${i}`,
      queueName: `${PREFIX}-other-${i}`,
    }));
    const big = indexRoutes([...others, ...routes].map(counted));
    reads = 0;
    expect(route(big, seedEvent).map((r) => r.destinationId)).toEqual([
      'all-a',
      'exact-a',
      'prefix-a',
      'star-a',
    ]);
    const ofA = routes.filter((r) => r.customerExternalId === A).length;
    expect(reads).toBeLessThanOrEqual(2 * ofA);
    expect(big.size).toBe(10_000 + routes.length);
    expect(big.ofDestination('other-42')?.customerExternalId).toBe('acct_42');
    expect(big.ofDestination('nope')).toBeUndefined();
  });
});

describe('matchesEventType', () => {
  it.each([
    ['*', 'anything.at_all', true],
    ['order.completed', 'order.completed', true],
    ['order.completed', 'order.completed2', false],
    ['order.completed', 'order', false],
    ['order.*', 'order.completed', true],
    ['order.*', 'order.', true],
    ['order.*', 'order', false],
    ['order.*', 'orders.completed', false],
    ['order*', 'orders.completed', true],
  ])('matches pattern %s against %s: %s', (pattern, eventType, expected) => {
    expect(matchesEventType(pattern, eventType)).toBe(expected);
  });
});

describe('routingTable', () => {
  it('lists every destination in config order with its customer, filter and queue name from queueNames', () => {
    expect(routes).toEqual(
      config.destinations.map((d) => ({
        destinationId: d.id,
        customerExternalId: d.customerExternalId,
        ...(d.eventTypes ? { eventTypes: d.eventTypes } : {}),
        queueName: queueNames(PREFIX, d.id).queue,
      })),
    );
    expect(routes[2]).toEqual({
      destinationId: 'prefix-a',
      customerExternalId: A,
      eventTypes: ['order.*'],
      queueName: `${PREFIX}-prefix-a`,
    });
  });

  it('leaves eventTypes out when the destination takes every type', () => {
    expect(routes[0]).not.toHaveProperty('eventTypes');
  });

  it('refuses a name prefix that cannot prefix an SQS queue name', () => {
    expect(() => routingTable(config, 'bad prefix!')).toThrow(/name prefix/);
  });
});
