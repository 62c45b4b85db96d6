import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP proxy in front of moto that records every AWS request and can answer chosen ones with
 * an injected failure. moto cannot inject faults, and it does not check ExternalId or
 * ExpectedBucketOwner, so tests assert on what the SDK actually sent through here.
 */
export interface CapturedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** `Service.Operation` for JSON/query protocols (`AmazonSQS.SendMessageBatch`, `STS.AssumeRole`), `S3.<METHOD>` for S3. */
  readonly operation: string;
}

export interface InjectedResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Record<string, string>;
}

export interface FaultRule {
  readonly match: (request: CapturedRequest) => boolean;
  /** How many matching requests to fail; Infinity until removed. */
  times: number;
  /** An answer in place of the service's, a dropped connection, or the request held until `until` settles, then forwarded. */
  readonly respond: InjectedResponse | 'drop' | { readonly until: Promise<void> };
}

export const jsonError = (
  status: number,
  type: string,
  message = 'injected by the test',
): InjectedResponse => ({
  status,
  body: JSON.stringify({ __type: type, message }),
  headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': `${type};Receiver` },
});

export const s3Error = (
  status: number,
  code: string,
  message = 'injected by the test',
): InjectedResponse => ({
  status,
  body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  headers: { 'content-type': 'application/xml' },
});

export class FaultProxy {
  public readonly requests: CapturedRequest[] = [];
  private readonly rules: FaultRule[] = [];

  private constructor(
    private readonly server: Server,
    public readonly endpoint: string,
  ) {}

  public static async start(target: string): Promise<FaultProxy> {
    const upstream = new URL(target);
    let proxy: FaultProxy | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const captured: CapturedRequest = {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers: req.headers,
          body: body.toString('utf8'),
          operation: operationOf(req.method ?? 'GET', req.headers, body.toString('utf8')),
        };
        proxy?.requests.push(captured);
        const rule = proxy?.rules.find((r) => r.times > 0 && r.match(captured));
        if (rule) {
          rule.times -= 1;
          if (rule.respond === 'drop') {
            req.socket.destroy();
            return;
          }
          if ('until' in rule.respond) {
            void rule.respond.until.then(() => forward());
            return;
          }
          res.writeHead(rule.respond.status, rule.respond.headers ?? {});
          res.end(rule.respond.body);
          return;
        }
        forward();
      });

      function forward(): void {
        const body = Buffer.concat(chunks);
        const upstreamRequest = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: `${upstream.hostname}:${upstream.port}` },
          },
          (upstreamRes) => {
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
            upstreamRes.pipe(res);
          },
        );
        upstreamRequest.on('error', (error) => {
          res.writeHead(502);
          res.end(String(error));
        });
        upstreamRequest.end(body);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new FaultProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  /** Fails the next `times` requests matching `match`; returns the rule so a test can end it early. */
  public inject(
    match: FaultRule['match'],
    respond: FaultRule['respond'],
    times = Number.POSITIVE_INFINITY,
  ): FaultRule {
    const rule: FaultRule = { match, respond, times };
    this.rules.push(rule);
    return rule;
  }

  public clearFaults(): void {
    this.rules.length = 0;
  }

  public calls(operation: string): CapturedRequest[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  public async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Matches requests of one operation, e.g. `op('AmazonSQS.SendMessageBatch')`. */
export const op =
  (operation: string) =>
  (r: CapturedRequest): boolean =>
    r.operation === operation;

function operationOf(method: string, headers: IncomingHttpHeaders, body: string): string {
  const target = headers['x-amz-target'];
  if (typeof target === 'string') {
    const [service = '', operation = ''] = target.split('.');
    return `${service.replace(/_\d+$/, '')}.${operation}`;
  }
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body)?.[1];
  if (action) {
    const auth = String(headers.authorization ?? '');
    const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? 'query';
    return `${service.toUpperCase()}.${action}`;
  }
  return `S3.${method}`;
}
