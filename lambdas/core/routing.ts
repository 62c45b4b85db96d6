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

/** The routing table for a config, in config order. Queue names come from the one naming rule. */
export function routingTable(config: PushrailConfig, namePrefix: string): Route[] {
  return config.destinations.map((d) => ({
    destinationId: d.id,
    customerExternalId: d.customerExternalId,
    ...(d.eventTypes ? { eventTypes: d.eventTypes } : {}),
    queueName: queueNames(namePrefix, d.id).queue,
  }));
}

/** Whether an `eventTypes` entry matches an event type. */
export function matchesEventType(pattern: string, eventType: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}

/** The routes an event goes to: same customer, and its type allowed by the route's filter. */
export function route(
  routes: readonly Route[],
  event: { readonly customerExternalId: string; readonly eventType: string },
): Route[] {
  return routes.filter(
    (r) =>
      r.customerExternalId === event.customerExternalId &&
      (r.eventTypes === undefined || r.eventTypes.some((p) => matchesEventType(p, event.eventType))),
  );
}
