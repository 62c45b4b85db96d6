import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../lambdas/adapters/attempt-log.js';
import { WebhookHttp } from '../../lambdas/adapters/webhook-http.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { activeSecrets, generateSigningSecret, rotateSecrets } from '../../lambdas/core/webhook-signing.js';
import { deliverBatches } from '../../lambdas/destinations/webhook/deliver-batches.js';
import type { WebhookDestinationConfig } from '../../lambdas/destinations/webhook/schema.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The receiver of the README's "Verifying Pushrail webhooks", run as it is printed there (its code
 * block, extracted, in a Node process of its own with the standardwebhooks package), against the real
 * sender (deliverBatches over node:http, loopback allowed as on the local runtime).
 */

const ROOT = new URL('../../', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function snippet(): string {
  const start = README.indexOf('## Verifying Pushrail webhooks');
  const block = /```js\n([\s\S]*?)```/.exec(README.slice(start));
  if (start < 0 || !block?.[1])
    throw new Error('README has no receiver snippet under "Verifying Pushrail webhooks"');
  return block[1];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const secret = generateSigningSecret();
// Under node_modules so that the snippet's `import 'standardwebhooks'` resolves from the repository.
const dir = join(ROOT, 'node_modules', '.cache', `pushrail-readme-receiver-${process.pid}`);
let receiver: ChildProcess;
let output = '';
let port: number;

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'receiver.mjs'), snippet());
  port = await freePort();
  receiver = spawn(process.execPath, [join(dir, 'receiver.mjs')], {
    env: { ...process.env, PUSHRAIL_SIGNING_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  receiver.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  // Ready when it accepts connections.
  for (let i = 0; i < 50; i += 1) {
    const ok = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '' }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(() => {
  receiver?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const destination = (): WebhookDestinationConfig =>
  parseConfig({
    vendor: 'acme',
    destinations: [
      {
        id: 'readme-hook',
        type: 'WEBHOOK',
        name: 'README receiver',
        customerExternalId: 'acct_1',
        url: `http://127.0.0.1:${port}/in?t=1`,
        maxEvents: 2,
      },
    ],
  }).destinations[0] as WebhookDestinationConfig;

function queued(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const record = {
      ...seedEvent,
      idempotencyKey: `readme-${i}`,
      eventId: deriveEventId(seedEvent.customerExternalId, `readme-${i}`),
      receivedAt: new Date().toISOString(),
    } as EventRecord;
    return { messageId: `m${i}`, receiptHandle: '', body: '', record };
  });
}

async function send(signing: readonly string[], n = 3) {
  const attempts: AttemptRecord[] = [];
  const http = new WebhookHttp({ allowLoopback: true, allowHttp: true });
  try {
    const outcomes = await deliverBatches(queued(n), {
      destination: destination(),
      http,
      secrets: { signing },
      attempts: { record: async (a) => void attempts.push(a) },
      logger: { warn: () => undefined, info: () => undefined },
      onGone: async () => undefined,
    });
    return { outcomes: [...outcomes.values()], attempts };
  } finally {
    http.destroy();
  }
}

describe("the README's receiver snippet, against the sender", () => {
  it('verifies every signed batch and answers 204: delivered', async () => {
    const { outcomes, attempts } = await send([secret]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(attempts.map((a) => a.httpStatus)).toEqual([204, 204]); // 3 events, maxEvents 2
    // The receiver's stdout arrives through a pipe: wait for both lines.
    for (let i = 0; i < 50 && !/: 1 events/.test(output); i += 1)
      await new Promise((r) => setTimeout(r, 100));
    expect(output).toMatch(/verified msg_\S+: 2 events/);
    expect(output).toMatch(/verified msg_\S+: 1 events/);
  });

  it('verifies during a rotation, whichever of the two secrets it holds', async () => {
    const stored = rotateSecrets({ current: secret }, generateSigningSecret(), new Date());
    const { outcomes } = await send(activeSecrets(stored, new Date()), 1);
    expect(outcomes.every((o) => o.ok)).toBe(true);
  });

  it('refuses a batch signed with another secret: 401, a permanent failure', async () => {
    const { outcomes, attempts } = await send([generateSigningSecret()], 1);
    expect(outcomes[0]).toMatchObject({
      ok: false,
      failure: { failureClass: 'permanent', code: 'HTTP4xx', httpStatus: 401 },
    });
    expect(attempts[0]?.target).toBe(`http://127.0.0.1:${port}/in`);
  });
});
