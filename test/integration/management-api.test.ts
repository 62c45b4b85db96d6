import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateTableCommand,
  DynamoDBClient,
  ScanCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { TABLES } from '../../lambdas/core/resources.js';
import { type Answer, call, type Handler, OPERATOR_KEY_ID } from '../support/management.js';

/**
 * The management handler against real DynamoDB and Secrets Manager (moto), invoked with API Gateway
 * proxy events built as the local API server builds them.
 */

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies, edited by path
type Json = Record<string, any>;
const CONFIG = JSON.parse(readFileSync(new URL('../../pushrail.config.json', import.meta.url), 'utf8'));
const suffix = randomUUID().slice(0, 8);
const endpoint = inject('awsEndpoint');
const dynamodb = new DynamoDBClient({ endpoint });
const secretsManager = new SecretsManagerClient({ endpoint });
const destinationsTable = `it-mgmt-destinations-${suffix}`;
const auditTable = `it-mgmt-audit-${suffix}`;
const namePrefix = `it-mgmt-${suffix}`;
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY01';

const logged: string[] = [];
let handler: Handler;
const answers: Answer[] = [];

async function api(method: string, url: string, options?: Parameters<typeof call>[3]): Promise<Answer> {
  const answer = await call(handler, method, url, options);
  answers.push(answer);
  // A 503 is a dependency failing: say which, so a failing assertion shows the cause, not only the 503.
  if (answer.statusCode === 503) {
    const cause = logged.filter((line) => line.includes('dependency failed')).at(-1) ?? '(nothing logged)';
    return { ...answer, raw: `${answer.raw}\n${cause}` };
  }
  return answer;
}

async function createTable(name: string, sortKey?: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        ...(sortKey ? [{ AttributeName: sortKey, KeyType: 'RANGE' as const }] : []),
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        ...(sortKey ? [{ AttributeName: sortKey, AttributeType: 'S' as const }] : []),
      ],
    }),
  );
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName: name });
}

async function scanAll(table: string): Promise<string> {
  const { Items } = await dynamodb.send(new ScanCommand({ TableName: table }));
  return JSON.stringify(Items ?? []);
}

