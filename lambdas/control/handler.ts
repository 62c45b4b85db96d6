import {
  MethodNotAllowedError,
  NotFoundError as RouteNotFoundError,
  Router,
} from '@aws-lambda-powertools/event-handler/http';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { z } from 'zod';
import { AuditCursorError, AuditLog, type AuditQuery } from '../adapters/audit-log.js';
import { DeliveriesReader } from '../adapters/deliveries-reader.js';
import { DestinationStore } from '../adapters/destination-store.js';
import { healthAdapters } from '../adapters/health-deps.js';
import { testSenderFromEnv } from '../adapters/lambda-test-sender.js';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { pushrailLogger } from '../adapters/log-format.js';
import { OwnedSecrets } from '../adapters/owned-secrets.js';
import { provisionerTrigger } from '../adapters/provisioner-trigger.js';
import { TraceReader } from '../adapters/trace-reader.js';
import { AUDIT_ACTIONS } from '../core/audit-actions.js';
import { ACCOUNT } from '../core/config-fields.js';
import {
  DependencyUnavailableError,
  HttpError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '../core/errors.js';
import { MANAGEMENT_ENV } from '../core/function-env.js';
import { queryInstant } from '../core/query-instant.js';
import { readEnv } from '../core/read-env.js';
import { MAX_NAME_PREFIX } from '../core/resources.js';
import { deliveriesRoutes } from './deliveries-routes.js';
import {
  type ChangeResult,
  createDestinationUseCases,
  type DestinationView,
  type ManagementDeps,
  type TestSender,
} from './destinations.js';
import { type HealthDeps, healthRoutes } from './health-routes.js';
import { readJsonBody } from './json-body.js';

/**
 * The management API (DESIGN.md "Management API"): `/v1/destinations...` and `GET /v1/audit`, behind
 * API Gateway with IAM (SigV4) auth. Routing is Powertools' event-handler HTTP Router, generally
 * available since Powertools 2.29.0 (so stable at the pinned 2.35.0); this module only reads the
 * request, calls one use case and maps its answer or error.
 */

export type ManagementHandler = (
  event: APIGatewayProxyEvent,
  context: Context,
) => Promise<APIGatewayProxyResult>;

export interface ManagementOptions {
  /**
   * The provisioner's trigger, called with a destination's id after every change.
   * @default with PROVISIONER_FUNCTION set, an asynchronous invoke of it (adapters/provisioner-trigger.ts);
   *   otherwise a no-op (the provisioner's periodic reconcile finds the change)
   */
  readonly notify?: (destinationId: string) => Promise<void> | void;
  /** @default a Powertools Logger, service `pushrail-management` */
  readonly logger?: Logger;
  /**
   * Entries per page of `GET /v1/audit`.
   * @default 100
   */
  readonly auditPageSize?: number;
  /**
   * Stand-ins for the AWS adapters (unit tests without a network).
   * @default the DynamoDB and Secrets Manager adapters built from `source`
   */
  readonly adapters?: Partial<Pick<ManagementDeps, 'store' | 'secrets'>> & {
    readonly audit?: Pick<AuditLog, 'putItem' | 'append' | 'query'>;
  };
  /**
   * The test send (the local runtime runs the kinds' handlers in-process).
   * @default the kinds' consumer functions over Lambda, from DELIVERY_FUNCTIONS
   */
  readonly testSend?: TestSender;
  /**
   * Health's parts (lambdas/observe/health.ts), e.g. a clock for the tests.
   * @default built from ATTEMPTS_TABLE and the SDK clients
   */
  readonly health?: Partial<HealthDeps>;
}

/**
 * Builds the management function from an environment, validated here (at the first request in
 * Lambda). Its SDK clients take `AWS_REGION` and `AWS_ENDPOINT_URL` from `source`, so the local
 * runtime and the tests point it at the emulator.
 */
export function createManagementHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: ManagementOptions = {},
): ManagementHandler {
  const env = readEnv(
    {
      [MANAGEMENT_ENV.destinationsTable]: z.string().min(1),
      [MANAGEMENT_ENV.auditTable]: z.string().min(1),
      // Optional so a handler built for destinations alone (some tests) still starts; the stack and
      // the local runtime always set them, and without them the trace route answers 503.
      [MANAGEMENT_ENV.eventsTable]: z.string().min(1).optional(),
      [MANAGEMENT_ENV.attemptsTable]: z.string().min(1).optional(),
      [MANAGEMENT_ENV.namePrefix]: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .max(MAX_NAME_PREFIX),
      [MANAGEMENT_ENV.vendorAccountId]: z.string().regex(ACCOUNT, 'must be a 12-digit AWS account id'),
      [MANAGEMENT_ENV.provisionerFunction]: z.string().min(1).optional(),
      [MANAGEMENT_ENV.localRuntime]: z.enum(['0', '1']).optional(),
    },
    source,
  );
  const clientConfig = {
    ...(source.AWS_REGION ? { region: source.AWS_REGION } : {}),
    ...(source.AWS_ENDPOINT_URL ? { endpoint: source.AWS_ENDPOINT_URL } : {}),
  };
  const logger = options.logger ?? pushrailLogger('pushrail-management');
  const dynamodb = new DynamoDBClient(clientConfig);
  const audit =
    options.adapters?.audit ??
    new AuditLog(dynamodb, env[MANAGEMENT_ENV.auditTable], {
      ...(options.auditPageSize ? { pageSize: options.auditPageSize } : {}),
    });
  const store =
    options.adapters?.store ?? new DestinationStore(dynamodb, env[MANAGEMENT_ENV.destinationsTable]);
  const eventsTable = env[MANAGEMENT_ENV.eventsTable];
  const attemptsTable = env[MANAGEMENT_ENV.attemptsTable];
  const traces =
    eventsTable && attemptsTable
      ? new TraceReader(dynamodb, { events: eventsTable, attempts: attemptsTable }, store)
      : undefined;
  const useCases = createDestinationUseCases({
    store,
    audit,
    secrets:
      options.adapters?.secrets ??
      new OwnedSecrets(new SecretsManagerClient(clientConfig), env[MANAGEMENT_ENV.namePrefix]),
    notify: options.notify ?? defaultNotify(env[MANAGEMENT_ENV.provisionerFunction], clientConfig, logger),
    testSend: options.testSend ?? testSenderFromEnv(source, clientConfig),
    vendorAccountId: env[MANAGEMENT_ENV.vendorAccountId],
    allowPlainHttp: env[MANAGEMENT_ENV.localRuntime] === '1',
    logger,
  });
  const router = buildRouter(useCases, audit, traces, logger);
  healthRoutes(
    router,
    useCases,
    {
      ...(attemptsTable ? healthAdapters(dynamodb, attemptsTable, clientConfig) : {}),
      logger,
      ...options.health,
    },
    { caller, idOf, query, ok },
  );
  deliveriesRoutes(
    router,
    attemptsTable ? new DeliveriesReader(dynamodb, attemptsTable) : undefined,
    logger,
    { caller, query, ok },
  );

  return async (event, context) => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    logger.addContext(context);
    logger.setCorrelationId(requestId);
    const started = Date.now();
    try {
      const result = await router.resolve(forRouter(event), context);
      // The request's one log line, refusals included (their code is in the body we answer).
      logger.info('request', requestLine(event, result, Date.now() - started));
      return { ...result, headers: { ...result.headers, 'x-request-id': requestId } };
    } catch (error) {
      // Only what the router cannot even turn into a request (an unparsable path) lands here.
      logger.warn('request not routable', { error });
      return json(400, new ValidationError('the request could not be read').toBody(), requestId);
    }
  };
}

