import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManagementApi } from '../../cli/api-client.js';
import { buildConsoleAssets } from '../../cli/console/assets.js';
import { type ConsoleServer, startConsoleServer } from '../../cli/console/server.js';
import type { ReplayRequest } from '../../lambdas/core/replay-request.js';

/**
 * The console's forwarding server against a recording upstream that stands for the management API:
 * every forwarded call is signed (SigV4 for execute-api, with the CLI's credentials), nothing of the
 * signature or the credentials reaches the browser, a foreign Host or Origin is refused with 403, and
 * only the allow-list is forwarded.
 */

const KEY_ID = 'AKIACONSOLETEST00001';
const SECRET = 'consoleSecretKey/DoNotLeak+0123456789abcd';
const TOKEN = 'consoleSessionToken-DoNotLeak';

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

let upstream: Server;
let upstreamUrl: string;
const recorded: Recorded[] = [];
let server: ConsoleServer;
const replays: ReplayRequest[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    recorded.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    // Headers an upstream might send: none of them may reach the browser.
    res.setHeader('x-amzn-requestid', 'upstream-request');
    res.setHeader('set-cookie', 'upstream=1');
    if (req.url?.startsWith('/v1/events/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            code: 'NOT_FOUND',
            message: 'no such event',
            details: [{ field: 'eventId', message: 'not found' }],
          },
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ forwarded: req.url }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const api = new ManagementApi({
    baseUrl: upstreamUrl,
    region: 'eu-west-1',
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN },
    where: 'the recording upstream',
  });
  server = await startConsoleServer({
    api,
    replay: async (req, onProgress) => {
      replays.push(req);
      const total = {
        replayId: 'r',
        dryRun: req.dryRun === true,
        complete: true,
        matched: 3,
        replayed: req.dryRun ? 0 : 3,
        skipped: 0,
        failed: 0,
        startedAt: new Date().toISOString(),
        resumed: false,
      };
      onProgress({ total, last: total, invocation: 1, continuing: false });
      return total;
    },
    requestedBy: 'local:tester',
    assets: await buildConsoleAssets(),
    port: 0,
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

beforeEach(() => {
  recorded.length = 0;
  replays.length = 0;
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A raw request, so the test sets Host and Origin as a browser (or an attacker's page) would. */
function send(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        headers: {
          host: `127.0.0.1:${server.port}`,
          // Node sends DELETE bodies without framing unless told their length.
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const ALLOWED = [
  [
    '/api/deliveries?destinationId=acme-s3&outcome=failed&limit=20',
    '/v1/deliveries?destinationId=acme-s3&outcome=failed&limit=20',
  ],
  ['/api/health', '/v1/health'],
  ['/api/destinations/acme-s3/health', '/v1/destinations/acme-s3/health'],
  ['/api/destinations', '/v1/destinations'],
  [
    '/api/events/evt_0123456789abcdefghjkmnpqrs?include=payload',
    '/v1/events/evt_0123456789abcdefghjkmnpqrs?include=payload',
  ],
  ['/api/audit?action=replay.started', '/v1/audit?action=replay.started'],
] as const;

function expectNoCredential(answer: Answer): void {
  const everything = `${JSON.stringify(answer.headers)}\n${answer.body}`;
  for (const secret of [SECRET, TOKEN, KEY_ID, 'AWS4-HMAC-SHA256', 'Signature='])
    expect(everything).not.toContain(secret);
  for (const name of Object.keys(answer.headers))
    expect(name).not.toMatch(/^(authorization|x-amz|x-amzn|set-cookie)/);
}

describe('the console forwarding server', () => {
  it('forwards each allow-listed read to the management API signed with SigV4 for execute-api, and answers the browser without any credential', async () => {
    for (const [path, forwarded] of ALLOWED) {
      const answer = await send('GET', path);
      const call = recorded.at(-1);
      expect(call?.url, path).toBe(forwarded);
      expect(call?.method).toBe('GET');
      expect(call?.headers.authorization).toMatch(
        new RegExp(
          `^AWS4-HMAC-SHA256 Credential=${KEY_ID}/\\d{8}/eu-west-1/execute-api/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`,
        ),
      );
      expect(call?.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      expect(call?.headers['x-amz-security-token']).toBe(TOKEN);
      expect(answer.status === 200 || answer.status === 404).toBe(true);
      expectNoCredential(answer);
    }
    expect(recorded).toHaveLength(ALLOWED.length);
  });

  it("answers the API's refusal with its status and error, nothing else of the upstream's answer", async () => {
    const answer = await send('GET', '/api/events/evt_0123456789abcdefghjkmnpqrs');
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'no such event',
        details: [{ field: 'eventId', message: 'not found' }],
      },
    });
    expectNoCredential(answer);
  });

  it('drops query parameters the route does not take', async () => {
    await send('GET', '/api/health?customerExternalId=acme&X-Amz-Credential=forged&extra=1');
    expect(recorded.at(-1)?.url).toBe('/v1/health?customerExternalId=acme');
  });

  it('serves the page, with a strict content security policy and no credential in it', async () => {
    for (const path of ['/', '/console.js', '/console.css', '/uplot.css']) {
      const answer = await send('GET', path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
      expectNoCredential(answer);
    }
    expect(recorded).toHaveLength(0);
  });

  it('refuses a request whose Host is not its own (DNS rebinding) or whose Origin is foreign, with 403, before forwarding', async () => {
    const port = server.port;
    const foreign: Record<string, string>[] = [
      { host: `evil.example:${port}` },
      { host: `127.0.0.1.nip.io:${port}` },
      { host: '127.0.0.1' },
      { host: `127.0.0.1:${port + 1}` },
      { origin: 'http://evil.example' },
      { origin: `http://evil.example:${port}` },
      { origin: `https://127.0.0.1:${port}` },
      { origin: 'null' },
    ];
    for (const headers of foreign) {
      for (const path of ['/api/health', '/']) {
        const answer = await send('GET', path, headers);
        expect(answer.status, `${JSON.stringify(headers)} ${path}`).toBe(403);
      }
    }
    const replay = await send(
      'POST',
      '/api/replay',
      { origin: 'http://evil.example', 'content-type': 'application/json' },
      JSON.stringify({ destinationId: 'acme-s3' }),
    );
    expect(replay.status).toBe(403);
    expect(recorded).toHaveLength(0);
    expect(replays).toHaveLength(0);

    // Its own names are answered, with or without an Origin.
    expect((await send('GET', '/api/health', { host: `localhost:${port}` })).status).toBe(200);
    expect(
      (await send('GET', '/api/health', { origin: `http://localhost:${port}`, host: `localhost:${port}` }))
        .status,
    ).toBe(200);
    expect((await send('GET', '/api/health', { origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });

  it('forwards nothing off the allow-list: no writes, no other routes, no malformed ids', async () => {
    for (const [method, path] of [
      ['POST', '/api/destinations'],
      ['PUT', '/api/destinations/acme-s3'],
      ['DELETE', '/api/destinations/acme-s3'],
      ['GET', '/api/destinations/acme-s3'],
      ['POST', '/api/destinations/acme-s3/pause'],
      ['POST', '/api/destinations/acme-s3/rotate-secret'],
      ['POST', '/api/destinations/acme-s3/test'],
      ['POST', '/api/health'],
      ['GET', '/api/events/not-an-event'],
      ['GET', '/api/destinations/..%2Fv1%2Fdestinations/health'],
      ['GET', '/api/v1/destinations'],
      ['GET', '/v1/destinations'],
      ['GET', '/api/replay/00000000-0000-0000-0000-000000000000'],
    ] as const) {
      const answer = await send(
        method,
        path,
        method === 'GET' ? {} : { 'content-type': 'application/json' },
        method === 'GET' ? undefined : '{}',
      ).catch((e: Error) => {
        throw new Error(`${method} ${path}: ${e.message}`);
      });
      expect(answer.status, `${method} ${path}`).toBe(404);
    }
    expect(recorded).toHaveLength(0);
  });

  it('runs a DLQ replay through the replay path, not the API: JSON only, validated, with who asked', async () => {
    const json = { 'content-type': 'application/json' };
    expect(
      (await send('POST', '/api/replay', { 'content-type': 'text/plain' }, '{"destinationId":"acme-s3"}'))
        .status,
    ).toBe(415);
    const bad = await send(
      'POST',
      '/api/replay',
      json,
      JSON.stringify({ destinationId: 'acme-s3', source: 'events' }),
    );
    expect(bad.status).toBe(400);
    expect(
      (
        await send(
          'POST',
          '/api/replay',
          json,
          JSON.stringify({ destinationId: 'acme-s3', from: 'yesterday' }),
        )
      ).status,
    ).toBe(400);
    expect(replays).toHaveLength(0);

    const dry = await send(
      'POST',
      '/api/replay',
      json,
      JSON.stringify({ destinationId: 'acme-s3', from: '2026-05-26T12:00:00.000Z', dryRun: true }),
    );
    expect(dry.status).toBe(200);
    expect(JSON.parse(dry.body)).toMatchObject({ state: 'done', total: { matched: 3, replayed: 0 } });
    expect(replays).toEqual([
      {
        destinationId: 'acme-s3',
        source: 'dlq',
        from: '2026-05-26T12:00:00.000Z',
        dryRun: true,
        requestedBy: 'local:tester',
      },
    ]);

    const started = await send('POST', '/api/replay', json, JSON.stringify({ destinationId: 'acme-s3' }));
    expect(started.status).toBe(202);
    const { id } = JSON.parse(started.body) as { id: string };
    const polled = await send('GET', `/api/replay/${id}`);
    expect(JSON.parse(polled.body)).toMatchObject({ state: 'done', invocations: 1, total: { replayed: 3 } });
    expect(recorded).toHaveLength(0);
  });
});
