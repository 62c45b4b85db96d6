import { z } from 'zod';

/**
 * One shape for the two events API Gateway hands ingest: the REST API's proxy event (payload 1.0,
 * API key checked by the usage plan) and the HTTP API's (payload 2.0, key checked by
 * lambdas/authorizer). Only what ingest reads is validated; the rest of each event passes.
 */
export interface GatewayRequest {
  readonly method: string;
  readonly path: string | undefined;
  /** Header names in lowercase (v2 sends them so; v1 keeps the client's case). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
  readonly isBase64Encoded: boolean;
  readonly requestId: string | undefined;
  readonly sourceIp: string | undefined;
  /** The producer's API key id: `identity.apiKeyId` (v1), the authorizer's context (v2). */
  readonly apiKeyId: string | undefined;
}

const headersSchema = z.record(z.string(), z.string().nullish()).nullish();
const optional = z.string().nullish();

const V2Schema = z.object({
  version: z.literal('2.0'),
  rawPath: z.string(),
  headers: headersSchema,
  body: optional,
  isBase64Encoded: z.boolean().optional(),
  requestContext: z.object({
    requestId: optional,
    http: z.object({ method: z.string(), sourceIp: optional }),
    authorizer: z.object({ lambda: z.object({ apiKeyId: optional }).nullish() }).nullish(),
  }),
});

const V1Schema = z.object({
  httpMethod: z.string(),
  // Not read by ingest (it has one route), so not required of the event.
  path: optional,
  headers: headersSchema,
  body: optional,
  isBase64Encoded: z.boolean().nullish(),
  requestContext: z
    .object({
      requestId: optional,
      identity: z.object({ sourceIp: optional, apiKeyId: optional }).nullish(),
    })
    .nullish(),
});

/** The proxy event as a GatewayRequest; an event of neither shape is a deployment error (it throws). */
export function gatewayRequestOf(event: unknown): GatewayRequest {
  const v2 = V2Schema.safeParse(event);
  if (v2.success) {
    const e = v2.data;
    return {
      method: e.requestContext.http.method,
      path: e.rawPath,
      headers: lowercased(e.headers),
      body: e.body ?? undefined,
      isBase64Encoded: e.isBase64Encoded ?? false,
      requestId: e.requestContext.requestId ?? undefined,
      sourceIp: e.requestContext.http.sourceIp ?? undefined,
      apiKeyId: e.requestContext.authorizer?.lambda?.apiKeyId ?? undefined,
    };
  }
  const v1 = V1Schema.safeParse(event);
  if (!v1.success) {
    throw new Error(
      `ingest received an event that is neither API Gateway payload 2.0 nor 1.0: ${v1.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  }
  const e = v1.data;
  return {
    method: e.httpMethod,
    path: e.path ?? undefined,
    headers: lowercased(e.headers),
    body: e.body ?? undefined,
    isBase64Encoded: e.isBase64Encoded ?? false,
    requestId: e.requestContext?.requestId ?? undefined,
    sourceIp: e.requestContext?.identity?.sourceIp ?? undefined,
    apiKeyId: e.requestContext?.identity?.apiKeyId ?? undefined,
  };
}

function lowercased(headers: Readonly<Record<string, string | null | undefined>> | null | undefined) {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {}))
    if (typeof value === 'string') out[name.toLowerCase()] = value;
  return out;
}
