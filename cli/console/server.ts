import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { ReplayRequest, ReplayResult } from '../../lambdas/core/replay-request.js';
import { ApiError, type ApiResponse, type RequestOptions } from '../api-client.js';
import type { ReplayProgress } from '../replay-run.js';
import { forwardedRoute } from './routes.js';

/**
 * The console's local server (`npx pushrail console`): the page's static files, and its `/api/...`
 * calls forwarded to the management API by the CLI's own signed client. The browser holds no
 * credential: it talks to this server only, which answers the API's JSON body and status and
 * nothing of the upstream request or its headers.
 *
 * Safety:
 * - it listens on 127.0.0.1 only;
 * - a request whose `Host` is not this server's own (`127.0.0.1:<port>` or `localhost:<port>`), or
 *   whose `Origin`, when sent, is not, is refused with 403 before anything else: a page of another
 *   site, even one whose DNS name was rebound to 127.0.0.1, cannot call it;
 * - only the allow-list of routes.ts is forwarded, GET only; the one write is a DLQ replay, run
 *   through the replay CLI's path, which needs a JSON body (a cross-site form cannot send one).
 */

/** The management API as the console uses it (cli/api-client.ts ManagementApi). */
export interface ConsoleApi {
  send(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
}

/** Runs a replay to its end (cli/replay-run.ts runReplay on the resolved target). */
export type ConsoleReplay = (
  request: ReplayRequest,
  onProgress: (progress: ReplayProgress) => void,
) => Promise<ReplayResult | undefined>;

export interface ConsoleAsset {
  readonly contentType: string;
  readonly body: string | Buffer;
}

export interface ConsoleServerOptions {
  readonly api: ConsoleApi;
  readonly replay: ConsoleReplay;
  /** Who replays, for the audit trail (cli/replay-run.ts whoAmI). */
  readonly requestedBy: string;
  /** The page's files by path (`/` is the page itself). */
  readonly assets: Readonly<Record<string, ConsoleAsset>>;
  /** @default 4000 (0 picks a free port) */
  readonly port?: number;
  /** @default no request log */
  readonly log?: (line: string) => void;
}

export interface ConsoleServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The page's replay: a DLQ replay of one destination, optionally of a window, dry run first. */
const ReplayBodySchema = z.strictObject({
  destinationId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  dryRun: z.boolean().optional(),
});

interface ReplayJob {
  state: 'running' | 'done' | 'failed';
  readonly request: ReplayRequest;
  invocations: number;
  total?: ReplayResult;
  error?: string;
}

/** Replay jobs kept for the page to poll; the oldest finished ones go beyond this. */
const MAX_JOBS = 50;
/** The page sends small JSON bodies only. */
const MAX_BODY_BYTES = 16 * 1024;

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // uPlot sets element styles from script: inline styles are allowed, nothing else from elsewhere.
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
} as const;

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const jobs = new Map<string, ReplayJob>();
  let allowedHosts: ReadonlySet<string> = new Set();
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('console: unexpected error', error);
      if (!res.headersSent) json(res, 500, { error: { code: 'INTERNAL', message: 'the console failed' } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    const origin = req.headers.origin;
    if (!allowedHosts.has(host) || (origin !== undefined && !allowedHosts.has(originHost(origin)))) {
      options.log?.(`${req.method} ${req.url} -> 403 (Host ${host}, Origin ${origin ?? '-'})`);
      req.resume();
      json(res, 403, {
        error: { code: 'FORBIDDEN', message: 'the console answers its own page only (Host and Origin)' },
      });
      return;
    }
    const url = new URL(req.url ?? '/', `http://${host}`);
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/api/')) return api(req, res, method, url);
    req.resume();
    const asset = method === 'GET' ? options.assets[url.pathname] : undefined;
    if (!asset) {
      json(res, 404, { error: { code: 'NOT_FOUND', message: 'no such page' } });
      return;
    }
    res.writeHead(200, { 'content-type': asset.contentType, ...SECURITY_HEADERS });
    res.end(asset.body);
  }

  async function api(req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<void> {
    if (url.pathname === '/api/replay' && method === 'POST') return startReplay(req, res);
    // No other route reads a body: drain it, so the connection stays usable for the next request.
    req.resume();
    const job = /^\/api\/replay\/([0-9a-f-]{36})$/.exec(url.pathname);
    if (job && method === 'GET') {
      const found = jobs.get(job[1] as string);
      if (!found) json(res, 404, { error: { code: 'NOT_FOUND', message: 'no such replay' } });
      else json(res, 200, jobView(found));
      return;
    }
    const route = forwardedRoute(method, url.pathname);
    if (!route) {
      json(res, 404, {
        error: { code: 'NOT_FOUND', message: `the console does not forward ${method} ${url.pathname}` },
      });
      return;
    }
    const query: Record<string, string> = {};
    for (const name of route.query) {
      const value = url.searchParams.get(name);
      if (value !== null && value !== '') query[name] = value;
    }
    try {
      const answer = await options.api.send('GET', route.path, { query });
      options.log?.(`GET ${url.pathname} -> ${answer.status}`);
      json(res, answer.status, answer.body ?? {});
    } catch (error) {
      if (error instanceof ApiError) {
        options.log?.(`GET ${url.pathname} -> ${error.status} ${error.code}`);
        json(res, error.status, {
          error: {
            code: error.code,
            message: error.message,
            ...(error.details.length ? { details: error.details } : {}),
          },
        });
        return;
      }
      // Unreachable API, expired credentials...: the message says which, never a key.
      options.log?.(`GET ${url.pathname} -> 502 ${(error as Error).message}`);
      json(res, 502, { error: { code: 'UPSTREAM_FAILED', message: (error as Error).message } });
    }
  }

  async function startReplay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      json(res, 415, { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' } });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      json(res, 400, {
        error: { code: 'VALIDATION_FAILED', message: 'the body is not JSON (at most 16 KiB)' },
      });
      return;
    }
    const parsed = ReplayBodySchema.safeParse(body);
    if (!parsed.success) {
      json(res, 400, {
        error: {
          code: 'VALIDATION_FAILED',
          message: 'invalid replay',
          details: parsed.error.issues.map((i) => ({
            field: i.path.join('.') || 'body',
            message: i.message,
          })),
        },
      });
      return;
    }
    const request: ReplayRequest = {
      destinationId: parsed.data.destinationId,
      source: 'dlq',
      ...(parsed.data.from ? { from: parsed.data.from } : {}),
      ...(parsed.data.to ? { to: parsed.data.to } : {}),
      ...(parsed.data.dryRun ? { dryRun: true } : {}),
      requestedBy: options.requestedBy,
    };
    const id = randomUUID();
    const job: ReplayJob = { state: 'running', request, invocations: 0 };
    remember(id, job);
    const run = options
      .replay(request, (progress) => {
        job.invocations = progress.invocation;
        job.total = progress.total;
      })
      .then((total) => {
        job.state = 'done';
        if (total) job.total = total;
      })
      .catch((error: unknown) => {
        job.state = 'failed';
        job.error = (error as Error).message;
      });
    options.log?.(`POST /api/replay ${JSON.stringify({ ...parsed.data })} -> job ${id}`);
    // A dry run is one invocation: answered when done. A replay answers at once; the page polls it.
    if (request.dryRun) {
      await run;
      json(res, job.state === 'failed' ? 400 : 200, { id, ...jobView(job) });
    } else json(res, 202, { id, ...jobView(job) });
  }

  function remember(id: string, job: ReplayJob): void {
    jobs.set(id, job);
    for (const [oldId, old] of jobs) {
      if (jobs.size <= MAX_JOBS) break;
      if (old.state !== 'running') jobs.delete(oldId);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 4000, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function jobView(job: ReplayJob) {
  return {
    state: job.state,
    request: { ...job.request, requestedBy: undefined },
    invocations: job.invocations,
    ...(job.total ? { total: job.total } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

/** `http://localhost:4000` → `localhost:4000`; anything unparsable matches no host. */
function originHost(origin: string): string {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' ? url.host : '';
  } catch {
    return '';
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
