import { isUtf8 } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  Context,
} from 'aws-lambda';
import type { AuthorizerHandler, AuthorizerResult } from '../lambdas/authorizer/handler.js';
import { MANAGEMENT_ROUTES as API_ROUTES } from '../lambdas/control/routes.js';
import {
  HttpError,
  InvalidApiKeyError,
  MissingApiKeyError,
  PayloadTooLargeError,
  ValidationError,
} from '../lambdas/core/errors.js';
import { contentCodingOf, decompress } from '../lambdas/core/request-body.js';
import {
  authorizerRequestEvent,
  EVENTS_RESOURCE,
  type FunctionIdentity,
  httpApiEvent,
  INTEGRATION_TIMEOUT_MS,
  type IncomingRequest,
  lambdaContext,
  type MatchedRoute,
  proxyEvent,
} from './api-gateway-event.js';
import { cachedAuthorizer } from './authorizer-cache.js';

/**
 * The local stand-in for API Gateway: it does what the gateway does before and after the ingest
 * Lambda (route, payload limit, API key check, proxy event, timeout) and nothing the Lambda does.
 */

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** The ingest function takes either API's event (lambdas/ingest/gateway-request.ts). */
export type IngestProxyHandler = (
  event: APIGatewayProxyEvent | APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResult>;

/**
 * Which API Gateway `POST /v1/events` goes through: the REST API (API key checked against `apiKey`,
 * the default) or the HTTP API (lib/http-ingest-api.ts): the real authorizer, its answers cached per
 * key for `cacheTtlMs` as API Gateway caches them, and a payload 2.0 event. Either way the management
 * routes and the Invoke API stay as they are (on AWS they are the REST API and Lambda).
 */
export type IngestGateway =
  | { readonly kind: 'rest' }
  | {
      readonly kind: 'http';
      readonly authorizer: AuthorizerHandler;
      /** @default AUTHORIZER_CACHE_TTL_MS (local/authorizer-cache.ts) */
      readonly cacheTtlMs?: number;
    };

/** The longest API Gateway waits for a Lambda authorizer. */
const AUTHORIZER_TIMEOUT_MS = 10_000;

/** API Gateway's payload limit for REST APIs. The handler's own, smaller limit applies after it. */
export const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** A directly invoked function (Lambda Invoke API), such as the replay function. */
export type InvokeHandler = (payload: unknown, context: Context) => Promise<unknown>;

export interface ApiServerOptions {
  readonly handler: IngestProxyHandler;
  /** @default { kind: 'rest' } */
  readonly ingestGateway?: IngestGateway;
  /**
   * The management API's handler (lambdas/control/handler.ts), for the IAM-authorized routes of
   * MANAGEMENT_ROUTES. Absent: those routes are 404, as on an API without them.
   */
  readonly managementHandler?: ProxyHandler;
  /**
   * Functions reachable through Lambda's Invoke API on this server
   * (`POST /2015-03-31/functions/<name>/invocations`), so `aws lambda invoke --endpoint-url <apiUrl>`
   * and the SDK's LambdaClient work locally as they do against AWS.
   * @default {}
   */
  readonly functions?: Readonly<
    Record<string, { readonly handler: InvokeHandler; readonly timeoutMs: number }>
  >;
  /** The key the REST emulation accepts; the HTTP emulation's authorizer reads its keys itself. */
  readonly apiKey: string;
  readonly function: FunctionIdentity;
  /** @default 3000 (0 picks a free port) */
  readonly port?: number;
  /** @default '127.0.0.1': the local API is for this machine only. */
  readonly host?: string;
  /** @default INTEGRATION_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** @default console.log */
  readonly log?: (line: string) => void;
}

export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:3000`; events go to `${url}/v1/events`. */
  readonly url: string;
  close(): Promise<void>;
}

/** The id API Gateway would give the key; locally there is one key. */
const LOCAL_API_KEY_ID = 'local';

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? console.log;
  const gateway = options.ingestGateway ?? { kind: 'rest' };
  const ingest =
    gateway.kind === 'http'
      ? httpIngest(gateway, options)
      : (req: IncomingMessage, body: Buffer | undefined) => restIngest(req, body, options);
  const server = createServer((req, res) => {
    const started = Date.now();
    handle(req, options, ingest)
      .catch((error: unknown) => {
        console.error('local API: unexpected error', error);
        return gatewayError(500, 'INTERNAL', 'the local API failed; see its console');
      })
      .then((result) => {
        send(res, result);
        log(`${req.method} ${req.url} -> ${result.statusCode} (${Date.now() - started} ms)`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

type IngestRoute = (req: IncomingMessage, body: Buffer | undefined) => Promise<APIGatewayProxyResult>;

async function handle(
  req: IncomingMessage,
  options: ApiServerOptions,
  ingest: IngestRoute,
): Promise<APIGatewayProxyResult> {
  const path = new URL(req.url ?? '/', 'http://local').pathname;
  const body = await readBody(req);
  const invocation = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
  if (req.method === 'POST' && invocation)
    return invokeFunction(
      decodeURIComponent(invocation[1] ?? ''),
      body?.toString('utf8'),
      headerValue(req, 'x-amz-invocation-type'),
      options,
    );
  const management = matchManagementRoute(req.method ?? 'GET', path);
  if (management && options.managementHandler) return handleManagement(req, body, management, options);
  if (req.method !== 'POST' || path !== EVENTS_RESOURCE) {
    return gatewayError(
      404,
      'NOT_FOUND',
      `no route for ${req.method} ${path}; events go to POST ${EVENTS_RESOURCE}`,
    );
  }
  return ingest(req, body);
}

/** `POST /v1/events` through the REST API: payload limit, decompression, the API key, a v1 event. */
async function restIngest(
  req: IncomingMessage,
  body: Buffer | undefined,
  options: ApiServerOptions,
): Promise<APIGatewayProxyResult> {
  if (body === undefined) {
    return errorResult(
      new PayloadTooLargeError(
        `the request body is over API Gateway's ${GATEWAY_MAX_BODY_BYTES} byte limit`,
        [{ field: 'body', message: `must be at most ${GATEWAY_MAX_BODY_BYTES} bytes` }],
      ),
    );
  }
  let decoded: Buffer;
  try {
    decoded = decodeContent(body, headerValue(req, 'content-encoding'));
  } catch (error) {
    if (error instanceof HttpError) return errorResult(error);
    throw error;
  }
  const key = headerValue(req, 'x-api-key');
  if (key === undefined || key === '') return errorResult(new MissingApiKeyError());
  if (!sameKey(key, options.apiKey)) return errorResult(new InvalidApiKeyError());

  // API Gateway hands the function text (this API has no binary media types), and cannot tell it
  // that bytes were not UTF-8. Here the stand-in is stricter, on purpose: bytes that are not UTF-8
  // go base64-encoded, as a binary media type would, so the handler refuses them with a 400 naming
  // the field instead of storing U+FFFD (see lib/ingest-api.ts for why AWS is not set up that way).
  const event = proxyEvent(incomingRequest(req, decoded), {
    apiKey: key,
    apiKeyId: LOCAL_API_KEY_ID,
    accountId: options.function.accountId,
  });
  const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const context = lambdaContext(options.function, Date.now() + timeoutMs);
  return invoke(options.handler, event, context, timeoutMs);
}

