import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { z } from 'zod';
import { EventStore } from '../adapters/event-store.js';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { HttpError, IngestUnavailableError, MissingApiKeyError } from '../core/errors.js';
import { INGEST_ENV } from '../core/function-env.js';
import { parseIngestRequest } from '../core/ingest-request.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import { createAcceptEvents } from './accept-events.js';
import { errorResponse, outcomesResponse } from './responses.js';

const RouteSchema = z.array(
  z.object({
    destinationId: z.string(),
    customerExternalId: z.string(),
    eventTypes: z.array(z.string()).optional(),
    queueName: z.string(),
  }),
);

export type IngestHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * Builds the ingest function from an environment, validated here: Lambda builds it once per container,
 * at its first request, so a misconfigured function fails loudly there. Its SDK clients take
 * `AWS_REGION` and `AWS_ENDPOINT_URL` from `source` too, so the local runtime, the tests and the bench
 * point it at an emulator without writing `process.env`; in Lambda `source` is `process.env`, which
 * the SDK would read anyway.
 */
export function createIngestHandler(source: NodeJS.ProcessEnv = process.env): IngestHandler {
  const env = readEnv(
    {
      [INGEST_ENV.eventsTable]: z.string().min(1),
      [INGEST_ENV.idempotencyTable]: z.string().min(1),
      [INGEST_ENV.queueUrlBase]: z.string().url().endsWith('/'),
      [INGEST_ENV.routes]: jsonOf(RouteSchema),
      [INGEST_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
    },
    source,
  );
  const clientConfig = {
    ...(source.AWS_REGION ? { region: source.AWS_REGION } : {}),
    ...(source.AWS_ENDPOINT_URL ? { endpoint: source.AWS_ENDPOINT_URL } : {}),
  };
  const logger = new Logger({ serviceName: 'pushrail-ingest' });
  const dynamodb = new DynamoDBClient(clientConfig);
  const sqs = new SQSClient(clientConfig);

  const ingest = createAcceptEvents({
    store: new EventStore(dynamodb, env[INGEST_ENV.eventsTable]),
    sqs,
    queueUrlBase: env[INGEST_ENV.queueUrlBase],
    routes: env[INGEST_ENV.routes],
    retentionDays: env[INGEST_ENV.retentionDays],
    persistenceStore: new DynamoDBPersistenceLayer({
      tableName: env[INGEST_ENV.idempotencyTable],
      awsSdkV3Client: dynamodb,
    }),
    logger,
  });
  return (event, context) => handle(event, context, { logger, ingest });
}

/** The Lambda entry point. */
export const handler: IngestHandler = lazyHandler(() =>
  // Written out literally: esbuild's `define` inlines the routing table only where this exact text appears.
  createIngestHandler({ ...process.env, [INGEST_ENV.routes]: process.env.PUSHRAIL_ROUTES }),
);

/** POST /v1/events behind API Gateway (REST, API key required). */
async function handle(
  event: APIGatewayProxyEvent,
  context: Context,
  { logger, ingest }: { logger: Logger; ingest: ReturnType<typeof createAcceptEvents> },
): Promise<APIGatewayProxyResult> {
  const requestId = event.requestContext?.requestId ?? context.awsRequestId;
  logger.addContext(context);
  logger.setCorrelationId(requestId);
  try {
    // API Gateway checks the key before invoking us; this guards a method deployed without apiKeyRequired.
    if (!event.requestContext?.identity?.apiKeyId) throw new MissingApiKeyError();
    const request = parseIngestRequest({
      contentType: headerValue(event.headers, 'content-type'),
      contentEncoding: headerValue(event.headers, 'content-encoding'),
      body: event.body ?? undefined,
      isBase64Encoded: event.isBase64Encoded,
    });
    if (!request.batch) logger.setCorrelationId(request.events[0]?.event.correlationId ?? requestId);
    ingest.registerLambdaContext(context);
    const outcomes = await ingest.acceptEvents(request.events);
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

function headerValue(headers: APIGatewayProxyEvent['headers'] | null, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers))
    if (key.toLowerCase() === name) return value ?? undefined;
  return undefined;
}
