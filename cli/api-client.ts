import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * The CLI's client of the management API (DESIGN.md "Management API"): every request signed with
 * SigV4 for `execute-api`, as API Gateway's IAM authorization and the local runtime require. Shared by
 * the commands that call the API (destinations now; trace, health, audit and the console later).
 */

/** What SignatureV4 signs with: credentials, or a provider of them (the SDK's default chain). */
export type Credentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

/** Where the API is and how to sign for it (cli/target.ts finds it). */
export interface ApiTarget {
  /** Base URL without the `/v1/...` part (the stack's `ApiUrl` output, local.json's `apiUrl`). */
  readonly baseUrl: string;
  /** The region requests are signed for. */
  readonly region: string;
  readonly credentials: Credentials;
  /** For messages: "the local runtime at …", "stack Pushrail". */
  readonly where: string;
}

export interface ApiResponse {
  readonly status: number;
  /** The ETag without its quotes: the destination's version. */
  readonly etag?: string;
  readonly body: unknown;
}

/** One field problem the API reported (core/errors.ts FieldIssue). */
export interface ApiIssue {
  readonly field?: string;
  readonly message?: string;
  readonly index?: number;
}

/** The API answered 4xx or 5xx: its error code, message and field details, never the request body. */
export class ApiError extends Error {
  public constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly details: readonly ApiIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  /** Sent as `If-Match: "<version>"` (optimistic concurrency: 412 if the destination moved on). */
  readonly ifMatch?: number | string;
}

export class ManagementApi {
  private readonly signer: SignatureV4;

  public constructor(
    public readonly target: ApiTarget,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: target.region,
      credentials: target.credentials,
      sha256: Sha256,
    });
  }

  /** Sends one signed request; an answer of 400 or more is thrown as an ApiError. */
  public async send(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const url = new URL(`${this.target.baseUrl.replace(/\/+$/, '')}${path}`);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      host: url.host,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.ifMatch === undefined ? {} : { 'if-match': `"${options.ifMatch}"` }),
    };
    const signed = await this.signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body === undefined ? {} : { body }),
    });
    // fetch sets Host itself, from the same URL: the signed value is what goes on the wire.
    const { host: _host, ...sent } = signed.headers;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, headers: sent, ...(body === undefined ? {} : { body }) });
    } catch (error) {
      throw new Error(
        `cannot reach the management API on ${this.target.where} (${url.origin}): ${causeOf(error)}`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (res.status >= 400) throw errorOf(res.status, parsed);
    const etag = res.headers.get('etag')?.replace(/^W\//, '').replace(/^"|"$/g, '');
    return { status: res.status, ...(etag ? { etag } : {}), body: parsed };
  }
}

/** Pushrail's `{"error": {code, message, details}}`, or API Gateway's own `{"message"}`/`{"Message"}`. */
function errorOf(status: number, body: unknown): ApiError {
  const record = (v: unknown): Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const outer = record(body);
  const inner = record(outer.error);
  const code = [inner.code, outer.code, outer.__type].find((c) => typeof c === 'string') as
    | string
    | undefined;
  const message = [
    inner.message,
    outer.message,
    outer.Message,
    typeof body === 'string' ? body : undefined,
  ].find((m) => typeof m === 'string' && m.length > 0) as string | undefined;
  const details = Array.isArray(inner.details) ? (inner.details as ApiIssue[]) : [];
  return new ApiError(status, code ?? `HTTP_${status}`, message ?? `the API answered ${status}`, details);
}

function causeOf(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
}