/** The request as the gateway emulations take it: a body that is not UTF-8 goes base64-encoded. */
function incomingRequest(req: IncomingMessage, body: Buffer): IncomingRequest {
  const utf8 = isUtf8(body);
  return {
    method: req.method ?? 'POST',
    url: req.url ?? '/',
    rawHeaders: req.rawHeaders,
    body: utf8 ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: !utf8,
    sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    httpVersion: req.httpVersion,
  };
}

/**
 * `POST /v1/events` through the HTTP API, as API Gateway answers it: its own `{"message": ...}` for
 * what it refuses (not Pushrail's error shape: an HTTP API cannot customize them), no decompression
 * (HTTP APIs do not decode Content-Encoding; the handler does), the authorizer's answer cached per key.
 */
function httpIngest(
  gateway: Extract<IngestGateway, { kind: 'http' }>,
  options: ApiServerOptions,
): IngestRoute {
  const authorize = cachedAuthorizer(
    (event) =>
      gateway.authorizer(
        event,
        lambdaContext(
          { ...options.function, functionName: `${options.function.functionName}-authorizer` },
          Date.now() + AUTHORIZER_TIMEOUT_MS,
        ),
      ),
    gateway.cacheTtlMs,
  );
  return async (req, body) => {
    if (body === undefined) return gatewayMessage(413, 'Request Entity Too Large');
    const key = headerValue(req, 'x-api-key');
    // An identity source missing from the request: 401 before any authorizer runs.
    if (key === undefined || key === '') return gatewayMessage(401, 'Unauthorized');
    const request = incomingRequest(req, body);
    let answer: AuthorizerResult;
    try {
      answer = await authorize(key, authorizerRequestEvent(request, options.function.accountId));
    } catch (error) {
      // API Gateway answers 500 and caches nothing.
      console.error('local API: the authorizer failed', error);
      return gatewayMessage(500, 'Internal Server Error');
    }
    if (!answer.isAuthorized) return gatewayMessage(403, 'Forbidden');
    const event = httpApiEvent(request, answer.context, options.function.accountId);
    const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
    return invoke(options.handler, event, lambdaContext(options.function, Date.now() + timeoutMs), timeoutMs);
  };
}

