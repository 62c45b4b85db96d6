import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { HeadBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runHealth } from '../../cli/health-command.js';
import { localTableName, QUEUE_SETTINGS, TABLE_LIST } from '../../lambdas/core/resources.js';
import { freePort } from '../../local/emulator.js';
import type { LocalState } from '../../local/local-state.js';
import { READY_PREFIX } from '../../local/ready-line.js';

/**
 * `npm start` as a user runs it: a child process, configured only through its environment, talked to
 * over HTTP and through `.pushrail/local.json`. The child is the tsx binary `npx tsx` resolves to,
 * started directly: npx relays SIGTERM through a shell that does not pass it on, so through npx the
 * test could not see the runtime's own exit code.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const SEED_EVENT = JSON.parse(await readFile(join(ROOT, 'local', 'seed-event.json'), 'utf8')) as Record<
  string,
  unknown
>;
const SEED_CONFIG = JSON.parse(await readFile(join(ROOT, 'pushrail.config.json'), 'utf8')) as {
  destinations: Record<string, unknown>[];
};
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const BOOT_TIMEOUT_MS = 45_000;

interface LocalRun {
  readonly state: LocalState;
  readonly readyLine: string;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

afterEach(async () => {
  // A failed assertion must not leave a runtime (and its moto) behind.
  for (const child of children) {
    child.kill('SIGTERM');
    await exitOf(child);
  }
  children.clear();
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pushrail-local-'));
  tempDirs.push(dir);
  return dir;
}

async function writeConfig(dir: string, config: unknown): Promise<string> {
  const path = join(dir, 'pushrail.config.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Starts `local/start.ts` and resolves once it printed its ready line. */
async function startLocal(env: { PUSHRAIL_STATE_DIR: string } & Record<string, string>): Promise<LocalRun> {
  // Only what the test sets: no AWS_ENDPOINT_URL, keys or PUSHRAIL_* of the developer's shell.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(AWS_|PUSHRAIL_|PORT$)/.test(k)),
  );
  const child = spawn(TSX, ['local/start.ts'], {
    cwd: ROOT,
    env: { ...inherited, PORT: String(await freePort()), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line within ${BOOT_TIMEOUT_MS} ms:\n${output}`)),
      BOOT_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // Complete lines only: a chunk may end in the middle of the ready line.
      const line = output
        .split('\n')
        .slice(0, -1)
        .find((l) => l.startsWith(READY_PREFIX));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local runtime exited (${code}) before it was ready:\n${output}`));
    });
  });
  const readyLine = await ready;
  const state = JSON.parse(await readFile(join(env.PUSHRAIL_STATE_DIR, 'local.json'), 'utf8')) as LocalState;
  return {
    state,
    readyLine,
    output: () => output,
    stop: () => {
      child.kill('SIGTERM');
      return exitOf(child);
    },
  };
}

function postEvent(state: LocalState, body: unknown, apiKey?: string): Promise<Response> {
  return fetch(`${state.apiUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey === undefined ? {} : { 'x-api-key': apiKey }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function dynamodb(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS });
}

async function storedEventIds(state: LocalState): Promise<string[]> {
  const client = dynamodb(state.awsEndpoint);
  const { Items = [] } = await client.send(new ScanCommand({ TableName: state.tables.events }));
  client.destroy();
  return Items.map((item) => item.eventId?.S ?? '?');
}

async function emulatorAnswers(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/moto-api/data.json`)).ok;
  } catch {
    return false;
  }
}

