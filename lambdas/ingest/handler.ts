import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  Context,
} from 'aws-lambda';
import { z } from 'zod';
import { DestinationStore } from '../adapters/destination-store.js';
import { CompletionMarkers, EventItemPersistence } from '../adapters/event-idempotency.js';
import { EventStore } from '../adapters/event-store.js';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { pushrailLogger } from '../adapters/log-format.js';
import {
  DEFAULT_REFRESH_SECONDS,
  MAX_REFRESH_SECONDS,
  type RouteSource,
  staticRoutes,
  tableRoutes,
} from '../adapters/route-cache.js';
import { HttpError, IngestUnavailableError, MissingApiKeyError } from '../core/errors.js';
import { INGEST_ENV } from '../core/function-env.js';
import { parseIngestRequest } from '../core/ingest-request.js';
import { correlationIdsOf, eventIdsField } from '../core/log-summary.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import { DAY_SECONDS, queueNames } from '../core/resources.js';
import { createAcceptEvents, type EventOutcome } from './accept-events.js';
import { gatewayRequestOf } from './gateway-request.js';
import { errorResponse, outcomesResponse } from './responses.js';

const RouteSchema = z.array(
  z.object({
    destinationId: z.string(),
    customerExternalId: z.string(),
    eventTypes: z.array(z.string()).optional(),
    queueName: z.string(),
  }),
);

/**
 * The REST API's proxy event (payload 1.0) or the HTTP API's (payload 2.0): both answer with the same
 * `{statusCode, headers, body}` result.
 */