/** An answer of API Gateway's own, in an HTTP API's fixed shape. */
function gatewayMessage(statusCode: number, message: string): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) };
}

/**
 * The management API's resources and methods, as the REST API defines them (IAM authorization).
 * `{name}` segments are path parameters.
 */
export const MANAGEMENT_ROUTES: readonly { readonly method: string; readonly resource: string }[] =
  // The one list the CDK stack builds its methods from (lambdas/control/routes.ts), so a route added
  // there is served here too.
  API_ROUTES.map((route) => ({ method: route.method, resource: route.path }));

/** The management route a request is for, with its path parameters; undefined for any other. */
export function matchManagementRoute(method: string, path: string): MatchedRoute | undefined {
  const segments = path.split('/');
  for (const route of MANAGEMENT_ROUTES) {
    if (route.method !== method) continue;
    const pattern = route.resource.split('/');
    if (pattern.length !== segments.length) continue;
    const parameters: Record<string, string> = {};
    const matches = pattern.every((part, i) => {
      const segment = segments[i] as string;
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      if (name === undefined) return part === segment;
      if (segment === '') return false;
      parameters[name] = decodeURIComponent(segment);
      return true;
    });
    if (matches)
      return {
        resource: route.resource,
        pathParameters: Object.keys(parameters).length > 0 ? parameters : null,
      };
  }
  return undefined;
}

/**
 * The access key id of a SigV4 `Authorization` header (`AWS4-HMAC-SHA256 Credential=<id>/<date>/…`).
 * The local stand-in checks that a request is signed, not the signature: any credentials will do,
 * and the key id is the caller (DESIGN.md "Management API").
 */
export function sigV4AccessKey(authorization: string | undefined): string | undefined {
  return /^AWS4-HMAC-SHA256\s+Credential=([A-Za-z0-9]+)\//.exec(authorization ?? '')?.[1];
}

/** An IAM-authorized management request: signed or refused, as API Gateway's IAM authorization does. */
async function handleManagement(
  req: IncomingMessage,
  body: Buffer | undefined,
  route: MatchedRoute,
  options: ApiServerOptions,
): Promise<APIGatewayProxyResult> {
  const accessKey = sigV4AccessKey(headerValue(req, 'authorization'));
  if (accessKey === undefined) {
    return gatewayError(
      403,
      'MISSING_AUTHENTICATION_TOKEN',
      'the management API needs a request signed with SigV4 (IAM credentials, service execute-api); producer API keys do not open it',
    );
  }
  if (body === undefined) {
    return errorResult(
      new PayloadTooLargeError(
        `the request body is over API Gateway's ${GATEWAY_MAX_BODY_BYTES} byte limit`,
        [{ field: 'body', message: `must be at most ${GATEWAY_MAX_BODY_BYTES} bytes` }],
      ),
    );
  }
  const event = proxyEvent(
    {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      rawHeaders: req.rawHeaders,
      body: body.toString('utf8'),
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      httpVersion: req.httpVersion,
    },
    { accessKey, accountId: options.function.accountId },
    new Date(),
    route,
  );
  const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const context = lambdaContext(
    { ...options.function, functionName: `${options.function.functionName}-management` },
    Date.now() + timeoutMs,
  );
  return invoke(options.managementHandler as ProxyHandler, event, context, timeoutMs);
}

/**
 * What API Gateway does with `Content-Encoding` before the function runs: it decodes gzip and deflate
 * bodies (by default, with no setting on the API) and passes the decompressed body on with the
 * header unchanged; a coding it does not support is its own 415. ("Call an API method with a
 * compressed payload", API Gateway developer guide:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-make-request-with-compressed-payload.html)
 * The output is capped at the gateway's payload limit, so a zip bomb is a 413 here too.
 *
 * One deliberate difference: a body that is not in the coding it names is a 400 here, the answer
 * Pushrail's contract gives (the request is wrong, and not because of its media type), where the
 * same page says API Gateway answers 415 before the function runs. The README says so.
 */
