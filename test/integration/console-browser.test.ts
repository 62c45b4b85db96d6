import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../lambdas/core/config.js';
import { ensureBucket } from '../../lambdas/destinations/s3/local-customer.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { type EmulatorTarget, s3ClientConfig } from '../../local/aws-clients.js';
import { type CustomerAccess, customerAccess } from '../../local/customer-credentials.js';
import { freePort } from '../../local/emulator.js';
import type { LocalState } from '../../local/local-state.js';
import { READY_PREFIX } from '../../local/ready-line.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The operator console in headless Chromium (playwright-core driving Debian's /usr/bin/chromium),
 * against `npm start` (a child process on the shared moto) and `npx pushrail console` (another):
 * the seed event delivered to both destinations (saved as docs/console.png for the README), then a
 * broken S3 bucket: its failures in the live list, its health failing, an event found by trace, a
 * window chosen in the replay picker with its dry-run count, and the replay after the fix emptying
 * its DLQ. Every step is asserted on the page; a failing step leaves a screenshot in
 * test-results/console/.
 */

process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = join(ROOT, 'bin', 'pushrail-cli.js');
const CHROMIUM = '/usr/bin/chromium';
const FAILURE_SHOTS = join(ROOT, 'test-results', 'console');
const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const CUSTOMER = 'acct_8K2zRq';
const BROKEN_EVENTS = 3;

const config = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 'acme-s3-archive',
      type: 'S3',
      name: 'Customer S3 archive',
      customerExternalId: CUSTOMER,
      bucket: `pushrail-console-${RUN}`,
      keyPrefix: 'raw/pushrail/',
      region: REGION,
      flushIntervalSec: 1,
      maxEvents: 10,
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
        externalId: 'acme-ext-7Pq2',
      },
    },
    {
      id: 'acme-eventbridge',
      type: 'EVENTBRIDGE',
      name: 'Customer EventBridge bus',
      customerExternalId: CUSTOMER,
      busArn: `arn:aws:events:${REGION}:123456789012:event-bus/pushrail-console-${RUN}`,
      region: REGION,
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter',
        externalId: 'acme-ext-7Pq2',
      },
    },
  ],
});
const s3Destination = config.destinations[0] as S3DestinationConfig;
const target = (): EmulatorTarget => ({ endpoint: inject('awsEndpoint'), region: REGION });

/** What the test touches of a range input in the page (the test's types have no DOM). */
interface RangeInput {
  value: string;
  readonly min: string;
  readonly max: string;
  dispatchEvent(event: Event): boolean;
}

