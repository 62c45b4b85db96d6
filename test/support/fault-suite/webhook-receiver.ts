import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * The fault suite's webhook endpoint: a real node:http server on 127.0.0.1 that, per request and by a
 * seeded draw, answers 503, answers 500, never answers (the sender's timeoutSec ends it), or verifies
 * the signature with the `standardwebhooks` package and answers 200. Only 200s count as delivered.
 */
export interface FaultyReceiver {
  readonly url: string;
  /** The signing secret requests must verify with (the create answer's). */
  trust(secret: string): void;
  /** eventId → how many times it arrived in a request answered 200. */
  readonly delivered: Map<string, number>;
  /** eventId → the event as it arrived (last copy). */
  readonly bodies: Map<string, unknown>;
  readonly injected: Map<string, number>;
  /** Requests that did not verify or did not parse. */
  readonly problems: string[];
  readonly requests: number;
  stop(): Promise<void>;
}

export async function startFaultyReceiver(
  random: () => number,
  rates: { readonly status503: number; readonly status500: number; readonly hang: number },
): Promise<FaultyReceiver> {
  let verifier: Webhook | undefined;
  const delivered = new Map<string, number>();
  const bodies = new Map<string, unknown>();
  const injected = new Map<string, number>();
  const problems: string[] = [];
  const count = (k: string) => injected.set(k, (injected.get(k) ?? 0) + 1);
  let requests = 0;
  const hanging = new Set<ServerResponse>();
  const pending = ['503', '500', 'timeout'];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests += 1;
      // Every kind of fault at least once, first (as the crash points are), then by the seeded draw.
      const forced = pending.shift();
      const draw =
        forced === '503'
          ? 0
          : forced === '500'
            ? rates.status503
            : forced === 'timeout'
              ? rates.status503 + rates.status500
              : random();
      if (draw < rates.status503) {
        count('503');
        res.writeHead(503).end('overloaded');
        return;
      }
      if (draw < rates.status503 + rates.status500) {
        count('500');
        res.writeHead(500).end('oops');
        return;
      }
      if (draw < rates.status503 + rates.status500 + rates.hang) {
        count('timeout');
        hanging.add(res);
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        if (!verifier) throw new Error('no signing secret yet');
        const { events } = verifier.verify(body, req.headers as Record<string, string>) as {
          events: { eventId: string }[];
        };
        for (const event of events) {
          delivered.set(event.eventId, (delivered.get(event.eventId) ?? 0) + 1);
          bodies.set(event.eventId, event);
        }
        res.writeHead(200).end();
      } catch (error) {
        problems.push(`${req.headers['webhook-id']}: ${(error as Error).message}`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    trust: (secret) => {
      verifier = new Webhook(secret);
    },
    delivered,
    bodies,
    injected,
    problems,
    get requests() {
      return requests;
    },
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
