import { randomUUID } from 'node:crypto';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2WithLambdaAuthorizer,
  APIGatewayRequestAuthorizerEventV2,
  Context,
} from 'aws-lambda';
import type { AuthorizerContext } from '../lambdas/authorizer/handler.js';

/**
 * The events and context API Gateway (REST API, Lambda proxy integration, payload v1; HTTP API,
 * payload v2, and its Lambda authorizer's request) and Lambda hand a handler, built from a local HTTP
 * request, so the deployed handlers run unchanged on a laptop.
 */

/** The one resource of the API. */
export const EVENTS_RESOURCE = '/v1/events';
export const LOCAL_STAGE = 'local';
/** API Gateway's integration timeout: the longest a REST API waits for the Lambda. */
export const INTEGRATION_TIMEOUT_MS = 29_000;

export interface IncomingRequest {
  readonly method: string;
  /** Path and query string as received, e.g. `/v1/events?x=1`. */
  readonly url: string;
  /** Node's `rawHeaders`: names in their original case, alternating with values. */
  readonly rawHeaders: readonly string[];
  readonly body: string;
  /**
   * The body is base64 (API Gateway's form for binary media types).
   * @default false
   */
  readonly isBase64Encoded?: boolean;
  readonly sourceIp: string;
  readonly httpVersion: string;
}

/** A producer with an API key (`POST /v1/events`), or an IAM caller (the management routes). */
export type Caller =
  | {
      /** The API key the request carried; API Gateway passes it on in `identity.apiKey`. */
      readonly apiKey: string;
      readonly apiKeyId: string;
      readonly accountId: string;
    }
  | {
      /** The access key id of the SigV4 signature; the local stand-in's `who` (DESIGN.md). */
      readonly accessKey: string;
      readonly accountId: string;
    };

/** The API Gateway resource a request matched, with its path parameters. */
export interface MatchedRoute {
  readonly resource: string;
  readonly pathParameters: Readonly<Record<string, string>> | null;
}

export function proxyEvent(
  request: IncomingRequest,
  caller: Caller,
  now = new Date(),
  route: MatchedRoute = { resource: EVENTS_RESOURCE, pathParameters: null },
): APIGatewayProxyEvent {
  const url = new URL(request.url, 'http://local');
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] as string;
    const value = request.rawHeaders[i + 1] as string;
    headers[name] = value; // like API Gateway: the last of repeated headers wins here
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const query: Record<string, string> = {};
  const multiValueQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    multiValueQuery[name] = [...(multiValueQuery[name] ?? []), value];
  }
  const hasQuery = Object.keys(query).length > 0;
  const userAgent = findHeader(headers, 'user-agent');
  const host = findHeader(headers, 'host');
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: route.pathParameters ? { ...route.pathParameters } : null,
    stageVariables: null,
    body: request.body.length > 0 ? request.body : null,
    isBase64Encoded: request.isBase64Encoded ?? false,
    requestContext: {
      accountId: caller.accountId,
      apiId: 'local',
      authorizer: undefined,
      domainName: host,
      domainPrefix: host?.split('.')[0],
      extendedRequestId: randomUUID(),
      httpMethod: request.method,
      path: `/${LOCAL_STAGE}${url.pathname}`,
      protocol: `HTTP/${request.httpVersion}`,
      requestId: randomUUID(),
      requestTime: requestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: route.resource,
      stage: LOCAL_STAGE,
      identity: {
        accessKey: 'accessKey' in caller ? caller.accessKey : null,
        accountId: null,
        apiKey: 'apiKey' in caller ? caller.apiKey : null,
        apiKeyId: 'apiKey' in caller ? caller.apiKeyId : null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: null,
        userAgent: userAgent ?? null,
        userArn: null,
      },
    },
  };
}

/** The HTTP API's route key of the one route it has (lib/http-ingest-api.ts). */
export const HTTP_ROUTE_KEY = `POST ${EVENTS_RESOURCE}`;

/**
 * What an HTTP API hands the integration and its authorizer, from the same request: header names in
 * lowercase, repeated headers joined with commas (payload 2.0), the `$default` stage (no stage in the
 * path).
 */
function httpApiParts(request: IncomingRequest, accountId: string, now: Date) {
  const url = new URL(request.url, 'http://local');
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = (request.rawHeaders[i] as string).toLowerCase();
    const value = request.rawHeaders[i + 1] as string;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const host = headers.host ?? 'local';
  return {
    headers,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId,
      apiId: 'local-http',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: HTTP_ROUTE_KEY,
      stage: '$default',
      time: requestTime(now),
      timeEpoch: now.getTime(),
    },
  };
}

/** The HTTP API's REQUEST authorizer event (payload 2.0) for a request to `POST /v1/events`. */
export function authorizerRequestEvent(
  request: IncomingRequest,
  accountId: string,
  now = new Date(),
): APIGatewayRequestAuthorizerEventV2 {
  const parts = httpApiParts(request, accountId, now);
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:local:${accountId}:local-http/$default/POST${EVENTS_RESOURCE}`,
    identitySource: parts.headers['x-api-key'] === undefined ? [] : [parts.headers['x-api-key']],
    routeKey: HTTP_ROUTE_KEY,
    rawPath: parts.rawPath,
    rawQueryString: parts.rawQueryString,
    cookies: [],
    headers: parts.headers,
    ...(parts.queryStringParameters ? { queryStringParameters: parts.queryStringParameters } : {}),
    requestContext: parts.requestContext,
  };
}

/** The HTTP API's proxy event (payload 2.0), with the context the authorizer answered. */
export function httpApiEvent(
  request: IncomingRequest,
  authorizer: AuthorizerContext,
  accountId: string,
  now = new Date(),
): APIGatewayProxyEventV2WithLambdaAuthorizer<AuthorizerContext> {
  const parts = httpApiParts(request, accountId, now);
  return {
    version: '2.0',
    routeKey: HTTP_ROUTE_KEY,
    rawPath: parts.rawPath,
    rawQueryString: parts.rawQueryString,
    headers: parts.headers,
    ...(parts.queryStringParameters ? { queryStringParameters: parts.queryStringParameters } : {}),
    ...(request.body.length > 0 ? { body: request.body } : {}),
    isBase64Encoded: request.isBase64Encoded ?? false,
    requestContext: { ...parts.requestContext, authorizer: { lambda: { ...authorizer } } },
  };
}

export interface FunctionIdentity {
  readonly functionName: string;
  readonly region: string;
  readonly accountId: string;
}

/** A Lambda context whose remaining time counts down from the API Gateway deadline. */
export function lambdaContext(fn: FunctionIdentity, deadline: number): Context {
  const unsupported = (what: string) => () => {
    throw new Error(`context.${what}() is not supported: return a result from the async handler`);
  };
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${fn.region}:${fn.accountId}:function:${fn.functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `${day}/[$LATEST]local`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}

/** Header lookup by name, ignoring case (HTTP header names are case-insensitive). */
export function findHeader(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's `requestTime` format: `09/Apr/2015:12:34:56 +0000`. */
function requestTime(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}