function defaultNotify(
  provisionerFunction: string | undefined,
  clientConfig: { region?: string; endpoint?: string },
  logger: Logger,
): (destinationId: string) => Promise<void> | void {
  if (!provisionerFunction) return () => undefined;
  return provisionerTrigger(new LambdaClient(clientConfig), provisionerFunction, logger);
}

/** The Lambda entry point. */
export const handler: ManagementHandler = lazyHandler(() => createManagementHandler());

type UseCases = ReturnType<typeof createDestinationUseCases>;

/** A route of this REST API (payload v1): the router types its event as any event it can resolve. */
function v1<R>(
  route: (event: APIGatewayProxyEvent, params: Record<string, string>) => Promise<R>,
): (reqCtx: { event: unknown; params: Record<string, string> }) => Promise<R> {
  return (reqCtx) => route(reqCtx.event as APIGatewayProxyEvent, reqCtx.params);
}

function buildRouter(
  useCases: UseCases,
  audit: Pick<AuditLog, 'query'>,
  traces: Pick<TraceReader, 'read'> | undefined,
  logger: Logger,
): Router {
  const router = new Router({ logger });

  router.post(
    '/v1/destinations',
    v1(async (event) => {
      const who = caller(event);
      noQuery(event);
      return changed(201, await useCases.create(body(event), who));
    }),
  );
  router.get(
    '/v1/destinations',
    v1(async (event) => {
      caller(event);
      const { customerExternalId } = query(event, ['customerExternalId']);
      return ok(200, { destinations: await useCases.list(customerExternalId) });
    }),
  );
  router.get(
    '/v1/destinations/:id',
    v1(async (event, params) => {
      caller(event);
      noQuery(event);
      return withEtag(200, await useCases.get(idOf(params)));
    }),
  );
  router.put(
    '/v1/destinations/:id',
    v1(async (event, params) => {
      const who = caller(event);
      noQuery(event);
      return changed(200, await useCases.update(idOf(params), body(event), who, ifMatch(event)));
    }),
  );
  router.delete(
    '/v1/destinations/:id',
    v1(async (event, params) => {
      const who = caller(event);
      const { force } = query(event, ['force']);
      if (force !== undefined && force !== 'true' && force !== 'false') {
        throw new ValidationError('force must be true or false', [
          { field: 'force', message: 'must be true or false' },
        ]);
      }
      return withEtag(202, await useCases.remove(idOf(params), who, force === 'true', ifMatch(event)));
    }),
  );
  router.post(
    '/v1/destinations/:id/pause',
    v1(async (event, params) => {
      const who = caller(event);
      noQuery(event);
      return withEtag(200, await useCases.pause(idOf(params), who, ifMatch(event)));
    }),
  );
  router.post(
    '/v1/destinations/:id/resume',
    v1(async (event, params) => {
      const who = caller(event);
      noQuery(event);
      return withEtag(200, await useCases.resume(idOf(params), who, ifMatch(event)));
    }),
  );
  router.post(
    '/v1/destinations/:id/test',
    v1(async (event, params) => {
      const who = caller(event);
      noQuery(event);
      return ok(200, await useCases.test(idOf(params), who));
    }),
  );
  router.post(
    '/v1/destinations/:id/rotate-secret',
    v1(async (event, params) => {
      const who = caller(event);
      noQuery(event);
      return changed(200, await useCases.rotateSecret(idOf(params), who, ifMatch(event)));
    }),
  );
  router.get(
    '/v1/audit',
    v1(async (event) => {
      caller(event);
      const q = query(event, ['destinationId', 'customerExternalId', 'action', 'from', 'to', 'cursor']);
      return ok(200, await audit.query(auditQueryOf(q)));
    }),
  );
  router.get(
    '/v1/events/:eventId',
    v1(async (event, params) => {
      caller(event);
      const { include } = query(event, ['include']);
      if (include !== undefined && include !== 'payload') {
        throw new ValidationError('include must be "payload"', [
          { field: 'include', message: 'must be "payload"' },
        ]);
      }
      const eventId = params.eventId as string;
      if (!EVENT_ID.test(eventId)) {
        throw new NotFoundError('no such event: event ids are "evt_" and 26 base32 characters', [
          { field: 'eventId', message: 'not found' },
        ]);
      }
      if (!traces)
        throw new DependencyUnavailableError(
          'trace is not configured: EVENTS_TABLE and ATTEMPTS_TABLE are unset',
        );
      const result = await traces.read(eventId, { includePayload: include === 'payload' });
      if (!result) {
        throw new NotFoundError(`no such event within the retention window: ${eventId}`, [
          { field: 'eventId', message: 'not found' },
        ]);
      }
      logger.info('trace read', { eventId, ...result.reads });
      return ok(200, result.trace);
    }),
  );

  router.errorHandler(Error, async (error) => {
    // Logged by the handler's one line per request, with the code and the fields named.
    if (error instanceof HttpError) return ok(error.statusCode, error.toBody());
    if (error instanceof RouteNotFoundError || error instanceof MethodNotAllowedError) {
      return ok(404, new NotFoundError('no such route of the management API').toBody());
    }
    if (error instanceof AuditCursorError) {
      return ok(
        400,
        new ValidationError(error.message, [{ field: 'cursor', message: 'not valid' }]).toBody(),
      );
    }
    if (error instanceof URIError) {
      return ok(400, new ValidationError('the path is not valid percent-encoding').toBody());
    }
    // Anything else is a dependency (DynamoDB, Secrets Manager) failing after the SDK's retries. Its
    // name is logged, not its message, which could quote a request parameter.
    logger.error('dependency failed', { errorName: error.name, error });
    return ok(503, new DependencyUnavailableError('a dependency failed; retry').toBody());
  });
  return router;
}