beforeAll(async () => {
  expect(TABLES.destinations.partitionKey).toBe('pk');
  expect(TABLES.audit.sortKey).toBe('sk');
  await createTable(destinationsTable);
  await createTable(auditTable, 'sk');
  const capture = (chunk: unknown) => {
    logged.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  handler = createManagementHandler(
    {
      DESTINATIONS_TABLE: destinationsTable,
      AUDIT_TABLE: auditTable,
      NAME_PREFIX: namePrefix,
      VENDOR_ACCOUNT_ID: '123456789012',
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
    },
    { auditPageSize: 3, logger: new Logger({ serviceName: 'it-management', logLevel: 'DEBUG' }) },
  );
});

afterAll(() => {
  vi.restoreAllMocks();
});

describe('the management API on moto', () => {
  const s3 = (): Json => structuredClone(CONFIG.destinations[0]);
  const eb = (): Json => structuredClone(CONFIG.destinations[1]);

  it('create → get → list → update with If-Match → pause → resume → delete, with 409, 412 and 404', async () => {
    const created = await api('POST', '/v1/destinations', { body: s3() });
    expect(created.statusCode, created.raw).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    expectError(await api('POST', '/v1/destinations', { body: s3() }), 409, 'CONFLICT');

    const got = await api('GET', '/v1/destinations/acme-s3-archive');
    expect(got.body).toEqual(created.body);
    expect(got.body).toMatchObject({ status: 'PROVISIONING', version: 1, updatedBy: OPERATOR_KEY_ID });

    await api('POST', '/v1/destinations', { body: { ...eb(), customerExternalId: 'acct_other' } });
    const listed = await api('GET', '/v1/destinations?customerExternalId=acct_8K2zRq');
    expect(listed.body.destinations.map((d: Json) => d.id)).toEqual(['acme-s3-archive']);

    const updated = await api('PUT', '/v1/destinations/acme-s3-archive', {
      body: { ...s3(), keyPrefix: 'v2/' },
      headers: { 'If-Match': '"1"' },
    });
    expect(updated.statusCode, updated.raw).toBe(200);
    expect(updated.headers.etag).toBe('"2"');
    const stale = await api('PUT', '/v1/destinations/acme-s3-archive', {
      body: { ...s3(), keyPrefix: 'v3/' },
      headers: { 'If-Match': '"1"' },
    });
    expectError(stale, 412, 'PRECONDITION_FAILED');

    expect((await api('POST', '/v1/destinations/acme-s3-archive/pause')).body.version).toBe(3);
    expect((await api('POST', '/v1/destinations/acme-s3-archive/resume')).body.version).toBe(4);
    const deleted = await api('DELETE', '/v1/destinations/acme-s3-archive');
    expect(deleted.statusCode).toBe(202);
    expect((await api('GET', '/v1/destinations/acme-s3-archive')).body).toMatchObject({
      status: 'DELETING',
      version: 5,
      keyPrefix: 'v2/',
    });
    expectError(await api('GET', '/v1/destinations/nope'), 404, 'NOT_FOUND');

    // The stored record holds what was asked.
    const table = await scanAll(destinationsTable);
    expect(table).toContain('"DELETED"');
  });

  it('keeps posted ACCESS_KEY keys in Secrets Manager under the prefix, and nowhere else', async () => {
    const body = {
      ...s3(),
      id: 'acme-s3-keys',
      bucketOwnerAccountId: '123456789012',
      auth: { mode: 'ACCESS_KEY', accessKeyId: KEY_ID, secretAccessKey: SECRET },
    };
    const created = await api('POST', '/v1/destinations', { body });
    expect(created.statusCode, created.raw).toBe(201);
    const secretArn: string = created.body.auth.secretArn;
    expect(secretArn).toContain(`:secret:pushrail/${namePrefix}/acme-s3-keys`);
    expect(created.body.auth.accessKeyId).toBe('AKIA…MPLE');
    const stored = await secretsManager.send(new GetSecretValueCommand({ SecretId: secretArn }));
    expect(JSON.parse(stored.SecretString ?? '{}')).toEqual({ accessKeyId: KEY_ID, secretAccessKey: SECRET });

    // A rotation writes a new version of the same secret.
    const rotatedKey = 'AKIAI44QH8DHBEXAMPLE';
    const rotated = await api('PUT', '/v1/destinations/acme-s3-keys', {
      body: { ...body, auth: { mode: 'ACCESS_KEY', accessKeyId: rotatedKey, secretAccessKey: `${SECRET}2` } },
      headers: { 'If-Match': created.headers.etag as string },
    });
    expect(rotated.statusCode, rotated.raw).toBe(200);
    expect(rotated.body.auth.secretArn).toBe(secretArn);
    const after = await secretsManager.send(new GetSecretValueCommand({ SecretId: secretArn }));
    expect(JSON.parse(after.SecretString ?? '{}').accessKeyId).toBe(rotatedKey);

    const everything = [
      ...answers.map((a) => a.raw),
      ...logged,
      await scanAll(destinationsTable),
      await scanAll(auditTable),
      JSON.stringify((await api('GET', '/v1/audit?destinationId=acme-s3-keys')).body),
    ].join('\n');
    for (const secret of [KEY_ID, SECRET, rotatedKey]) expect(everything).not.toContain(secret);
    expect(logged.join('')).toContain('destination created');
  });

  it('answers the audit trail newest first, filtered, page by page with a cursor', async () => {
    const pages: Json[][] = [];
    let cursor: string | undefined;
    do {
      const page = await api(
        'GET',
        `/v1/audit?destinationId=acme-s3-archive${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(page.statusCode, page.raw).toBe(200);
      pages.push(page.body.entries);
      cursor = page.body.cursor;
    } while (cursor);
    expect(pages[0]).toHaveLength(3);
    const entries = pages.flat();
    expect(entries.map((e) => [e.action, e.version])).toEqual([
      ['destination.deleted', 5],
      ['destination.resumed', 4],
      ['destination.paused', 3],
      ['destination.updated', 2],
      ['destination.created', 1],
    ]);
    expect(entries[3]).toMatchObject({
      who: OPERATOR_KEY_ID,
      customerExternalId: 'acct_8K2zRq',
      changes: [{ field: 'keyPrefix', from: 'raw/pushrail/', to: 'v2/' }],
    });

    const paused = await api('GET', '/v1/audit?action=destination.paused');
    expect(paused.body.entries.map((e: Json) => e.destinationId)).toEqual(['acme-s3-archive']);
    const other = await api('GET', '/v1/audit?customerExternalId=acct_other');
    expect(other.body.entries.map((e: Json) => [e.destinationId, e.action])).toEqual([
      ['acme-eventbridge', 'destination.created'],
    ]);

    const created = entries[4] as Json;
    const updated = entries[3] as Json;
    const window = await api(
      'GET',
      `/v1/audit?destinationId=acme-s3-archive&from=${created.at}&to=${updated.at}`,
    );
    expect(window.body.entries.map((e: Json) => e.action)).toEqual([
      'destination.updated',
      'destination.created',
    ]);
    const future = await api('GET', '/v1/audit?from=2999-01-01T00:00:00Z');
    expect(future.body).toEqual({ entries: [] });

    const bad = await api('GET', '/v1/audit?cursor=bm90LWEtY3Vyc29y');
    expectError(bad, 400, 'VALIDATION_FAILED');
    expect(bad.body.error.details).toEqual([{ field: 'cursor', message: 'not valid' }]);
  });
});

function expectError(answer: Answer, statusCode: number, code: string): void {
  expect(answer.statusCode, answer.raw).toBe(statusCode);
  expect(answer.body.error.code).toBe(code);
}
