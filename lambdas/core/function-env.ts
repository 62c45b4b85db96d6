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
} as const;

/** Environment of a destination consumer (S3 batcher, EventBridge sender): one function per destination. */
export const CONSUMER_ENV = {
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