/**
 * The caller's identity: the IAM principal ARN API Gateway puts in `userArn`, or, on the local runtime,
 * the access key id of the SigV4 signature. A producer's API key alone is neither: 401.
 */
function caller(event: APIGatewayProxyEvent): string {
  const identity = event.requestContext?.identity;
  const who = identity?.userArn || identity?.accessKey;
  if (!who) throw new UnauthenticatedError();
  return who;
}

function body(event: APIGatewayProxyEvent): unknown {
  return readJsonBody({
    contentType: header(event, 'content-type'),
    contentEncoding: header(event, 'content-encoding'),
    body: event.body,
    isBase64Encoded: event.isBase64Encoded,
  });
}

/** `If-Match: "3"` (also `W/"3"` and `3`); `*` matches any version, as no header does. */
function ifMatch(event: APIGatewayProxyEvent): number | undefined {
  const value = header(event, 'if-match')?.trim();
  if (value === undefined || value === '*') return undefined;
  const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(value);
  if (!match) {
    throw new ValidationError('If-Match must be the ETag of the destination, such as "3"', [
      { field: 'if-match', message: 'must be an ETag such as "3"' },
    ]);
  }
  return Number(match[1]);
}

/** Event ids as core/event-id.ts derives them: anything else cannot be stored, and must not reach a key. */
const EVENT_ID = /^evt_[0-9a-hjkmnp-tv-z]{26}$/;