function decodeContent(body: Buffer, contentEncoding: string | undefined): Buffer {
  const coding = contentCodingOf(contentEncoding);
  if (coding === undefined) return body;
  try {
    return decompress(body, coding, GATEWAY_MAX_BODY_BYTES);
  } catch (error) {
    if (error instanceof PayloadTooLargeError) throw error;
    throw new ValidationError(
      `content-encoding is ${coding}, but the body is not ${coding} data`,
      [{ field: 'content-encoding', message: `the body is not ${coding} data` }],
      { cause: error },
    );
  }
}

/**
 * Lambda's Invoke API: the result as the body; a thrown error as `{errorType, errorMessage}` with the
 * `X-Amz-Function-Error: Unhandled` header, which the SDK and the AWS CLI report as a function error.
 * The invocation type is honoured as Lambda does: `DryRun` only checks the call (204, nothing runs:
 * for the replay function a dry run of the *invocation* must not move a DLQ), `Event` answers 202 and
 * runs the function in the background.
 */
async function invokeFunction(
  name: string,
  body: string | undefined,
  invocationType: string | undefined,
  options: ApiServerOptions,
): Promise<APIGatewayProxyResult> {
  const fn = options.functions?.[name];
  if (!fn) {
    return {
      statusCode: 404,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' },
      body: JSON.stringify({ Type: 'User', Message: `Function not found: ${name}` }),
    };
  }
  let payload: unknown;
  try {
    payload = body ? JSON.parse(body) : {};
  } catch {
    return {
      statusCode: 400,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidRequestContentException' },
      body: JSON.stringify({ Type: 'User', Message: 'Could not parse request body into json' }),
    };
  }
  const type = invocationType ?? 'RequestResponse';
  if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
    return {
      statusCode: 400,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidParameterValueException' },
      body: JSON.stringify({ Type: 'User', Message: `unknown X-Amz-Invocation-Type ${type}` }),
    };
  }
  if (type === 'DryRun') return { statusCode: 204, headers: {}, body: '' };
  const context = lambdaContext({ ...options.function, functionName: name }, Date.now() + fn.timeoutMs);
  if (type === 'Event') {
    fn.handler(payload, context).catch((error: unknown) =>
      console.error(`local API: asynchronous invocation of ${name} failed`, error),
    );
    return { statusCode: 202, headers: {}, body: '' };
  }
  try {
    const result = await fn.handler(payload, context);
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(result ?? null),
    };
  } catch (error) {
    const e = error as Error;
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' },
      body: JSON.stringify({ errorType: e.name, errorMessage: e.message }),
    };
  }
}

/** Runs the handler like the Lambda integration: a throw is a 502, a late answer a 504. */
async function invoke<E>(
  handler: (event: E, context: Context) => Promise<APIGatewayProxyResult>,
  event: E,
  context: Context,
  timeoutMs: number,
): Promise<APIGatewayProxyResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const result = await Promise.race([handler(event, context), timedOut]);
    if (result === 'timeout') {
      return gatewayError(
        504,
        'GATEWAY_TIMEOUT',
        `the ingest function did not answer within ${timeoutMs} ms`,
      );
    }
    if (typeof result?.statusCode !== 'number') {
      console.error('local API: the handler returned no statusCode', result);
      return gatewayError(502, 'BAD_GATEWAY', 'the ingest function returned a malformed response');
    }
    return result;
  } catch (error) {
    console.error('local API: the ingest function threw', error);
    return gatewayError(502, 'BAD_GATEWAY', 'the ingest function failed');
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads the body as bytes (decoding them is the handler's job); `undefined` when it is over the
 * gateway limit. The rest of an oversized body is drained, not read into memory, so the client
 * still gets the 413 instead of a reset.
 */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= GATEWAY_MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= GATEWAY_MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.at(-1) : value;
}

/** Constant-time comparison, as a key check should be even on a laptop. */
function sameKey(received: string, expected: string): boolean {
  const a = Buffer.from(received);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function errorResult(error: HttpError): APIGatewayProxyResult {
  return {
    statusCode: error.statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(error.toBody()),
  };
}

function gatewayError(statusCode: number, code: string, message: string): APIGatewayProxyResult {
  return errorResult(new HttpError(statusCode, code, message));
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name.toLowerCase()] = values.map(String);
  }
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  // API Gateway answers JSON when the integration names no content type.
  headers['content-type'] ??= 'application/json';
  const body = result.body ?? '';
  res.writeHead(result.statusCode, headers);
  res.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}
