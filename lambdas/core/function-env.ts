import type { DestinationType } from '../destinations/index.js';

/**
 * Names of the environment variables each function reads, shared by the CDK constructs that set them
 * and the local runtime that sets them for the same handlers.
 */
export const INGEST_ENV = {
  eventsTable: 'EVENTS_TABLE',
  idempotencyTable: 'IDEMPOTENCY_TABLE',
  /** Queue URL base ending in `/`; a destination's queue URL is this plus its queue name. */
  queueUrlBase: 'QUEUE_URL_BASE',
  /**
   * The routing table as JSON (core/routing.ts `Route[]`). In Lambda it is inlined into the bundle at
   * synth by esbuild `define` (environment variables are limited to 4 KB); locally it is a variable.
   */
  routes: 'PUSHRAIL_ROUTES',
  retentionDays: 'RETENTION_DAYS',
  /**
   * With NAME_PREFIX, routes come from this table (destinations at runtime) instead of PUSHRAIL_ROUTES.
   * Both are needed because the local runtime gives every function every table's variable.
   */
  destinationsTable: 'DESTINATIONS_TABLE',
  /** Prefixes the queue names of the destinations in the table (core/resources.ts queueNames). */
  namePrefix: 'NAME_PREFIX',
  /** How often a container checks the destinations table for changes, in seconds (0-30, default 5). */
  routesRefreshSeconds: 'ROUTES_REFRESH_SECONDS',
} as const;

/** Environment of a delivery function (lambdas/destinations/<kind>/handler.ts): one per destination. */
export const DELIVERY_ENV = {
  /** The destination's validated config entry, as JSON. */
  destination: 'DESTINATION',
  vendor: 'VENDOR',
  eventsTable: 'EVENTS_TABLE',
  sealsTable: 'SEALS_TABLE',
  attemptsTable: 'ATTEMPTS_TABLE',
  sourceQueueUrl: 'SOURCE_QUEUE_URL',
  dlqUrl: 'DLQ_URL',
  retentionDays: 'RETENTION_DAYS',
} as const;

/** The values a delivery function's environment is built from (tokens in CDK, strings locally). */
export interface DeliveryEnvValues {
  /** The validated destination config entry. */
  readonly destination: unknown;
  readonly vendor: string;
  readonly eventsTable: string;
  readonly sealsTable: string;
  readonly attemptsTable: string;
  readonly sourceQueueUrl: string;
  readonly dlqUrl: string;
  readonly retentionDays: number;
}

/** A delivery function's environment: the one mapping from values to variable names. */
export function deliveryEnvironment(values: DeliveryEnvValues): Record<string, string> {
  return {
    [DELIVERY_ENV.destination]: JSON.stringify(values.destination),
    [DELIVERY_ENV.vendor]: values.vendor,
    [DELIVERY_ENV.eventsTable]: values.eventsTable,
    [DELIVERY_ENV.sealsTable]: values.sealsTable,
    [DELIVERY_ENV.attemptsTable]: values.attemptsTable,
    [DELIVERY_ENV.sourceQueueUrl]: values.sourceQueueUrl,
    [DELIVERY_ENV.dlqUrl]: values.dlqUrl,
    [DELIVERY_ENV.retentionDays]: String(values.retentionDays),
  };
}

/** Environment of the replay function (one for the stack; it serves every destination). */
export const REPLAY_ENV = {
  eventsTable: 'EVENTS_TABLE',
  attemptsTable: 'ATTEMPTS_TABLE',
  queueUrlBase: 'QUEUE_URL_BASE',
  namePrefix: 'NAME_PREFIX',
  /** `id:TYPE` pairs, comma-separated: which destinations exist (40 × ~50 bytes fits the 4 KB limit). */
  destinations: 'DESTINATIONS',
  retentionDays: 'RETENTION_DAYS',
} as const;

/** Encodes the destination list for REPLAY_ENV.destinations. */
export function encodeDestinationList(
  destinations: readonly { id: string; type: DestinationType }[],
): string {
  return destinations.map((d) => `${d.id}:${d.type}`).join(',');
}
