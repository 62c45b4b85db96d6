import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../lambdas/core/config.js';
import { ensureBucket } from '../../lambdas/destinations/s3/local-customer.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { clientConfig, type EmulatorTarget, s3ClientConfig } from '../../local/aws-clients.js';
import { type CustomerAccess, customerAccess } from '../../local/customer-credentials.js';
import { freePort } from '../../local/emulator.js';
import type { LocalState } from '../../local/local-state.js';
import { READY_PREFIX } from '../../local/ready-line.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * `npx pushrail replay` as on-call runs it, against the local runtime (`npm start`, a child process on
 * the shared moto): break a destination, post events, fix it, replay its DLQ from the command line,
 * and find every event in the bucket. The CLI is `node bin/pushrail-cli.js`, what `npx pushrail` runs.
 */

process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = join(ROOT, 'bin', 'pushrail-cli.js');
const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const BOOT_TIMEOUT_MS = 45_000;
const EVENTS = 5;

const config = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 'cli-archive',
      type: 'S3',
      name: 'CLI replay test',
      customerExternalId: 'acct_cli',
      bucket: `pushrail-cli-${RUN}`,
      keyPrefix: 'raw/',
      region: REGION,
      flushIntervalSec: 1,
      maxEvents: 10,
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
        externalId: 'cli-ext-7Pq2',
      },
    },
  ],
});
const destination = config.destinations[0] as S3DestinationConfig;
const target = (): EmulatorTarget => ({ endpoint: inject('awsEndpoint'), region: REGION });