/** Environment without the developer's AWS_, PUSHRAIL_ or PORT settings. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|PUSHRAIL_|PORT$)/.test(k)));

/** Starts a child and resolves once a line of its output passes `ready`. */
function startChild(args: readonly string[], env: NodeJS.ProcessEnv, ready: (line: string) => boolean) {
  const child = spawn(args[0] as string, args.slice(1), {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: no ready line:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find(ready);
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code}):\n${output}`));
    });
  });
  return { child, started, output: () => output };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== 'true')(
  'the operator console in Chromium',
  () => {
    let dir: string;
    let state: LocalState;
    let customer: CustomerAccess;
    let local: ChildProcess | undefined;
    let consoleProcess: ChildProcess | undefined;
    let consoleUrl: string;
    let browser: Browser;
    let page: Page;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pushrail-console-'));
      const stateDir = join(dir, 'state');
      const configPath = join(dir, 'pushrail.config.json');
      await writeFile(configPath, JSON.stringify(config));
      const runtime = startChild(
        [TSX, 'local/start.ts'],
        {
          ...cleanEnv(),
          PORT: String(await freePort()),
          AWS_ENDPOINT_URL: inject('awsEndpoint'),
          PUSHRAIL_NAME_PREFIX: `console-${RUN}`,
          PUSHRAIL_STATE_DIR: stateDir,
          PUSHRAIL_CONFIG: configPath,
          POWERTOOLS_LOG_LEVEL: 'WARN',
        },
        (line) => line.startsWith(READY_PREFIX),
      );
      local = runtime.child;
      await runtime.started;
      state = JSON.parse(await readFile(join(stateDir, 'local.json'), 'utf8')) as LocalState;
      customer = await customerAccess(s3Destination, target());

      const port = await freePort();
      const consoleRun = startChild(
        [process.execPath, CLI, 'console', '--port', String(port), '--state-dir', stateDir],
        cleanEnv(),
        (line) => line.startsWith('Pushrail console for '),
      );
      consoleProcess = consoleRun.child;
      consoleUrl = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(await consoleRun.started)?.[1] as string;
      expect(consoleUrl).toBe(`http://127.0.0.1:${port}`);

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        // playwright-core adds its own --user-data-dir (a fresh temporary one) for every launch.
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    });

    afterAll(async () => {
      await browser?.close();
      await stop(consoleProcess);
      await stop(local);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** One step of the story: on failure, a screenshot of the page as it was, then the error. */
    async function step(name: string, run: () => Promise<void>): Promise<void> {
      try {
        await run();
      } catch (error) {
        await mkdir(FAILURE_SHOTS, { recursive: true });
        await page
          .screenshot({ path: join(FAILURE_SHOTS, `${name}.png`), fullPage: true })
          .catch(() => undefined);
        throw error;
      }
    }

    async function post(events: readonly Record<string, unknown>[]): Promise<string[]> {
      const res = await fetch(`${state.apiUrl}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': state.apiKey },
        body: JSON.stringify({ events }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { results: { eventId: string }[] }).results.map((r) => r.eventId);
    }

    /** Moves a range input of the picker to one end, as a drag of its thumb would. */
    async function setRange(name: string, end: 'min' | 'max'): Promise<void> {
      await page.locator(`input[name=${name}]`).evaluate((el, to) => {
        const input = el as unknown as RangeInput;
        input.value = input[to];
        input.dispatchEvent(new Event('input', { bubbles: true }));
      }, end);
    }

    const customerS3 = () => new S3Client(s3ClientConfig({ ...target(), credentials: customer.credentials }));
    const row = (destination: string, outcome: string) =>
      page.locator(
        `[data-testid=deliveries] li[data-destination="${destination}"][data-outcome="${outcome}"]`,
      );

    it('shows the pipeline at a glance, and on-call finds, traces and replays a broken destination', async () => {
      await step('seed-delivered', async () => {
        await post([{ ...seedEvent, idempotencyKey: `console-seed-${RUN}` }]);
        await page.goto(`${consoleUrl}/#live`);
        await row('acme-s3-archive', 'delivered').first().waitFor({ timeout: 60_000 });
        await row('acme-eventbridge', 'delivered').first().waitFor({ timeout: 60_000 });
        // The summary reads health at load (and every 30 s): a reload shows both deliveries.
        await page.reload();
        await row('acme-eventbridge', 'delivered').first().waitFor();
        // The attempt records carry their events' types: the row reads "order.completed → acme-s3-archive (s3)".
        expect(await row('acme-s3-archive', 'delivered').first().textContent()).toContain(
          'order.completed→ acme-s3-archive (s3)',
        );
        await expect.poll(() => page.locator('[data-testid=summary]').textContent()).toContain('2 delivered');
        // The README's picture of the console: the seed event delivered to both destinations. Taken on
        // every run (test-results/, gitignored); written over docs/console.png only when asked
        // (UPDATE_DOCS_SCREENSHOT=1), so a test run leaves the working tree as it found it.
        const shot = await page.screenshot({ clip: { x: 0, y: 0, width: 1280, height: 260 } });
        await mkdir(FAILURE_SHOTS, { recursive: true });
        await writeFile(join(FAILURE_SHOTS, 'console.png'), shot);
        if (process.env.UPDATE_DOCS_SCREENSHOT === '1')
          await writeFile(join(ROOT, 'docs', 'console.png'), shot);
      });

      // The customer deletes the bucket: every delivery now fails permanently (NoSuchBucket).
      // The seed's object goes first: S3 deletes empty buckets only.
      const s3 = customerS3();
      const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: s3Destination.bucket }));
      for (const { Key } of Contents)
        await s3.send(new DeleteObjectCommand({ Bucket: s3Destination.bucket, Key }));
      await s3.send(new DeleteBucketCommand({ Bucket: s3Destination.bucket }));
      s3.destroy();
      const broken = await post(
        Array.from({ length: BROKEN_EVENTS }, (_, i) => ({
          ...seedEvent,
          eventType: 'order.paid',
          idempotencyKey: `console-broken-${i}-${RUN}`,
        })),
      );

      await step('live-failures', async () => {
        await page.locator('select[name=destination]').selectOption('acme-s3-archive');
        await page.locator('select[name=outcome]').selectOption('dead-lettered');
        const failures = row('acme-s3-archive', 'dead-lettered');
        await failures.first().waitFor({ timeout: 60_000 });
        await expect.poll(() => failures.first().textContent()).toContain('NoSuchBucket');
        // Filtered to the one destination and outcome: nothing else is listed.
        expect(
          await page
            .locator('[data-testid=deliveries] li.delivery:not([data-outcome="dead-lettered"])')
            .count(),
        ).toBe(0);
      });

      await step('health-failing', async () => {
        await page.goto(`${consoleUrl}/#health`);
        const health = page.locator('[data-testid=health] tr[data-destination="acme-s3-archive"]');
        // The page reads health every 15 s; a reload reads it again at once.
        await expect
          .poll(
            async () => {
              await page.reload();
              await health.waitFor();
              return `${await health.getAttribute('data-status')} ${await health.locator('[data-testid=dlq]').textContent()}`;
            },
            { timeout: 30_000, interval: 1000 },
          )
          .toBe(`failing ${BROKEN_EVENTS}`);
        expect(await health.locator('.reason').textContent()).toContain('NoSuchBucket');
        expect(
          await page
            .locator('[data-testid=health] tr[data-destination="acme-eventbridge"]')
            .getAttribute('data-status'),
        ).toBe('healthy');
      });

      await step('trace', async () => {
        await page.goto(`${consoleUrl}/#trace`);
        await page.locator('input[name=eventId]').fill(broken[0] as string);
        await page.locator('button[type=submit]').click();
        const s3 = page.locator(`[data-event-id="${broken[0]}"] article[data-destination="acme-s3-archive"]`);
        await s3.waitFor({ timeout: 15_000 });
        expect(await s3.getAttribute('data-status')).toBe('dead-lettered');
        expect(
          await page
            .locator(`[data-event-id="${broken[0]}"] article[data-destination="acme-eventbridge"]`)
            .getAttribute('data-status'),
        ).toBe('delivered');
        // The payload only when asked for.
        expect(await page.locator('[data-testid=payload]').count()).toBe(0);
        await page.locator('[data-testid=show-payload]').click();
        await expect.poll(() => page.locator('[data-testid=payload]').textContent()).toContain('ord_38a91f');
      });

      await step('picker-dry-run', async () => {
        await page.goto(`${consoleUrl}/#replay`);
        await page.locator('select[name=destination]').selectOption('acme-s3-archive');
        await page.locator('[data-testid=chart] canvas').waitFor({ timeout: 15_000 });
        // Choose the window on the timeline: from its first bucket to its last.
        await setRange('start', 'min');
        await setRange('end', 'max');
        await expect
          .poll(() => page.locator('[data-testid=selection]').textContent(), { timeout: 15_000 })
          .toMatch(new RegExp(`^${BROKEN_EVENTS} failures selected, \\d\\d:\\d\\d … now$`));
        await page.locator('[data-testid=dry-run]').click();
        await expect
          .poll(() => page.locator('[data-testid=dry-run-result]').textContent(), { timeout: 30_000 })
          .toContain(`Dry run: ${BROKEN_EVENTS} dead letter(s) in the DLQ match`);
      });

      await step('replay', async () => {
        await ensureBucket(s3Destination, customer, target());
        await page.locator('[data-testid=replay]').click();
        const dialog = page.locator('[data-testid=confirm-dialog]');
        await dialog.waitFor({ state: 'visible' });
        expect(await dialog.textContent()).toContain(
          `Replay ${BROKEN_EVENTS} dead letter(s) of acme-s3-archive?`,
        );
        await page.locator('[data-testid=confirm-replay]').click();
        await expect
          .poll(() => page.locator('[data-testid=replay-progress]').textContent(), { timeout: 60_000 })
          .toContain(`Replay done: matched ${BROKEN_EVENTS}, replayed ${BROKEN_EVENTS}, skipped 0, failed 0`);
        await expect
          .poll(() => page.locator('[data-testid=dlq-depth]').getAttribute('data-depth'), { timeout: 30_000 })
          .toBe('0');
      });

      await step('replayed-delivered', async () => {
        await page.goto(`${consoleUrl}/#trace/${broken[0]}`);
        const s3 = page.locator(`[data-event-id="${broken[0]}"] article[data-destination="acme-s3-archive"]`);
        await expect
          .poll(
            async () => {
              await page.reload();
              await s3.waitFor({ timeout: 10_000 });
              return s3.getAttribute('data-status');
            },
            { timeout: 60_000, interval: 2000 },
          )
          .toBe('delivered');
      });

      await step('audit', async () => {
        await page.goto(`${consoleUrl}/#audit`);
        await expect
          .poll(() => page.locator('[data-testid=audit]').textContent(), { timeout: 15_000 })
          .toContain('replay.finished');
      });
    });
  },
);
