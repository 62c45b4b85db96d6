import type { Destination } from '../destinations/index.js';
import type { PushrailConfig } from './config.js';
import { queueNames } from './resources.js';

/** What the ingest function needs to know of a destination to route an event to it. */
export interface Route {
  readonly destinationId: string;
  readonly customerExternalId: string;
  /** Exact event types, or prefixes ending in `*`; absent means every type. */
  readonly eventTypes?: readonly string[];
  readonly queueName: string;
}

/** The routes of some destinations, in their order. Queue names come from the one naming rule. */
export function routesOf(
  destinations: readonly Pick<Destination, 'id' | 'customerExternalId' | 'eventTypes'>[],
  namePrefix: string,
): Route[] {
  return destinations.map((d) => ({
    destinationId: d.id,
    customerExternalId: d.customerExternalId,
    ...(d.eventTypes ? { eventTypes: d.eventTypes } : {}),
    queueName: queueNames(namePrefix, d.id).queue,
  }));
}

/** The routing table for a config, in config order. */
export function routingTable(config: PushrailConfig, namePrefix: string): Route[] {
  return routesOf(config.destinations, namePrefix);
}

/**
 * Routes indexed by customer and by destination id, built once per routing table: routing an event
 * then costs O(its customer's destinations), not O(every destination of the deployment) — which
 * matters once destinations are runtime data (1,000 and more) rather than a handful in a config.
 */
export class RouteIndex {
  private readonly byCustomer = new Map<string, Route[]>();
  private readonly byId = new Map<string, Route>();

  public constructor(routes: Iterable<Route>) {
    for (const r of routes) {
      this.byId.set(r.destinationId, r);
      const list = this.byCustomer.get(r.customerExternalId);
      if (list) list.push(r);
      else this.byCustomer.set(r.customerExternalId, [r]);
    }
  }

  /** How many destinations are routed. */
  public get size(): number {
    return this.byId.size;
  }

  /** A customer's routes, in table order. */
  public ofCustomer(customerExternalId: string): readonly Route[] {
    return this.byCustomer.get(customerExternalId) ?? [];
  }

  /** The route to a destination, if it is routed. */
  public ofDestination(destinationId: string): Route | undefined {
    return this.byId.get(destinationId);
  }
}

/** Indexes a routing table (see RouteIndex). */
export function indexRoutes(routes: Iterable<Route>): RouteIndex {
  return new RouteIndex(routes);
}

/** Whether an `eventTypes` entry matches an event type. */
export function matchesEventType(pattern: string, eventType: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}

/** The routes an event goes to: same customer, and its type allowed by the route's filter. */
export function route(
  routes: RouteIndex,
  event: { readonly customerExternalId: string; readonly eventType: string },
): Route[] {
  return routes
    .ofCustomer(event.customerExternalId)
    .filter(
      (r) => r.eventTypes === undefined || r.eventTypes.some((p) => matchesEventType(p, event.eventType)),
    );
}
