import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InjectedResponse } from '../fault-proxy.js';

/**
 * The fault suite's proxy in front of moto. Like test/support/fault-proxy.ts it sees every AWS call the
 * handlers make, but it keeps no request log (10,000 events would hold gigabytes of bodies) and it
 * can do what a fixed injected answer cannot:
 *
 * - decide per request, with state (a policy function rather than a list of rules);
 * - forward a rewritten request and rewrite the real answer (a PutEvents partial failure: only the
 *   entries that are to succeed reach moto, and the answer marks the others failed);
 * - tell a listener what moto answered (to crash a function right after a call succeeded).
 */

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** `Service.Operation` (`DynamoDB.PutItem`, `AWSEvents.PutEvents`, `AmazonSQS.SendMessageBatch`), `S3.<METHOD>` for S3. */
  readonly operation: string;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly body: Buffer;
}

export type Verdict =
  | { readonly kind: 'respond'; readonly response: InjectedResponse }
  | { readonly kind: 'drop' }
  | {
      readonly kind: 'forward';
      /** Sent instead of the original body (Content-Length is fixed up; moto does not check signatures). */
      readonly body?: Buffer;
      /** Rewrites moto's answer before the caller sees it. */
      readonly rewrite?: (upstream: UpstreamResponse) => UpstreamResponse;
    };

/** Decides what happens to a request; `undefined` forwards it unchanged. */
export type Policy = (request: ProxiedRequest) => Verdict | undefined;

/** Told of every answer the caller received from moto (forwarded requests only). */
export type ResponseListener = (request: ProxiedRequest, response: UpstreamResponse) => void;

export class ChaosProxy {
  /** Requests seen, by operation (forwarded or not). */
  public readonly counts = new Map<string, number>();
  /** Milliseconds moto took to answer, by operation (forwarded requests only). */
  public readonly upstreamMs = new Map<string, number>();
  public policy: Policy | undefined;
  private readonly listeners: ResponseListener[] = [];

  private constructor(
    private readonly server: Server,
    public readonly endpoint: string,
  ) {}

  public static async start(target: string): Promise<ChaosProxy> {
    const upstream = new URL(target);
    let proxy: ChaosProxy | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const self = proxy as ChaosProxy;
        const body = Buffer.concat(chunks);
        const request: ProxiedRequest = {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers: req.headers,
          body,
          operation: operationOf(req.method ?? 'GET', req.headers, body),
        };
        self.counts.set(request.operation, (self.counts.get(request.operation) ?? 0) + 1);
        let verdict: Verdict | undefined;
        try {
          verdict = self.policy?.(request);
        } catch (error) {
          res.writeHead(599);
          res.end(`fault policy threw: ${String(error)}`);
          return;
        }
        if (verdict?.kind === 'drop') {
          req.socket.destroy();
          return;
        }
        if (verdict?.kind === 'respond') {
          res.writeHead(verdict.response.status, verdict.response.headers ?? {});
          res.end(verdict.response.body);
          return;
        }
        const sent = verdict?.body ?? body;
        const headers: IncomingHttpHeaders = {
          ...req.headers,
          host: `${upstream.hostname}:${upstream.port}`,
        };
        if (verdict?.body) headers['content-length'] = String(sent.length);
        const sentAt = Date.now();
        const forward = httpRequest(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
          (upstreamRes) => {
            const parts: Buffer[] = [];
            upstreamRes.on('data', (c: Buffer) => parts.push(c));
            upstreamRes.on('end', () => {
              self.upstreamMs.set(
                request.operation,
                (self.upstreamMs.get(request.operation) ?? 0) + Date.now() - sentAt,
              );
              let answer: UpstreamResponse = {
                status: upstreamRes.statusCode ?? 502,
                body: Buffer.concat(parts),
              };
              const outHeaders = { ...upstreamRes.headers };
              if (verdict?.rewrite) {
                answer = verdict.rewrite(answer);
                delete outHeaders['x-amz-crc32'];
                delete outHeaders['transfer-encoding'];
              }
              outHeaders['content-length'] = String(answer.body.length);
              for (const listener of self.listeners) listener(request, answer);
              res.writeHead(answer.status, outHeaders);
              res.end(answer.body);
            });
          },
        );
        forward.on('error', (error) => {
          res.writeHead(502);
          res.end(String(error));
        });
        forward.end(sent);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new ChaosProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  public onResponse(listener: ResponseListener): void {
    this.listeners.push(listener);
  }

  public count(operation: string): number {
    return this.counts.get(operation) ?? 0;
  }

  public async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function operationOf(method: string, headers: IncomingHttpHeaders, body: Buffer): string {
  const target = headers['x-amz-target'];
  if (typeof target === 'string') {
    const [service = '', operation = ''] = target.split('.');
    return `${service.replace(/_\d+$/, '')}.${operation}`;
  }
  const contentType = String(headers['content-type'] ?? '');
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('utf8'))?.[1];
    if (action) {
      const auth = String(headers.authorization ?? '');
      const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? 'query';
      return `${service.toUpperCase()}.${action}`;
    }
  }
  return `S3.${method}`;
}