export type IngestHandler = (
  event: APIGatewayProxyEvent | APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResult>;

/**
 * Builds the ingest function from an environment, validated here: Lambda builds it once per container,
 * at its first request, so a misconfigured function fails loudly there. Its SDK clients take
 * `AWS_REGION` and `AWS_ENDPOINT_URL` from `source` too, so the local runtime, the tests and the bench
 * point it at an emulator without writing `process.env`; in Lambda `source` is `process.env`, which
 * the SDK would read anyway.
 *
 * Routes come from the destinations table, cached (adapters/route-cache.ts), when `DESTINATIONS_TABLE`
 * and `NAME_PREFIX` are both set; otherwise from the fixed `PUSHRAIL_ROUTES` (what the stack inlines
 * today). `DESTINATIONS_TABLE` alone does not switch: the local runtime hands every function every
 * table's variable, and its ingest keeps the config's routes until it also passes `NAME_PREFIX`.
 */
export function createIngestHandler(source: NodeJS.ProcessEnv = process.env): IngestHandler {
  const env = readEnv(
    {
      [INGEST_ENV.eventsTable]: z.string().min(1),
      [INGEST_ENV.idempotencyTable]: z.string().min(1),
      [INGEST_ENV.queueUrlBase]: z.string().url().endsWith('/'),
      [INGEST_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
    },
    source,
  );
  const clientConfig = {
    ...(source.AWS_REGION ? { region: source.AWS_REGION } : {}),
    ...(source.AWS_ENDPOINT_URL ? { endpoint: source.AWS_ENDPOINT_URL } : {}),
  };
  const logger = pushrailLogger('pushrail-ingest');
  const dynamodb = new DynamoDBClient(clientConfig);
  const sqs = new SQSClient(clientConfig);
  const routes = routeSource(source, dynamodb, logger);

  const store = new EventStore(dynamodb, env[INGEST_ENV.eventsTable]);
  const markers = new CompletionMarkers(
    dynamodb,
    env[INGEST_ENV.idempotencyTable],
    env[INGEST_ENV.retentionDays] * DAY_SECONDS,
  );
  const ingest = createAcceptEvents({
    store,
    sqs,
    queueUrlBase: env[INGEST_ENV.queueUrlBase],
    routes,
    retentionDays: env[INGEST_ENV.retentionDays],
    persistenceStore: new EventItemPersistence(store, markers),
    markers,
    logger,
  });
  return (event, context) => handle(event, context, { logger, ingest });
}

const fromTable = (source: NodeJS.ProcessEnv): boolean =>
  Boolean(source[INGEST_ENV.destinationsTable]) && Boolean(source[INGEST_ENV.namePrefix]);

/** The route source the environment selects (see createIngestHandler), validated at cold start. */
function routeSource(source: NodeJS.ProcessEnv, dynamodb: DynamoDBClient, logger: Logger): RouteSource {
  if (!fromTable(source)) {
    if (source[INGEST_ENV.routes] === undefined) {
      throw new Error(
        `invalid function environment:\n  ${INGEST_ENV.routes}: required (received nothing), unless ` +
          `${INGEST_ENV.destinationsTable} and ${INGEST_ENV.namePrefix} are set to route from the destinations table`,
      );
    }
    return staticRoutes(readEnv({ [INGEST_ENV.routes]: jsonOf(RouteSchema) }, source)[INGEST_ENV.routes]);
  }
  const env = readEnv(
    {
      [INGEST_ENV.destinationsTable]: z.string().min(1),
      // Checked by the naming rule itself, so a bad prefix fails here rather than at every refresh.
      [INGEST_ENV.namePrefix]: z
        .string()
        .refine((p) => isQueuePrefix(p), 'must be a valid queue name prefix'),
      [INGEST_ENV.routesRefreshSeconds]: z.coerce
        .number()
        .min(0)
        .max(MAX_REFRESH_SECONDS)
        .default(DEFAULT_REFRESH_SECONDS),
    },
    source,
  );
  logger.info('routing from the destinations table', {
    table: env[INGEST_ENV.destinationsTable],
    refreshSeconds: env[INGEST_ENV.routesRefreshSeconds],
  });
  return tableRoutes({
    store: new DestinationStore(dynamodb, env[INGEST_ENV.destinationsTable]),
    namePrefix: env[INGEST_ENV.namePrefix],
    refreshSeconds: env[INGEST_ENV.routesRefreshSeconds],
    logger,
  });
}

function isQueuePrefix(prefix: string): boolean {
  try {
    queueNames(prefix, 'x');
    return true;
  } catch {
    return false;
  }
}

/** The Lambda entry point. */
export const handler: IngestHandler = lazyHandler(() =>
  // Written out literally: esbuild's `define` inlines the routing table only where this exact text appears.
  createIngestHandler({ ...process.env, [INGEST_ENV.routes]: process.env.PUSHRAIL_ROUTES }),
);

/**
 * POST /v1/events behind API Gateway: the REST API (API key required, usage plan) or the HTTP API
 * (lambdas/authorizer checks the key first). gateway-request.ts makes the two events one shape, so
 * every status below is the same on both.
 */
async function handle(
  event: unknown,
  context: Context,
  { logger, ingest }: { logger: Logger; ingest: ReturnType<typeof createAcceptEvents> },
): Promise<APIGatewayProxyResult> {
  logger.addContext(context);
  let requestId = context.awsRequestId;
  logger.setCorrelationId(requestId);
  try {
    const gateway = gatewayRequestOf(event);
    requestId = gateway.requestId ?? requestId;
    logger.setCorrelationId(requestId);
    // API Gateway checks the key before invoking us; this guards a route deployed without its check.
    if (!gateway.apiKeyId) throw new MissingApiKeyError();
    const request = parseIngestRequest({
      contentType: gateway.headers['content-type'],
      contentEncoding: gateway.headers['content-encoding'],
      body: gateway.body,
      isBase64Encoded: gateway.isBase64Encoded,
    });
    if (!request.batch) logger.setCorrelationId(request.events[0]?.event.correlationId ?? requestId);
    ingest.registerLambdaContext(context);
    const outcomes = await ingest.acceptEvents(request.events);
    logger.info('request accepted', requestSummary(request.events, outcomes));
    return outcomesResponse(request.batch, outcomes, requestId);
  } catch (error) {
    if (error instanceof HttpError) {
      logger.info('request rejected', {
        statusCode: error.statusCode,
        code: error.code,
        details: error.details,
      });
      return errorResponse(error, requestId);
    }
    logger.error('request failed', { error });
    return errorResponse(
      new IngestUnavailableError('internal error; retry with the same idempotencyKey', { cause: error }),
      requestId,
    );
  }
}

/**
 * The request's one log line: counts, event ids, correlation ids, destinations and the codes of the
 * events refused (duplicates, refused and correlation ids only when there are some); never an event's
 * payload.
 */
export function requestSummary(
  events: readonly { readonly event: { readonly correlationId?: string | undefined } }[],
  outcomes: readonly EventOutcome[],
): Record<string, unknown> {
  const accepted = outcomes.flatMap((o) => (o.ok ? [o.result] : []));
  const refused = outcomes.flatMap((o) => (o.ok ? [] : [o.error.code]));
  const duplicates = accepted.filter((a) => a.duplicate).length;
  const correlationIds = correlationIdsOf(events.map((e) => e.event.correlationId));
  // Zero counts and empty lists are left out: this line is written once per POST, and billed by the byte.
  return {
    events: outcomes.length,
    accepted: accepted.length,
    ...(duplicates > 0 ? { duplicates } : {}),
    ...(refused.length > 0 ? { refused: refused.length } : {}),
    ...eventIdsField(accepted.map((a) => a.eventId)),
    ...(correlationIds.length > 0 ? { correlationIds } : {}),
    destinations: [...new Set(accepted.flatMap((a) => a.destinations))],
    ...(refused.length > 0 ? { codes: [...new Set(refused)] } : {}),
  };
}