describe('local runtime (npm start)', () => {
  it('boots from nothing on its own moto, answers the seed curl with 202, rejects bad keys before storing, and stops cleanly', async () => {
    const dir = await tempDir();
    const stateDir = join(dir, 'state');
    const run = await startLocal({
      PUSHRAIL_CONFIG: await writeConfig(dir, SEED_CONFIG),
      PUSHRAIL_STATE_DIR: stateDir,
    });
    const { state } = run;

    // .pushrail/local.json: the fields DESIGN.md lists, plus the replay function for `npx pushrail replay`.
    expect(Object.keys(state).sort()).toEqual(
      [
        'apiKey',
        'apiUrl',
        'awsEndpoint',
        'destinations',
        'region',
        'tables',
        'replayFunctionName',
        'notificationsQueueUrl',
      ].sort(),
    );
    // The inbox of the vendor's default bus, where health changes land.
    expect(state.notificationsQueueUrl).toMatch(/-notifications$/);
    expect(state.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(state.apiKey.length).toBeGreaterThanOrEqual(20);
    expect(state.region).toBe(REGION);
    expect(state.tables).toEqual(
      Object.fromEntries(TABLE_LIST.map((t) => [t.role, localTableName('pushrail-local', t)])),
    );
    expect(state.destinations['acme-s3-archive']).toEqual({
      type: 'S3',
      queueUrl: expect.stringMatching(/\/pushrail-local-acme-s3-archive$/),
      dlqUrl: expect.stringMatching(/\/pushrail-local-acme-s3-archive-dlq$/),
      bucket: 'acme-pushrail-events',
      keyPrefix: 'raw/pushrail/',
    });
    expect(state.destinations['acme-eventbridge']).toEqual({
      type: 'EVENTBRIDGE',
      queueUrl: expect.stringMatching(/\/pushrail-local-acme-eventbridge$/),
      dlqUrl: expect.stringMatching(/\/pushrail-local-acme-eventbridge-dlq$/),
      busArn: 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-events',
      inboxQueueUrl: expect.stringMatching(/\/123456789012\/pushrail-events-inbox$/),
    });
    // The ready line is a curl a user can paste: the real URL, the key and the seed payload.
    expect(run.readyLine).toContain(`curl -i -X POST ${state.apiUrl}/v1/events`);
    expect(run.readyLine).toContain(`x-api-key: ${state.apiKey}`);
    expect(run.readyLine).toContain('--data-binary @local/seed-event.json');

    // Provisioned from core/resources.ts: redrive to the DLQ, retention, TTL.
    const sqs = new SQSClient({ endpoint: state.awsEndpoint, region: REGION, credentials: CREDENTIALS });
    const s3Dest = state.destinations['acme-s3-archive'];
    if (s3Dest?.type !== 'S3') throw new Error('no S3 destination');
    const { Attributes: queue } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: s3Dest.queueUrl, AttributeNames: ['All'] }),
    );
    const { Attributes: dlq } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: s3Dest.dlqUrl,
        AttributeNames: ['QueueArn', 'MessageRetentionPeriod'],
      }),
    );
    expect(JSON.parse(queue?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq?.QueueArn,
      maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount,
    });
    expect(queue?.MessageRetentionPeriod).toBe(String(QUEUE_SETTINGS.retentionSeconds));
    expect(dlq?.MessageRetentionPeriod).toBe(String(QUEUE_SETTINGS.dlqRetentionSeconds));
    const ddb = dynamodb(state.awsEndpoint);
    for (const table of TABLE_LIST) {
      const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: state.tables[table.role] }));
      expect(ttl.TimeToLiveDescription).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: table.ttlAttribute,
      });
    }
    ddb.destroy();

    // The customer side: the bucket exists, and an entry put on the bus shows up in the inbox.
    // (The seed's roles are in moto's default account, so the test's keys act as the customer.)
    const s3 = new S3Client({
      endpoint: state.awsEndpoint,
      region: REGION,
      credentials: CREDENTIALS,
      forcePathStyle: true,
    });
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'acme-pushrail-events' }))).resolves.toBeDefined();
    s3.destroy();
    const ebDest = state.destinations['acme-eventbridge'];
    if (ebDest?.type !== 'EVENTBRIDGE') throw new Error('no EventBridge destination');
    const events = new EventBridgeClient({
      endpoint: state.awsEndpoint,
      region: REGION,
      credentials: CREDENTIALS,
    });
    const put = await events.send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: ebDest.busArn, Source: 'pushrail.acme', DetailType: 'inbox.check', Detail: '{}' },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0);
    events.destroy();
    const inbox = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: ebDest.inboxQueueUrl,
        WaitTimeSeconds: 2,
        MaxNumberOfMessages: 10,
      }),
    );
    expect(inbox.Messages?.map((m) => JSON.parse(m.Body ?? '{}')['detail-type'])).toContain('inbox.check');
    // The vendor's default bus copies Pushrail's own events (health changes) into the notifications inbox.
    const vendorBus = new EventBridgeClient({
      endpoint: state.awsEndpoint,
      region: REGION,
      credentials: CREDENTIALS,
    });
    await vendorBus.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'default',
            Source: 'pushrail',
            DetailType: 'Destination Health Changed',
            Detail: '{}',
          },
        ],
      }),
    );
    vendorBus.destroy();
    const notifications = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: state.notificationsQueueUrl,
        WaitTimeSeconds: 2,
        MaxNumberOfMessages: 10,
      }),
    );
    expect(notifications.Messages?.map((m) => JSON.parse(m.Body ?? '{}')['detail-type'])).toEqual([
      'Destination Health Changed',
    ]);
    sqs.destroy();

    // The gateway's checks come before the handler: nothing is stored for a missing or wrong key.
    const missing = await postEvent(state, SEED_EVENT);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect(await missing.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const wrong = await postEvent(state, SEED_EVENT, `${state.apiKey}x`);
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(await storedEventIds(state)).toEqual([]);

    const notFound = await fetch(`${state.apiUrl}/v1/other`, { headers: { 'x-api-key': state.apiKey } });
    expect(notFound.status).toBe(404);
    const tooLarge = await postEvent(state, 'x'.repeat(10 * 1024 * 1024 + 1), state.apiKey);
    expect(tooLarge.status).toBe(413);
    expect(await storedEventIds(state)).toEqual([]);

    // The seed curl: 202 from the real ingest handler, and the event is in the store.
    const accepted = await postEvent(state, SEED_EVENT, state.apiKey);
    expect(accepted.status).toBe(202);
    const body = (await accepted.json()) as { eventId: string; duplicate: boolean; destinations: string[] };
    expect(body).toMatchObject({ duplicate: false });
    expect(body.destinations.sort()).toEqual(['acme-eventbridge', 'acme-s3-archive']);
    expect(await storedEventIds(state)).toEqual([body.eventId]);

    // `npx pushrail health` against the running local runtime: every destination has a status.
    const out: string[] = [];
    const code = await runHealth(['--json', '--state-dir', stateDir], {
      io: { out: (l) => out.push(l), err: (l) => out.push(l) },
    });
    expect(code, out.join('\n')).toBe(0);
    const health = JSON.parse(out.join('\n')) as {
      destinations: { destinationId: string; status: string }[];
    };
    expect(health.destinations.map((d) => d.destinationId).sort()).toEqual([
      'acme-eventbridge',
      'acme-s3-archive',
    ]);
    for (const d of health.destinations) expect(['healthy', 'degraded', 'failing']).toContain(d.status);

    // SIGTERM: exit 0, and the moto it started is gone with it.
    expect(await run.stop()).toBe(0);
    expect(await emulatorAnswers(state.awsEndpoint)).toBe(false);
  });

  it('keeps the stored event, the idempotency records and the API key across a restart against the same endpoint', async () => {
    const endpoint = inject('awsEndpoint');
    const dir = await tempDir();
    const suffix = randomBytes(4).toString('hex');
    // Unique names: the integration project's moto is shared with other test files. The bus belongs
    // to another customer account than moto's default, as most customers' buses would.
    const customerAccount = '210987654321';
    const [s3, eventbridge] = SEED_CONFIG.destinations;
    const config = {
      ...SEED_CONFIG,
      destinations: [
        { ...s3, bucket: `pushrail-it-${suffix}` },
        {
          ...eventbridge,
          busArn: `arn:aws:events:us-east-1:${customerAccount}:event-bus/pushrail-it-${suffix}`,
          auth: {
            mode: 'ASSUME_ROLE',
            roleArn: `arn:aws:iam::${customerAccount}:role/PushrailEventBridgeWriter`,
            externalId: 'acme-ext-7Pq2',
          },
        },
      ],
    };
    const env = {
      AWS_ENDPOINT_URL: endpoint,
      PUSHRAIL_CONFIG: await writeConfig(dir, config),
      PUSHRAIL_STATE_DIR: join(dir, 'state'),
      PUSHRAIL_NAME_PREFIX: `pushrail-it-${suffix}`,
    };

    const first = await startLocal(env);
    // The customer side was created with the role's credentials, so it is in the role's account.
    expect(first.state.destinations['acme-eventbridge']).toMatchObject({
      inboxQueueUrl: expect.stringContaining(`/${customerAccount}/pushrail-it-${suffix}-inbox`),
    });
    const accepted = await postEvent(first.state, SEED_EVENT, first.state.apiKey);
    expect(accepted.status).toBe(202);
    const { eventId } = (await accepted.json()) as { eventId: string };
    expect(await first.stop()).toBe(0);
    // Not ours to stop: the runtime leaves an emulator it did not start running.
    expect(await emulatorAnswers(endpoint)).toBe(true);

    const second = await startLocal(env);
    expect(second.output()).not.toMatch(/^warning: /m);
    expect(second.state.apiKey).toBe(first.state.apiKey);
    expect(second.state.tables).toEqual(first.state.tables);
    expect(second.state.destinations).toEqual(first.state.destinations);

    const client = dynamodb(endpoint);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: second.state.tables.events, Key: { eventId: { S: eventId } } }),
    );
    client.destroy();
    expect(Item?.eventId?.S).toBe(eventId);

    // The idempotency records survived too: the same event is a duplicate, not a new one.
    const again = await postEvent(second.state, SEED_EVENT, second.state.apiKey);
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ eventId, duplicate: true });
    expect(await second.stop()).toBe(0);
  });

  it('delivers to a destination created with `npx pushrail destinations create -f` within 30 s, with no restart, and keeps the management routes to signed callers', async () => {
    const dir = await tempDir();
    const stateDir = join(dir, 'state');
    const suffix = randomBytes(4).toString('hex');
    const run = await startLocal({
      PUSHRAIL_CONFIG: await writeConfig(dir, SEED_CONFIG),
      PUSHRAIL_STATE_DIR: stateDir,
    });
    const { state } = run;
    const listUrl = `${state.apiUrl}/v1/destinations`;

    // Producers' keys and unsigned calls never open the management API.
    expect((await fetch(listUrl, { headers: { 'x-api-key': state.apiKey } })).status).toBe(403);
    expect((await fetch(listUrl)).status).toBe(403);

    const destination = {
      id: `beta-${suffix}`,
      type: 'S3',
      customerExternalId: `acct_beta_${suffix}`,
      name: 'Beta archive',
      bucket: `beta-${suffix}`,
      keyPrefix: 'ev/',
      region: REGION,
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailBetaWriter',
        externalId: `beta-ext-${suffix}`,
      },
      maxEvents: 10,
      flushIntervalSec: 1,
    };
    const file = join(dir, 'beta.json');
    await writeFile(file, JSON.stringify(destination));
    const cli = (...args: string[]) =>
      promisify(execFile)(TSX, ['cli/main.ts', 'destinations', ...args, '--state-dir', stateDir], {
        cwd: ROOT,
        env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDBETAOPERATOR', AWS_SECRET_ACCESS_KEY: 'test' },
      });
    const created = Date.now();
    await cli('create', '-f', file);

    // The event is routed once ingest's cache sees the change, and lands in the new bucket.
    const event = {
      ...SEED_EVENT,
      customerExternalId: destination.customerExternalId,
      idempotencyKey: `beta-${suffix}`,
    };
    let routed: string[] = [];
    while (Date.now() - created < 30_000) {
      const res = await postEvent(
        state,
        { ...event, idempotencyKey: `beta-${suffix}-${Date.now()}` },
        state.apiKey,
      );
      routed = ((await res.json()) as { destinations: string[] }).destinations;
      if (routed.includes(destination.id)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(routed).toEqual([destination.id]);
    const s3 = new S3Client({
      endpoint: state.awsEndpoint,
      region: REGION,
      credentials: CREDENTIALS,
      forcePathStyle: true,
    });
    let keys: string[] = [];
    while (Date.now() - created < 30_000 && keys.length === 0) {
      await new Promise((r) => setTimeout(r, 500));
      const listed = await s3
        .send(new ListObjectsV2Command({ Bucket: destination.bucket }))
        .catch(() => undefined);
      keys = (listed?.Contents ?? []).map((o) => o.Key ?? '');
    }
    s3.destroy();
    expect(keys).toEqual([
      expect.stringMatching(
        /^ev\/event_type=order\.completed\/dt=2026-05-26\/hour=14\/part-[0-9a-f]{64}\.ndjson$/,
      ),
    ]);

    // GET /v1/destinations lists it with the fields of local.json, which lists it too.
    const { stdout } = await cli('get', destination.id, '--json');
    expect(JSON.parse(stdout)).toMatchObject({
      id: destination.id,
      status: 'ACTIVE',
      version: 1,
      updatedBy: 'AKIDBETAOPERATOR',
      bucket: destination.bucket,
      keyPrefix: 'ev/',
      queueUrl: expect.stringMatching(new RegExp(`/pushrail-local-beta-${suffix}$`)),
      dlqUrl: expect.stringMatching(new RegExp(`/pushrail-local-beta-${suffix}-dlq$`)),
    });
    const local = JSON.parse(await readFile(join(stateDir, 'local.json'), 'utf8')) as LocalState;
    expect(local.destinations[destination.id]).toEqual({
      type: 'S3',
      queueUrl: expect.stringMatching(new RegExp(`/pushrail-local-beta-${suffix}$`)),
      dlqUrl: expect.stringMatching(new RegExp(`/pushrail-local-beta-${suffix}-dlq$`)),
      bucket: destination.bucket,
      keyPrefix: 'ev/',
    });
    expect(await run.stop()).toBe(0);
  });
});
