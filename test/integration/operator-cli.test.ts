import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runAudit } from '../../cli/audit-command.js';
import { runHealth } from '../../cli/health-command.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { type ApiServer, startApiServer } from '../../local/api-server.js';
import { type Provisioned, provision } from '../../local/provision.js';
import { localManagementEnvironment } from '../../local/runtime-destinations.js';

/**
 * `npx pushrail audit` and `npx pushrail health` against the local runtime's API server and the real
 * management handler on moto: the audit export follows every cursor of `GET /v1/audit` (two entries
 * a page here) with each filter, and writes NDJSON; health answers every destination.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const NAME_PREFIX = `cli-${RUN}`;

let provisioned: Provisioned;
let server: ApiServer;
let stateDir: string;
/** Every request the CLI sent, as `METHOD path?query`. */
const sent: string[] = [];

const destination = (id: string, customer: string) => ({
  id,
  type: 'S3',
  name: id,
  customerExternalId: customer,
  bucket: `pushrail-cli-${id}-${RUN}`,
  keyPrefix: `${id}/`,
  region: REGION,
  auth: {
    mode: 'ASSUME_ROLE',
    roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
    externalId: `ext-${id}-7Pq2`,
  },
});

async function cli(run: typeof runAudit, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run([...args, '--local', '--state-dir', stateDir], {
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    fetch: (async (input: URL | string, init?: RequestInit) => {
      const url = new URL(String(input));
      sent.push(`${init?.method ?? 'GET'} ${url.pathname}${url.search}`);
      return fetch(input, init);
    }) as typeof fetch,
  });
  return { code, out, err };
}

/** The CLI's signed client, as an operator's `destinations create` would send it. */
async function post(path: string, body?: unknown): Promise<void> {
  const { ManagementApi } = await import('../../cli/api-client.js');
  const api = new ManagementApi({
    baseUrl: server.url,
    region: REGION,
    credentials: { accessKeyId: 'AKIAOPERATOR00000001', secretAccessKey: 'x'.repeat(40) },
    where: 'the test',
  });
  await api.send('POST', path, body === undefined ? {} : { body });
}

let betweenCreateAndPause: string;

beforeAll(async () => {
  const target = { endpoint: inject('awsEndpoint'), region: REGION };
  provisioned = await provision({
    config: parseConfig({ vendor: 'acme', destinations: [] }),
    namePrefix: NAME_PREFIX,
    target,
  });
  const management = createManagementHandler(
    localManagementEnvironment({
      tables: provisioned.tables,
      namePrefix: NAME_PREFIX,
      accountId: provisioned.accountId,
      target,
    }),
    // Two entries a page, so a short trail still spans several cursors.
    { auditPageSize: 2, notify: () => undefined },
  );
  server = await startApiServer({
    handler: async () => ({ statusCode: 404, body: '{}' }),
    managementHandler: management,
    apiKey: 'local-test',
    port: 0,
    function: { functionName: 'ingest', region: REGION, accountId: provisioned.accountId },
    log: () => undefined,
  });
  stateDir = mkdtempSync(join(tmpdir(), 'pushrail-cli-'));
  writeFileSync(join(stateDir, 'local.json'), JSON.stringify({ apiUrl: server.url, region: REGION }));

  await post('/v1/destinations', destination('a1', 'acct_a'));
  await post('/v1/destinations', destination('a2', 'acct_a'));
  await post('/v1/destinations', destination('b1', 'acct_b'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  betweenCreateAndPause = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await post('/v1/destinations/a1/pause');
  await post('/v1/destinations/a1/resume');
});

afterAll(async () => {
  await server?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const actions = (out: string[]) =>
  out.map((line) => {
    const entry = JSON.parse(line) as { action: string; destinationId: string };
    return `${entry.action} ${entry.destinationId}`;
  });

describe('npx pushrail audit (export)', () => {
  it('writes every entry as NDJSON, following every cursor', async () => {
    sent.length = 0;
    const { code, out, err } = await cli(runAudit, '--json');
    expect(code, err.join('\n')).toBe(0);
    expect(actions(out)).toEqual([
      'destination.resumed a1',
      'destination.paused a1',
      'destination.created b1',
      'destination.created a2',
      'destination.created a1',
    ]);
    // 5 entries at 2 a page: three pages, the last without a cursor.
    expect(sent.filter((s) => s.startsWith('GET /v1/audit'))).toHaveLength(3);
    expect(sent.slice(1).every((s) => s.includes('cursor='))).toBe(true);
  });

  it('passes --destination, --customer, --from and --to to every page', async () => {
    expect(actions((await cli(runAudit, '--json', '--destination', 'a1')).out)).toEqual([
      'destination.resumed a1',
      'destination.paused a1',
      'destination.created a1',
    ]);
    sent.length = 0;
    expect(actions((await cli(runAudit, '--json', '--customer', 'acct_a')).out)).toEqual([
      'destination.resumed a1',
      'destination.paused a1',
      'destination.created a2',
      'destination.created a1',
    ]);
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.every((s) => s.includes('customerExternalId=acct_a'))).toBe(true);
    expect(actions((await cli(runAudit, '--json', '--from', betweenCreateAndPause)).out)).toEqual([
      'destination.resumed a1',
      'destination.paused a1',
    ]);
    expect(actions((await cli(runAudit, '--json', '--to', betweenCreateAndPause)).out)).toHaveLength(3);
  });
});

describe('npx pushrail health', () => {
  it('answers every destination as JSON, and one with --destination', async () => {
    const all = await cli(runHealth, '--json');
    expect(all.code, all.err.join('\n')).toBe(0);
    const body = JSON.parse(all.out.join('\n')) as {
      destinations: { destinationId: string; status: string }[];
    };
    expect(body.destinations.map((d) => d.destinationId).sort()).toEqual(['a1', 'a2', 'b1']);
    expect(body.destinations.every((d) => d.status === 'healthy')).toBe(true);

    const one = await cli(runHealth, '--destination', 'a2');
    expect(one.code).toBe(0);
    expect(one.out[0]).toMatch(/^DESTINATION +TYPE +STATUS/);
    expect(one.out[1]).toMatch(/^a2 +S3 +healthy/);

    const unknown = await cli(runHealth, '--destination', 'zz');
    expect(unknown.code).toBe(1);
    expect(unknown.err.join('\n')).toContain('404');
  });
});