/** The ids the schema allows (config-fields.ts `id`); any other cannot exist, and must not reach a key. */
const DESTINATION_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

function idOf(params: Record<string, string>): string {
  const id = params.id as string;
  if (!DESTINATION_ID.test(id)) {
    throw new NotFoundError('no such destination: ids are 1-40 lowercase letters, digits and "-"', [
      { field: 'id', message: 'not found' },
    ]);
  }
  return id;
}

function query<const K extends string>(
  event: APIGatewayProxyEvent,
  allowed: readonly K[],
): Partial<Record<K, string>> {
  const params = event.queryStringParameters ?? {};
  const unknown = Object.keys(params).filter((k) => !(allowed as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ValidationError(
      `unknown query parameter${unknown.length > 1 ? 's' : ''}; allowed: ${allowed.join(', ') || 'none'}`,
      unknown.slice(0, 20).map((field) => ({ field, message: 'unknown query parameter' })),
    );
  }
  const out: Partial<Record<K, string>> = {};
  for (const key of allowed) {
    const value = params[key];
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out;
}

function noQuery(event: APIGatewayProxyEvent): void {
  query(event, []);
}

function auditQueryOf(q: Partial<Record<keyof AuditQuery, string>>): AuditQuery {
  const issues: { field: string; message: string }[] = [];
  const instant = (field: 'from' | 'to') => queryInstant(field, q[field], issues);
  const from = instant('from');
  const to = instant('to');
  // Filters go into a DynamoDB expression: an oversized one would be the table's 400, answered as a 503.
  for (const [field, max] of [
    ['destinationId', 40],
    ['customerExternalId', 256],
    ['cursor', 1024],
  ] as const) {
    if ((q[field]?.length ?? 0) > max) issues.push({ field, message: `must be at most ${max} characters` });
  }
  if (q.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(q.action)) {
    issues.push({ field: 'action', message: `must be one of ${AUDIT_ACTIONS.join(', ')}` });
  }
  if (issues.length > 0) throw new ValidationError('invalid audit query', issues);
  return {
    ...(q.destinationId ? { destinationId: q.destinationId } : {}),
    ...(q.customerExternalId ? { customerExternalId: q.customerExternalId } : {}),
    ...(q.action ? { action: q.action as AuditQuery['action'] & string } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(q.cursor ? { cursor: q.cursor } : {}),
  };
}

function ok(statusCode: number, payload: unknown, headers: Record<string, string> = {}) {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: payload as never };
}

function withEtag(statusCode: number, view: DestinationView) {
  return ok(statusCode, view, { etag: `"${view.version}"` });
}

function changed(statusCode: number, result: ChangeResult) {
  return ok(
    statusCode,
    {
      ...result.view,
      ...(result.customerSetup ? { customerSetup: result.customerSetup } : {}),
      // Answered this once (create, rotate-secret); never stored in a readable place or logged.
      ...(result.signingSecret ? { signingSecret: result.signingSecret } : {}),
    },
    { etag: `"${result.view.version}"` },
  );
}

function json(statusCode: number, payload: unknown, requestId: string): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify(payload),
  };
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name) return value ?? undefined;
  }
  return undefined;
}

