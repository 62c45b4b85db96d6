import type { Logger } from '@aws-lambda-powertools/logger';
import { type DestinationRecord, isRouted } from '../core/destination-record.js';
import { indexRoutes, type Route, type RouteIndex, routesOf } from '../core/routing.js';
import type { DestinationStore } from './destination-store.js';

/**
 * Where the ingest function gets its routing table, once per request: the routes of every routed
 * destination, indexed by customer (core/routing.ts RouteIndex).
 */
export type RouteSource = () => Promise<RouteIndex>;

/** A fixed routing table: the one the CDK stack inlines into the bundle at synth. */
export function staticRoutes(routes: readonly Route[]): RouteSource {
  const index = indexRoutes(routes);
  return () => Promise.resolve(index);
}

/** The routes could not be read and none were ever loaded: the request cannot be routed. */
export class RoutesUnavailableError extends Error {
  public constructor(options?: ErrorOptions) {
    super('the routing table could not be read from the destinations table', options);
    this.name = 'RoutesUnavailableError';
  }
}

/** The longest a change may wait to reach routing: DESIGN.md "Management API" (within 30 s). */
export const MAX_REFRESH_SECONDS = 30;
export const DEFAULT_REFRESH_SECONDS = 5;

export interface RouteCacheOptions {
  readonly store: Pick<DestinationStore, 'catalogVersion' | 'list'>;
  /** Names the queues (core/resources.ts queueNames). */
  readonly namePrefix: string;
  /** How long routes are served without a look at the catalog version; at most MAX_REFRESH_SECONDS. */
  readonly refreshSeconds?: number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  /** Milliseconds, for tests. */
  readonly now?: () => number;
}

/**
 * The routing table from the destinations table, cached for the life of the container.
 *
 * A request more than `refreshSeconds` after the last check waits for one `catalogVersion()` read (a
 * GetItem on one small item): so routing is never staler than the bound, and a refresh when nothing
 * changed costs that one read. Only a new version costs the Scan (`list()`) and the rebuild. The
 * version is read before the list, so a change made between the two is at worst listed early and
 * listed again at the next refresh — never missed.
 *
 * A failed refresh keeps serving the last good routes (a DynamoDB blip must not turn into 5xx for
 * every producer) and tries again after the next `refreshSeconds`; with no routes ever loaded there is
 * nothing safe to serve, so the request fails (RoutesUnavailableError → 503, retry with the same key).
 * Concurrent requests share one refresh in flight.
 */
export function tableRoutes(options: RouteCacheOptions): RouteSource {
  const refreshSeconds = options.refreshSeconds ?? DEFAULT_REFRESH_SECONDS;
  if (!(refreshSeconds >= 0 && refreshSeconds <= MAX_REFRESH_SECONDS))
    throw new Error(`refreshSeconds must be 0-${MAX_REFRESH_SECONDS}; received ${refreshSeconds}`);
  const refreshMs = refreshSeconds * 1000;
  const now = options.now ?? Date.now;
  let loaded: { index: RouteIndex; version: number } | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<RouteIndex> | undefined;

  async function refresh(): Promise<RouteIndex> {
    // The time before the read: what it returns is at least this fresh.
    const startedAt = now();
    try {
      const version = await options.store.catalogVersion();
      if (loaded && loaded.version === version) {
        checkedAt = startedAt;
        return loaded.index;
      }
      const records = await options.store.list();
      const index = buildIndex(records, options.namePrefix);
      loaded = { index, version };
      checkedAt = startedAt;
      options.logger.info('routes loaded from the destinations table', {
        catalogVersion: version,
        destinations: records.length,
        routed: index.size,
      });
      return index;
    } catch (error) {
      if (!loaded) throw new RoutesUnavailableError({ cause: error });
      // Wait a full period before trying again: a struggling table is not hit on every request.
      checkedAt = startedAt;
      options.logger.warn('could not refresh the routes; serving the last ones loaded', {
        catalogVersion: loaded.version,
        error,
      });
      return loaded.index;
    }
  }

  return () => {
    if (loaded && now() - checkedAt < refreshMs) return Promise.resolve(loaded.index);
    inFlight ??= refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

/** The routes of the records ingest routes to (isRouted: provisioned ones, paused too, a requested delete not). */
export function buildIndex(records: readonly DestinationRecord[], namePrefix: string): RouteIndex {
  // The table has no order. Oldest first, then by id, gives every container the same order for the
  // same table, and keeps the order the destinations were added in (a config file's, at start).
  const key = (r: DestinationRecord) => `${r.createdAt}\u0000${r.destination.id}`;
  const routed = records
    .filter(isRouted)
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
    .map((r) => r.destination);
  return indexRoutes(routesOf(routed, namePrefix));
}
