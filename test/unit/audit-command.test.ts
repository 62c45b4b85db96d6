import { describe, expect, it } from 'vitest';
import type { ApiTarget } from '../../cli/api-client.js';
import { AUDIT_HELP, runAudit } from '../../cli/audit-command.js';

/** `npx pushrail audit`: its flags, the pages it follows and what it prints, over a fake API. */

const TARGET: ApiTarget = {
  baseUrl: 'http://127.0.0.1:1',
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIAOPERATOR00000001', secretAccessKey: 'x'.repeat(40) },
  where: 'the test',
};

const ENTRIES = [
  {
    at: '2026-12-01T10:03:00.000Z',
    who: 'arn:aws:iam::123456789012:user/oncall',
    action: 'replay.finished',
    destinationId: 'acme-s3',
    customerExternalId: 'acct_1',
    details: {
      replayId: 'rpl_1',
      selection: { source: 'dlq' },
      counts: { matched: 4, replayed: 4, skipped: 0, failed: 0 },
    },
  },
  {
    at: '2026-12-01T10:02:00.000Z',
    who: 'AKIAOPERATOR00000001',
    action: 'destination.tested',
    destinationId: 'acme-s3',
    customerExternalId: 'acct_1',
    version: 2,
    details: { outcome: 'failed', errorCode: 'AccessDenied' },
  },
  {
    at: '2026-12-01T10:01:00.000Z',
    who: 'AKIAOPERATOR00000001',
    action: 'destination.credentials-rotated',
    destinationId: 'acme-s3',
    customerExternalId: 'acct_1',
    version: 2,
    changes: [{ field: 'auth.secretAccessKey', from: '(changed)', to: '(changed)' }],
  },
];

/** Answers GET /v1/audit two entries a page, recording each request's query. */
function fakeApi() {
  const queries: Record<string, string>[] = [];
  const fetchImpl = (async (input: URL | string) => {
    const url = new URL(String(input));
    const query = Object.fromEntries(url.searchParams);
    queries.push(query);
    if (url.pathname !== '/v1/audit') return new Response('{}', { status: 404 });
    if (query.action === 'nope')
      return Response.json(
        { error: { code: 'VALIDATION_FAILED', message: 'invalid audit query' } },
        { status: 400 },
      );
    const start = Number(query.cursor ?? 0);
    const next = start + 2 < ENTRIES.length ? String(start + 2) : undefined;
    return Response.json({ entries: ENTRIES.slice(start, start + 2), ...(next ? { cursor: next } : {}) });
  }) as typeof fetch;
  return { queries, fetchImpl };
}

async function audit(...args: string[]) {
  const { queries, fetchImpl } = fakeApi();
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAudit(args, {
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    localStateExists: () => true,
    resolveTarget: async () => TARGET,
    fetch: fetchImpl,
  });
  return { code, out, err, queries };
}

describe('npx pushrail audit', () => {
  it('exports every page as NDJSON with --json, passing the filters', async () => {
    const { code, out, queries } = await audit(
      '--json',
      '--destination',
      'acme-s3',
      '--action',
      'replay.finished',
      '--from',
      '2026-12-01T00:00:00Z',
    );
    expect(code).toBe(0);
    expect(out.map((l) => JSON.parse(l))).toEqual(ENTRIES);
    expect(queries).toEqual([
      { destinationId: 'acme-s3', action: 'replay.finished', from: '2026-12-01T00:00:00Z' },
      { destinationId: 'acme-s3', action: 'replay.finished', from: '2026-12-01T00:00:00Z', cursor: '2' },
    ]);
  });

  it('prints a table with what each entry did, and stops at --limit saying there is more', async () => {
    const { code, out } = await audit('--limit', '2', '--customer', 'acct_1');
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^AT +ACTION +DESTINATION +WHO +WHAT$/);
    expect(out[1]).toContain('replay.finished');
    expect(out[1]).toContain('matched 4, replayed 4, skipped 0, failed 0');
    expect(out[2]).toContain('destination.tested');
    expect(out[2]).toContain('v2; failed AccessDenied');
    expect(out).toHaveLength(4);
    expect(out[3]).toContain('more entries');
  });

  it('shows changed secrets only as "(changed)"', async () => {
    const { out } = await audit();
    expect(out.join('\n')).toContain('auth.secretAccessKey: (changed) → (changed)');
  });

  it("prints the API's refusal and exits 1; bad flags exit 2 with the help", async () => {
    const refused = await audit('--action', 'nope');
    expect(refused.code).toBe(1);
    expect(refused.err.join('\n')).toContain('400 VALIDATION_FAILED: invalid audit query');
    const bad = await audit('--from', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.err.join('\n')).toContain('--from must be an ISO-8601 time');
    expect((await audit('--everything')).code).toBe(2);
    expect((await audit('--limit', '0')).code).toBe(2);
    const help = await audit('--help');
    expect(help).toMatchObject({ code: 0, out: [AUDIT_HELP] });
    for (const flag of [
      '--destination',
      '--customer',
      '--action',
      '--from',
      '--to',
      '--json',
      '--limit',
      '--stack',
      '--local',
      '--state-dir',
      '--region',
    ])
      expect(AUDIT_HELP).toContain(flag);
  });
});