/**
 * What the router builds its web Request from: no body on GET/HEAD (a Request refuses one, and API
 * Gateway passes whatever was sent), and no Host or X-Forwarded-Proto, which would only become the
 * URL's origin and, malformed, make that URL throw (the routes need neither).
 */
function forRouter(event: APIGatewayProxyEvent): APIGatewayProxyEvent {
  const method = event.httpMethod?.toUpperCase();
  const headers = Object.fromEntries(
    Object.entries(event.headers ?? {}).filter(
      ([k]) => !['host', 'x-forwarded-proto'].includes(k.toLowerCase()),
    ),
  );
  const multiValueHeaders = Object.fromEntries(
    Object.entries(event.multiValueHeaders ?? {}).filter(
      ([k]) => !['host', 'x-forwarded-proto'].includes(k.toLowerCase()),
    ),
  );
  return {
    ...event,
    headers,
    multiValueHeaders,
    requestContext: { ...event.requestContext, domainName: 'management.invalid' },
    ...(method === 'GET' || method === 'HEAD' ? { body: null, isBase64Encoded: false } : {}),
  };
}

/** What the management request's one log line says: the route, the destination, the outcome. */
function requestLine(
  event: APIGatewayProxyEvent,
  result: { readonly statusCode: number; readonly body?: string },
  latencyMs: number,
): Record<string, unknown> {
  const path = event.path ?? '';
  const destinationId = /^\/v1\/destinations\/([^/]+)/.exec(path)?.[1];
  let error: { code?: unknown; details?: unknown } | undefined;
  if (result.statusCode >= 400 && result.body) {
    try {
      error = (JSON.parse(result.body) as { error?: { code?: unknown; details?: unknown } }).error;
    } catch {
      error = undefined;
    }
  }
  return {
    method: event.httpMethod,
    path,
    ...(destinationId ? { destinationId: safeDecode(destinationId) } : {}),
    statusCode: result.statusCode,
    latencyMs,
    ...(error?.code ? { code: error.code } : {}),
    ...(error?.details ? { details: error.details } : {}),
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
