import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runDestinations } from '../../cli/destinations/index.js';
import { SEED_CONFIG_INPUT } from '../infra/fixtures.js';

/**
 * `npx pushrail destinations …` against a small stand-in of the management API (DESIGN.md
 * "Management API": routes, bodies, ETag/If-Match, 201/202/404/409/412) that refuses any request
 * whose SigV4 signature it cannot reproduce with the run's credentials (vitest.config.ts: test/test)
 * for service execute-api in the local runtime's region.
 */

const REGION = 'eu-central-1';
const ACCESS_KEY_ID = 'test';
const SECRET = 'test';
const RAW_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Stored = Record<string, unknown> & { id: string; version: number; status: string };

const store = new Map<string, Stored>();
const seen: Seen[] = [];
let server: Server;
let stateDir: string;
let workDir: string;

const verifier = new SignatureV4({
  service: 'execute-api',
  region: REGION,
  credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET },
  sha256: Sha256,
});

/** Re-signs the request as received, with the headers it says it signed, and compares. */
async function signatureValid(req: Seen): Promise<boolean> {
  const auth = String(req.headers.authorization ?? '');
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!match) return false;
  const [, keyId, , region, service, signedHeaders] = match;
  if (keyId !== ACCESS_KEY_ID || region !== REGION || service !== 'execute-api') return false;
  const names = (signedHeaders ?? '').split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return false;
  const amzDate = String(req.headers['x-amz-date']);
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const [hostname, port] = String(req.headers.host).split(':');
  const resigned = await verifier.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: hostname ?? '',
      ...(port ? { port: Number(port) } : {}),
      path: req.path,
      query: req.query,
      headers: Object.fromEntries(names.map((n) => [n, String(req.headers[n])])),
      ...(req.body ? { body: req.body } : {}),
    },
    { signingDate },
  );
  return resigned.headers.authorization === auth;
}

const error = (status: number, code: string, message: string, details: unknown[] = []) => ({
  status,
  body: { error: { code, message, ...(details.length > 0 ? { details } : {}) } },
});