/** Environment without the developer's AWS_, PUSHRAIL_ or PORT settings. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|PUSHRAIL_|PORT$)/.test(k)));

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `npx pushrail …` (bin/pushrail-cli.js) with nothing from the AWS environment. */
function pushrail(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: ROOT, env, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('npx pushrail replay on the local runtime', () => {
  let dir: string;
  let stateDir: string;
  let child: ChildProcess | undefined;
  let output = '';
  let state: LocalState;
  let customer: CustomerAccess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushrail-replay-cli-'));
    stateDir = join(dir, 'state');
    const configPath = join(dir, 'pushrail.config.json');
    await writeFile(configPath, JSON.stringify(config));
    child = spawn(TSX, ['local/start.ts'], {
      cwd: ROOT,
      env: {
        ...cleanEnv(),
        PORT: String(await freePort()),
        AWS_ENDPOINT_URL: inject('awsEndpoint'),
        PUSHRAIL_NAME_PREFIX: `cli-${RUN}`,
        PUSHRAIL_STATE_DIR: stateDir,
        PUSHRAIL_CONFIG: configPath,
        POWERTOOLS_LOG_LEVEL: 'WARN',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line:\n${output}`)), BOOT_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.split('\n').some((l) => l.startsWith(READY_PREFIX))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child?.stdout?.on('data', onData);
      child?.stderr?.on('data', onData);
      child?.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`local runtime exited (${code}):\n${output}`));
      });
    });
    state = JSON.parse(await readFile(join(stateDir, 'local.json'), 'utf8')) as LocalState;
    customer = await customerAccess(destination, target());
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const customerS3 = () => new S3Client(s3ClientConfig({ ...target(), credentials: customer.credentials }));

  async function dlqDepth(): Promise<number> {
    const sqs = new SQSClient(clientConfig(target()));
    const dlqUrl = state.destinations[destination.id]?.dlqUrl as string;
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    sqs.destroy();
    return (
      Number(Attributes.ApproximateNumberOfMessages) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible)
    );
  }

  /** The eventId of every row in the bucket. */
  async function rowsInBucket(): Promise<string[]> {
    const s3 = customerS3();
    const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: destination.bucket }));
    const rows: string[] = [];
    for (const { Key } of Contents) {
      const body = await (await s3.send(new GetObjectCommand({ Bucket: destination.bucket, Key }))).Body;
      for (const line of ((await body?.transformToString()) ?? '').split('\n').filter((l) => l !== ''))
        rows.push((JSON.parse(line) as { eventId: string }).eventId);
    }
    s3.destroy();
    return rows;
  }

  it('replays the DLQ of a destination fixed after failing, saying when it continues a limited run and that newer dead letters need another run: everything delivered once, DLQ empty', async () => {
    // The customer deletes the bucket: every delivery now fails permanently (NoSuchBucket).
    await customerS3().send(new DeleteBucketCommand({ Bucket: destination.bucket }));
    const events = Array.from({ length: EVENTS }, (_, i) => ({
      ...seedEvent,
      customerExternalId: destination.customerExternalId,
      idempotencyKey: `cli-${i}-${RUN}`,
    }));
    const res = await fetch(`${state.apiUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': state.apiKey },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
    const posted = ((await res.json()) as { results: { eventId: string }[] }).results.map((r) => r.eventId);
    await waitFor('the events in the DLQ', async () => ((await dlqDepth()) === EVENTS ? true : undefined));

    // A destination that is not in the config: refused by the function, exit 2, nothing moved.
    const unknown = await pushrail(['replay', '--destination', 'nope', '--dlq', '--state-dir', stateDir]);
    expect(unknown.code, unknown.stderr).toBe(2);
    expect(unknown.stderr).toContain('unknown destination "nope"');
    expect(unknown.stderr).toContain('cli-archive');

    const dry = await pushrail([
      'replay',
      '--destination',
      destination.id,
      '--dlq',
      '--dry-run',
      '--state-dir',
      stateDir,
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`dry run: matched ${EVENTS}, replayed 0, skipped 0, failed 0`);
    expect(await dlqDepth()).toBe(EVENTS);

    // On-call moves 2 while the bucket is still missing: they fail again and are dead-lettered anew,
    // after the run started.
    const replay = (...extra: string[]) =>
      pushrail(['replay', '--destination', destination.id, '--dlq', '--state-dir', stateDir, ...extra]);
    const limited = await replay('--limit', '2');
    expect(limited.code, limited.stderr).toBe(0);
    expect(limited.stdout).toContain('matched 2, replayed 2, skipped 0, failed 0 (stopped before the end');
    expect(limited.stderr).not.toContain('continuing the run');
    await waitFor('the 2 back in the DLQ', async () => ((await dlqDepth()) === EVENTS ? true : undefined));

    // The customer fixes the bucket; on-call replays the DLQ: the same selection continues the limited
    // run, with its cut-off, and says so.
    await ensureBucket(destination, customer, target());
    const result = await replay();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toContain(
      `matched ${EVENTS - 2}, replayed ${EVENTS - 2}, skipped 2, failed 0`,
    );
    expect(result.stderr).toContain(
      `Replaying on the local runtime at ${state.apiUrl} (${state.replayFunctionName})`,
    );
    expect(result.stderr).toMatch(/continuing the run started at \S+Z: messages dead-lettered after that/);
    expect(result.stderr).toContain('2 matching message(s) were dead-lettered after this run started');
    expect(result.stderr).toContain('run the same command again to replay them');

    // Running the same command again starts a new run, which replays them.
    const again = await replay();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toContain('matched 2, replayed 2, skipped 0, failed 0');
    expect(again.stderr).not.toContain('continuing the run');
    expect(again.stderr).not.toContain('run the same command again');

    const rows = await waitFor('every event in the bucket', async () => {
      const found = await rowsInBucket();
      return found.length >= EVENTS ? found : undefined;
    });
    expect(rows.sort()).toEqual([...posted].sort());
    expect(await dlqDepth()).toBe(0);
  });

  const awsCli = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  const awsVersion = /aws-cli\/(\d+)/.exec(`${awsCli.stdout}${awsCli.stderr}`)?.[1];

  it.skipIf(awsVersion === undefined)(
    'answers plain `aws lambda invoke --endpoint-url <apiUrl>` with the counts, as the README shows',
    async () => {
      const out = join(dir, 'out.json');
      const payload = JSON.stringify({ destinationId: destination.id, source: 'dlq', dryRun: true });
      const args = [
        'lambda',
        'invoke',
        '--endpoint-url',
        state.apiUrl,
        '--region',
        REGION,
        '--function-name',
        state.replayFunctionName,
        // AWS CLI v2 reads --payload as base64 unless told otherwise; v1 takes it as it is.
        ...(awsVersion === '1' ? [] : ['--cli-binary-format', 'raw-in-base64-out']),
        '--payload',
        payload,
        out,
      ];
      const run = spawnSync('aws', args, {
        encoding: 'utf8',
        env: { ...cleanEnv(), AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
        timeout: 60_000,
      });
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ StatusCode: 200 });
      expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({
        dryRun: true,
        complete: true,
        matched: 0,
        replayed: 0,
        skipped: 0,
        failed: 0,
      });
    },
  );
});

describe('npx pushrail replay usage', () => {
  it('documents every flag with --help and exits 0', async () => {
    const { code, stdout } = await pushrail(['replay', '--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--destination ID',
      '--dlq',
      '--from T',
      '--to T',
      '--event ID',
      '--on FIELD',
      '--dry-run',
      '--limit N',
      '--stack NAME',
      '--local',
      '--state-dir DIR',
      '--region REGION',
      '--help',
    ]) {
      expect(stdout, flag).toContain(flag);
    }
    expect(stdout).toContain('aws lambda invoke');
    expect(stdout).toContain('matched, replayed, skipped, failed');
  });

  it.each([
    ['no destination', ['replay', '--dlq']],
    ['nothing to replay', ['replay', '--destination', 'x']],
    ['an unknown flag', ['replay', '--destination', 'x', '--dlq', '--everything']],
    [
      'a window and event ids together',
      ['replay', '--destination', 'x', '--from', '2026-05-26T00:00:00Z', '--event', 'evt_1'],
    ],
    ['a limit that is not a number', ['replay', '--destination', 'x', '--dlq', '--limit', 'ten']],
    [
      'a time that is not ISO-8601',
      ['replay', '--destination', 'x', '--from', 'yesterday', '--to', '2026-05-26T00:00:00Z'],
    ],
    ['a malformed event id', ['replay', '--destination', 'x', '--event', 'order_38a91f']],
    ['an unknown command', ['replay-all']],
  ])('exits 2 on %s, saying what is wrong, before any AWS call', async (_what, args) => {
    const { code, stderr } = await pushrail([...args, '--state-dir', join(tmpdir(), `no-state-${RUN}`)]);
    expect(code, stderr).toBe(2);
    expect(stderr.length).toBeGreaterThan(0);
  });
});
