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

/**
 * Environment of a delivery function (lambdas/destinations/<kind>/handler.ts). Its destinations come
 * from one of two places: the destinations table (`DESTINATIONS_TABLE` and `NAME_PREFIX` set: one
 * function per kind serves every destination of that kind, each batch finding its own by the queue it
 * came from), or one fixed destination (`DESTINATION`, `SOURCE_QUEUE_URL`, `DLQ_URL`: the CDK stack's
 * function per destination).
 */
export const DELIVERY_ENV = {
  /** The destination's validated config entry, as JSON (fixed destination). */
  destination: 'DESTINATION',
  /** The destinations table (table-backed destinations). */
  destinationsTable: 'DESTINATIONS_TABLE',
  /** The prefix of the queue names (core/resources.ts queueNames), to tell a queue's destination. */
  namePrefix: 'NAME_PREFIX',
  vendor: 'VENDOR',
  eventsTable: 'EVENTS_TABLE',
  sealsTable: 'SEALS_TABLE',
  attemptsTable: 'ATTEMPTS_TABLE',
  sourceQueueUrl: 'SOURCE_QUEUE_URL',
  dlqUrl: 'DLQ_URL',
  retentionDays: 'RETENTION_DAYS',
  /**
   * The audit trail (the webhook sender: a 410 pauses the destination with an entry by Pushrail).
   * Unset: the pause is not made, and the 410's events are dead-lettered all the same.
   */
  auditTable: 'AUDIT_TABLE',
  /**
   * `1` on the local runtime only (local/local-mappings.ts): the webhook sender may then dial
   * loopback over plain http. The one switch that tells a delivery function it runs locally.
   */
  localRuntime: 'PUSHRAIL_LOCAL_RUNTIME',
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

/** The values of a delivery function that reads its destinations from the destinations table. */
export interface TableDeliveryEnvValues {
  readonly destinationsTable: string;
  readonly namePrefix: string;
  readonly vendor: string;
  readonly eventsTable: string;
  readonly sealsTable: string;
  readonly attemptsTable: string;
  readonly retentionDays: number;
  /** @default - none (see DELIVERY_ENV.auditTable) */
  readonly auditTable?: string;
}

/** The environment of a delivery function serving every destination of its kind from the table. */
export function tableDeliveryEnvironment(values: TableDeliveryEnvValues): Record<string, string> {
  return {
    [DELIVERY_ENV.destinationsTable]: values.destinationsTable,
    [DELIVERY_ENV.namePrefix]: values.namePrefix,
    [DELIVERY_ENV.vendor]: values.vendor,
    [DELIVERY_ENV.eventsTable]: values.eventsTable,
    [DELIVERY_ENV.sealsTable]: values.sealsTable,
    [DELIVERY_ENV.attemptsTable]: values.attemptsTable,
    [DELIVERY_ENV.retentionDays]: String(values.retentionDays),
    ...(values.auditTable ? { [DELIVERY_ENV.auditTable]: values.auditTable } : {}),
  };
}

/** Environment of the replay function (one for the stack; it serves every destination). */
export const REPLAY_ENV = {
  eventsTable: 'EVENTS_TABLE',
  attemptsTable: 'ATTEMPTS_TABLE',
  queueUrlBase: 'QUEUE_URL_BASE',
  namePrefix: 'NAME_PREFIX',
  /** The destinations table: destinations and their types come from it (the deployed stack). */
  destinationsTable: 'DESTINATIONS_TABLE',
  /** The audit trail of changes: replay.started and replay.finished entries. */
  auditTable: 'AUDIT_TABLE',
  retentionDays: 'RETENTION_DAYS',
} as const;

/** Environment of the management API function (lambdas/control/handler.ts). */
export const MANAGEMENT_ENV = {
  destinationsTable: 'DESTINATIONS_TABLE',
  auditTable: 'AUDIT_TABLE',
  /** The event store and the attempt records: `GET /v1/events/{eventId}` (the trace) reads both. */
  eventsTable: 'EVENTS_TABLE',
  /**
   * The attempts table: the trace's records, and health's rollups and last announced status
   * (adapters/health-rollups.ts). Unset: the trace and health routes answer 503/501.
   */
  attemptsTable: 'ATTEMPTS_TABLE',
  /** The stack's name prefix: owned secrets are named `pushrail/<namePrefix>/<destinationId>`. */
  namePrefix: 'NAME_PREFIX',
  /** The account customers' trust policies name (`customerSetup`); locally the emulator's account. */
  vendorAccountId: 'VENDOR_ACCOUNT_ID',
  /**
   * The provisioner function's name or ARN: after every change the management function invokes it
   * asynchronously with `{ destinationId }` (adapters/provisioner-trigger.ts). Unset: no trigger, and
   * the provisioner's periodic reconcile finds the change.
   */
  provisionerFunction: 'PROVISIONER_FUNCTION',
  /**
   * The consumer function of each kind, as JSON (`{"S3": "<name or ARN>", ...}`): the test send
   * invokes the destination's kind's consumer synchronously.
   */
  deliveryFunctions: 'DELIVERY_FUNCTIONS',
  /** `1` on the local runtime only: a webhook `url` may then be plain http (to loopback). */
  localRuntime: 'PUSHRAIL_LOCAL_RUNTIME',
} as const;

/** Environment of the provisioner function (lambdas/control/provisioner-handler.ts). */
export const PROVISIONER_ENV = {
  destinationsTable: 'DESTINATIONS_TABLE',
  /** The stack's name prefix: queue names (core/resources.ts queueNames) and owned secrets. */
  namePrefix: 'NAME_PREFIX',
  /** JSON object of each kind's consumer function name or ARN: `{"S3": "...", "EVENTBRIDGE": "..."}`. */
  deliveryFunctions: 'DELIVERY_FUNCTIONS',
  /**
   * Lambda control-plane calls per second, at most (optional, default 10). The account's whole budget
   * for them is about 15/s, deploys included.
   */
  mappingCallsPerSecond: 'MAPPING_CALLS_PER_SECOND',
  /**
   * The SNS topic ARN the per-destination queue-age alarms notify (optional: without it the
   * provisioner keeps no alarms, as on the local runtime).
   */
  alarmTopicArn: 'ALARM_TOPIC_ARN',
  /**
   * The attempts table: with it, every scheduled reconcile also evaluates every destination's health
   * and announces changes (lambdas/observe/health.ts). Unset: only health reads evaluate.
   */
  attemptsTable: 'ATTEMPTS_TABLE',
} as const;

/** Environment of the HTTP API's authorizer (lambdas/authorizer/handler.ts). */
export const AUTHORIZER_ENV = {
  /** The REST API's producer usage plan: its enabled keys are the keys the HTTP API accepts. */
  usagePlanId: 'PRODUCER_USAGE_PLAN_ID',
  /** How long a container keeps the key list, in seconds (0-300, default 60). */
  keysRefreshSeconds: 'KEYS_REFRESH_SECONDS',
} as const;