/** The management API's contract, in memory. */
function answer(req: Seen): { status: number; body?: unknown; etag?: number } {
  const parts = req.path.split('/').filter(Boolean); // v1, destinations, id?, action?
  const id = parts[2] ? decodeURIComponent(parts[2]) : undefined;
  const action = parts[3];
  const current = id ? store.get(id) : undefined;
  if (req.method === 'GET' && !id) {
    const list = [...store.values()].filter(
      (d) => !req.query.customerExternalId || d.customerExternalId === req.query.customerExternalId,
    );
    return { status: 200, body: { destinations: list } };
  }
  if (req.method === 'POST' && !id) {
    const body = JSON.parse(req.body) as Record<string, unknown>;
    if (typeof body.name !== 'string' || body.name === 'refuse-me')
      return error(400, 'VALIDATION_FAILED', 'the destination is not valid', [
        { field: 'name', message: 'required' },
      ]);
    if (store.has(String(body.id)))
      return error(409, 'DESTINATION_EXISTS', `destination ${String(body.id)} already exists`);
    const auth = body.auth as Record<string, unknown> | undefined;
    // As the real API: raw keys go to Secrets Manager; the answer shows the key id masked.
    const shown =
      auth?.secretAccessKey !== undefined
        ? { mode: 'ACCESS_KEY', accessKeyId: 'AKIA…WXYZ', secretArn: 'arn:aws:secretsmanager:x' }
        : auth;
    const created: Stored = {
      ...body,
      ...(shown ? { auth: shown } : {}),
      id: String(body.id),
      status: 'PROVISIONING',
      version: 1,
      createdAt: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-01T10:00:00.000Z',
      updatedBy: ACCESS_KEY_ID,
    };
    store.set(created.id, created);
    return { status: 201, body: created, etag: 1 };
  }
  if (!current) return error(404, 'DESTINATION_NOT_FOUND', `no destination ${id}`);
  const ifMatch = req.headers['if-match'];
  if (req.method === 'GET') return { status: 200, body: current, etag: current.version };
  if (req.method === 'PUT') {
    if (ifMatch !== undefined && ifMatch !== `"${current.version}"`)
      return error(412, 'VERSION_MISMATCH', `destination ${id} is at version ${current.version}`);
    const next: Stored = { ...current, ...JSON.parse(req.body), version: current.version + 1 };
    store.set(current.id, next);
    return { status: 200, body: next, etag: next.version };
  }
  if (req.method === 'POST' && (action === 'pause' || action === 'resume')) {
    const next = {
      ...current,
      status: action === 'pause' ? 'PAUSED' : 'ACTIVE',
      version: current.version + 1,
    };
    store.set(current.id, next);
    return { status: 200, body: next, etag: next.version };
  }
  if (req.method === 'POST' && action === 'test')
    return current.type === 'S3'
      ? {
          status: 200,
          body: { outcome: 'delivered', latencyMs: 42, target: 's3://b/_pushrail/test/x.ndjson' },
        }
      : {
          status: 200,
          body: { outcome: 'failed', latencyMs: 7, errorCode: 'AccessDenied', reason: 'wrong ExternalId' },
        };
  if (req.method === 'DELETE') {
    store.set(current.id, {
      ...current,
      status: 'DELETING',
      desired: 'DELETED',
      version: current.version + 1,
    });
    return { status: 202, body: { id: current.id, status: 'DELETING' } };
  }
  return error(404, 'NOT_FOUND', 'no such route');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const request: Seen = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(request);
      const out = (await signatureValid(request))
        ? answer(request)
        : {
            status: 403,
            body: {
              message: 'The request signature we calculated does not match the signature you provided.',
            },
          };
      res.writeHead(out.status, {
        'content-type': 'application/json',
        ...('etag' in out && out.etag !== undefined ? { etag: `"${out.etag}"` } : {}),
      });
      res.end(out.body === undefined ? '' : JSON.stringify(out.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  stateDir = mkdtempSync(join(tmpdir(), 'pushrail-cli-'));
  workDir = mkdtempSync(join(tmpdir(), 'pushrail-cli-files-'));
  writeFileSync(
    join(stateDir, 'local.json'),
    JSON.stringify({ apiUrl: `http://127.0.0.1:${port}`, region: REGION }),
  );
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  store.clear();
  seen.length = 0;
});

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDestinations([...args, '--state-dir', stateDir], {
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const file = (name: string, content: unknown) => {
  const path = join(workDir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
};

const seedDestinations = SEED_CONFIG_INPUT.destinations as Record<string, unknown>[];
const [s3Input, busInput] = seedDestinations as [Record<string, unknown>, Record<string, unknown>];
const changes = () => seen.filter((r) => r.method !== 'GET');

describe('npx pushrail destinations, against the local runtime', () => {
  it('signs every request with SigV4 for execute-api in the target region (a wrong signature is refused)', async () => {
    const created = await cli('create', '-f', file('s3.json', s3Input));
    expect(created).toMatchObject({ code: 0, err: '' });
    expect(created.out).toContain(`created ${String(s3Input.id)} (S3): PROVISIONING, version 1`);
    const auth = String(seen[0]?.headers.authorization);
    expect(auth).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/${REGION}/execute-api/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=`,
      ),
    );
    expect(auth).toMatch(/SignedHeaders=[^,]*content-type/);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual(s3Input);

    // The stand-in checks the signature for real: other credentials are refused, and the CLI says so.
    const before = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    try {
      const refused = await cli('get', String(s3Input.id));
      expect(refused.code).toBe(1);
      expect(refused.err).toContain('403 HTTP_403: The request signature we calculated does not match');
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = before;
    }
  });

  it('lists as a table and as JSON, filters by customer, and gets one destination', async () => {
    await cli('create', '-f', file('s3.json', s3Input));
    await cli('create', '-f', file('bus.json', { ...busInput, customerExternalId: 'acct_other' }));
    const table = await cli('list');
    expect(table.code).toBe(0);
    expect(table.out.split('\n')).toEqual([
      expect.stringMatching(/^ID +TYPE +CUSTOMER +STATUS +VERSION +UPDATED$/),
      expect.stringMatching(
        new RegExp(`^${String(busInput.id)} +EVENTBRIDGE +acct_other +PROVISIONING +1 +2026`),
      ),
      expect.stringMatching(new RegExp(`^${String(s3Input.id)} +S3 +acct_8K2zRq +PROVISIONING +1 +2026`)),
    ]);
    const json = await cli('list', '--customer', 'acct_other', '--json');
    expect(seen.at(-1)?.query).toEqual({ customerExternalId: 'acct_other' });
    expect(JSON.parse(json.out).destinations.map((d: { id: string }) => d.id)).toEqual([busInput.id]);

    const one = await cli('get', String(s3Input.id));
    expect(one.out).toMatch(/^bucket +acme-pushrail-events$/m);
    expect(one.out).toMatch(/^auth\.mode +ASSUME_ROLE$/m);
    expect(JSON.parse((await cli('get', String(s3Input.id), '--json')).out)).toMatchObject({
      id: s3Input.id,
      version: 1,
    });
  });

  it("prints the API's error code, message and field details, and exits 1", async () => {
    const missing = await cli('get', 'nope');
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.err).toBe('404 DESTINATION_NOT_FOUND: no destination nope');

    const { name: _name, ...nameless } = s3Input;
    const invalid = await cli('create', '-f', file('bad.json', nameless));
    expect(invalid.code).toBe(1);
    expect(invalid.err).toBe(
      `create ${String(s3Input.id)}: 400 VALIDATION_FAILED: the destination is not valid\n  - name: required`,
    );

    await cli('create', '-f', file('s3.json', s3Input));
    const again = await cli('create', '-f', file('s3.json', s3Input));
    expect(again.err).toContain('409 DESTINATION_EXISTS');
  });

  it('never prints a raw key from the file or the answer', async () => {
    const withKeys = {
      ...s3Input,
      auth: { mode: 'ACCESS_KEY', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: RAW_SECRET },
    };
    const path = file('keys.json', withKeys);
    for (const args of [
      ['create', '-f', path],
      ['create', '-f', path],
      ['get', String(s3Input.id), '--json'],
    ]) {
      const r = await cli(...args);
      expect(`${r.out}\n${r.err}`).not.toContain(RAW_SECRET);
      expect(`${r.out}\n${r.err}`).not.toContain('AKIAIOSFODNN7EXAMPLE');
    }
    // The bad-usage path does not quote the file either.
    writeFileSync(join(workDir, 'broken.json'), `{"secretAccessKey": "${RAW_SECRET}",`);
    const broken = await cli('create', '-f', join(workDir, 'broken.json'));
    expect(broken.code).toBe(2);
    expect(broken.err).not.toContain(RAW_SECRET);
  });

  it('updates with If-Match (a stale version is a 412), pauses, resumes, tests and deletes', async () => {
    await cli('create', '-f', file('s3.json', s3Input));
    const path = file('s3-v2.json', { ...s3Input, keyPrefix: 'v2/' });
    const stale = await cli('update', '-f', path, '--if-match', '7');
    expect(stale.code).toBe(1);
    expect(stale.err).toContain('412 VERSION_MISMATCH');
    expect(seen.at(-1)?.headers['if-match']).toBe('"7"');
    const updated = await cli('update', '-f', path, '--if-match', '1');
    expect(updated).toMatchObject({
      code: 0,
      out: `updated ${String(s3Input.id)} (S3): PROVISIONING, version 2`,
    });

    expect((await cli('pause', String(s3Input.id))).out).toBe(
      `paused ${String(s3Input.id)} (S3): PAUSED, version 3`,
    );
    expect((await cli('resume', String(s3Input.id))).out).toBe(
      `resumed ${String(s3Input.id)} (S3): ACTIVE, version 4`,
    );
    expect(seen.slice(-2).map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /v1/destinations/${String(s3Input.id)}/pause`,
      `POST /v1/destinations/${String(s3Input.id)}/resume`,
    ]);

    const ok = await cli('test', String(s3Input.id));
    expect(ok).toMatchObject({
      code: 0,
      out: `test ${String(s3Input.id)}: delivered in 42 ms → s3://b/_pushrail/test/x.ndjson`,
    });
    await cli('create', '-f', file('bus.json', busInput));
    const failing = await cli('test', String(busInput.id));
    expect(failing.code).toBe(1);
    expect(failing.out).toBe(`test ${String(busInput.id)}: failed in 7 ms\n  AccessDenied: wrong ExternalId`);

    const deleted = await cli('delete', String(s3Input.id), '--force');
    expect(deleted.code).toBe(0);
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', query: { force: 'true' } });
    await cli('delete', String(busInput.id));
    expect(seen.at(-1)?.query).toEqual({});
  });
});

describe('npx pushrail destinations apply', () => {
  const config = (destinations: unknown[]) => file('pushrail.config.json', { vendor: 'acme', destinations });

  it('prints the diff and, with --dry-run, changes nothing', async () => {
    const path = config([s3Input, busInput]);
    const dry = await cli('apply', '-f', path, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toBe(
      [
        `+ create ${String(busInput.id)} (EVENTBRIDGE, customer acct_8K2zRq)`,
        `+ create ${String(s3Input.id)} (S3, customer acct_8K2zRq)`,
        '0 unchanged',
        'dry run: nothing changed',
      ].join('\n'),
    );
    expect(changes()).toEqual([]);
    expect(store.size).toBe(0);
  });

  it('creates the missing, updates only what differs (If-Match), prunes with --prune, and then has nothing to do', async () => {
    await cli('create', '-f', file('s3.json', s3Input));
    await cli('create', '-f', file('old.json', { ...busInput, id: 'old-bus' }));
    seen.length = 0;
    const path = config([{ ...s3Input, keyPrefix: 'v2/' }, busInput]);

    const kept = await cli('apply', '-f', path, '--dry-run');
    expect(kept.out).toContain('1 not in the file kept (old-bus; --prune deletes them)');

    const applied = await cli('apply', '-f', path, '--prune');
    expect(applied.code).toBe(0);
    expect(applied.out.split('\n')).toEqual([
      `+ create ${String(busInput.id)} (EVENTBRIDGE, customer acct_8K2zRq)`,
      `~ update ${String(s3Input.id)}`,
      '    keyPrefix: "raw/pushrail/" → "v2/"',
      '- delete old-bus (EVENTBRIDGE, customer acct_8K2zRq)',
      '0 unchanged',
      expect.stringMatching(
        /^applied on the local runtime at .*: 1 to create, 1 to update, 1 to delete; 3 done, 0 failed$/,
      ),
    ]);
    const put = changes().find((r) => r.method === 'PUT');
    expect(put?.headers['if-match']).toBe('"1"');
    expect(
      changes()
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    ).toEqual(
      [
        'POST /v1/destinations',
        `PUT /v1/destinations/${String(s3Input.id)}`,
        'DELETE /v1/destinations/old-bus',
      ].sort(),
    );

    seen.length = 0;
    const again = await cli('apply', '-f', path, '--prune');
    expect(again.code).toBe(0);
    expect(again.out).toContain('2 unchanged');
    expect(again.out).toContain('nothing to change');
    expect(changes()).toEqual([]);
  });

  it('refuses an invalid config with its field errors (exit 2) before calling the API', async () => {
    const outOfRange = await cli('apply', '-f', config([{ ...s3Input, batchSizeMb: 500 }]));
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.err).toMatch(/destinations\[0\]\.batchSizeMb: .*/);
    const rawKeys = await cli(
      'apply',
      '-f',
      config([
        {
          ...busInput,
          auth: { mode: 'ACCESS_KEY', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: RAW_SECRET },
        },
      ]),
    );
    expect(rawKeys.code).toBe(2);
    expect(rawKeys.err).toContain(
      'destinations[0].auth.secretAccessKey: raw AWS access keys are not allowed',
    );
    expect(rawKeys.err).not.toContain(RAW_SECRET);
    expect(seen).toEqual([]);
  });

  it('does the changes the API accepts, reports each refusal with its details, and exits 1', async () => {
    const r = await cli('apply', '-f', config([s3Input, { ...busInput, name: 'refuse-me' }]));
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `create ${String(busInput.id)}: 400 VALIDATION_FAILED: the destination is not valid\n  - name: required`,
    );
    expect(r.out).toContain('1 done, 1 failed');
    expect([...store.keys()]).toEqual([s3Input.id]);
  });
});

describe('the pushrail bin', () => {
  it('runs destinations through npx pushrail, with exit code 2 for bad usage and 0 for a list', async () => {
    const run = promisify(execFile);
    const bin = new URL('../../bin/pushrail-cli.js', import.meta.url).pathname;
    const bad = await run(process.execPath, [bin, 'destinations', 'list', '--bogus'], {
      env: process.env,
    }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain("Unknown option '--bogus'");
    await cli('create', '-f', file('s3.json', s3Input));
    const listed = await run(
      process.execPath,
      [bin, 'destinations', 'list', '--state-dir', stateDir, '--json'],
      {
        env: process.env,
      },
    );
    expect(JSON.parse(listed.stdout).destinations.map((d: { id: string }) => d.id)).toEqual([s3Input.id]);
  });
});
