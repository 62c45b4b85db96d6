import { describe, expect, it } from 'vitest';
import { HEALTH_HELP, parseHealthArgs } from '../../cli/health-command.js';
import { UsageError } from '../../cli/usage-error.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import type { HealthDeps } from '../../lambdas/observe/health.js';
import { call, MemoryAudit, MemorySecrets, MemoryStore } from '../support/management.js';

/** The health routes' edges (lambdas/control/health-routes.ts) and the health CLI's flags, without a network. */

// The management handler logs each refused request at INFO.
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const ENV = {
  DESTINATIONS_TABLE: 'destinations',
  AUDIT_TABLE: 'audit',
  NAME_PREFIX: 'pushrail-test',
  VENDOR_ACCOUNT_ID: '111122223333',
  AWS_REGION: 'us-east-1',
};

const [destination] = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 'acme-s3',
      type: 'S3',
      name: 'acme',
      customerExternalId: 'acct_1',
      bucket: 'acme-bucket',
      keyPrefix: 'raw/',
      region: 'us-east-1',
      auth: { mode: 'ASSUME_ROLE', roleArn: 'arn:aws:iam::123456789012:role/W', externalId: 'ext-12345678' },
    },
  ],
}).destinations;

function handlerWith(health: Partial<HealthDeps> | undefined, env: Record<string, string> = ENV) {
  const store = new MemoryStore();
  const at = '2026-12-01T00:00:00.000Z';
  store.records.set('acme-s3', {
    destination,
    version: 1,
    desired: 'PAUSED',
    status: 'PAUSED',
    createdAt: at,
    updatedAt: at,
    updatedBy: 'test',
  } as DestinationRecord);
  return createManagementHandler(env, {
    adapters: { store, audit: new MemoryAudit(store), secrets: new MemorySecrets() },
    ...(health ? { health } : {}),
  });
}

const QUIET: Partial<HealthDeps> = {
  rollups: {
    read: async () => ({ minutes: [], readUnits: 0 }),
    transition: async () => true,
    markAnnounced: async () => undefined,
  },
  queues: {
    backlog: async () => ({ queued: 0, inFlight: 0, dlqDepth: 0 }),
    oldestAges: async () => new Map(),
  },
  announcer: { announce: async () => undefined },
};

describe('health routes', () => {
  it('answer 501 naming ATTEMPTS_TABLE when the function has no attempts table', async () => {
    const answer = await call(handlerWith(undefined), 'GET', '/v1/health');
    expect(answer.statusCode).toBe(501);
    expect(answer.raw).toContain('ATTEMPTS_TABLE');
  });

  it('report a paused destination as paused, and 404 an unknown one', async () => {
    const handler = handlerWith(QUIET);
    const one = await call(handler, 'GET', '/v1/destinations/acme-s3/health');
    expect(one.statusCode, one.raw).toBe(200);
    expect(one.body).toMatchObject({ destinationId: 'acme-s3', status: 'paused', successRate: null });
    expect((await call(handler, 'GET', '/v1/destinations/other/health')).statusCode).toBe(404);
  });

  it('take ?customerExternalId= and refuse any other query parameter with 400', async () => {
    const handler = handlerWith(QUIET);
    const mine = await call(handler, 'GET', '/v1/health?customerExternalId=acct_1');
    expect(mine.body.destinations).toHaveLength(1);
    expect((await call(handler, 'GET', '/v1/health?customerExternalId=acct_2')).body.destinations).toEqual(
      [],
    );
    expect((await call(handler, 'GET', '/v1/health?window=1h')).statusCode).toBe(400);
    expect((await call(handler, 'GET', '/v1/health', { as: null })).statusCode).toBe(401);
  });
});

describe('npx pushrail health flags', () => {
  const parse = (...args: string[]) => parseHealthArgs(args, () => true);

  it('reads --destination, --customer and --json, and targets the local runtime when it runs', () => {
    expect(parse('--destination', 'acme-s3', '--json')).toMatchObject({
      destinationId: 'acme-s3',
      json: true,
      target: { kind: 'local' },
    });
    expect(parse('--customer', 'acct_1', '--stack', 'Prod')).toMatchObject({
      customerExternalId: 'acct_1',
      target: { kind: 'stack', stackName: 'Prod' },
    });
  });

  it('refuses unknown flags and --destination with --customer; --help lists every flag', () => {
    expect(() => parse('--everything')).toThrow(UsageError);
    expect(() => parse('--destination', 'a', '--customer', 'b')).toThrow(UsageError);
    expect(parse('--help')).toBe('help');
    for (const flag of [
      '--destination',
      '--customer',
      '--json',
      '--stack',
      '--local',
      '--state-dir',
      '--region',
    ])
      expect(HEALTH_HELP).toContain(flag);
  });
});
