import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import {
  type Answer,
  call,
  type Handler,
  MemoryAudit,
  MemorySecrets,
  MemoryStore,
  OPERATOR_KEY_ID,
} from '../support/management.js';

/**
 * The management API's handler and use cases, over in-memory adapters (no network): the config file's
 * validation through the API, If-Match, generated ExternalIds with the customer's setup, raw keys that
 * never come back out, the audit entries, and the error answers.
 */

// biome-ignore lint/suspicious/noExplicitAny: JSON answers and bodies, read and edited by path in assertions
type Json = Record<string, any>;
const CONFIG = JSON.parse(readFileSync(new URL('../../pushrail.config.json', import.meta.url), 'utf8'));
/** Fresh copies of the committed example's destinations: S3 and EVENTBRIDGE. */
const s3Body = (): Json => structuredClone(CONFIG.destinations[0]);
const ebBody = (): Json => structuredClone(CONFIG.destinations[1]);

const ENV = {
  DESTINATIONS_TABLE: 'destinations',
  AUDIT_TABLE: 'audit',
  NAME_PREFIX: 'pushrail-test',
  VENDOR_ACCOUNT_ID: '111122223333',
  AWS_REGION: 'us-east-1',
};
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY01';
const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLETOKENxyz';

let store: MemoryStore;
let audit: MemoryAudit;
let secrets: MemorySecrets;
let notified: string[];
let logged: string[];
let handler: Handler;

beforeEach(() => {
  store = new MemoryStore();
  audit = new MemoryAudit(store);
  secrets = new MemorySecrets();
  notified = [];
  logged = [];
  // Everything the function logs, at its most verbose, to check that no secret is ever in it.
  const capture = (chunk: unknown) => {
    logged.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  handler = createManagementHandler(ENV, {
    notify: (id) => {
      notified.push(id);
    },
    logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
    adapters: { store, audit, secrets },
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const create = (body: unknown, options = {}) =>
  call(handler, 'POST', '/v1/destinations', { body, ...options });

function expectError(answer: Answer, statusCode: number, code: string): void {
  expect(answer.statusCode, answer.raw).toBe(statusCode);
  expect(answer.body.error.code).toBe(code);
  expect(answer.headers['content-type']).toBe('application/json');
}

describe('schema parity: the API answers every config-file message for a destination', () => {
  const cases: [string, (d: Json) => void][] = [
    ['batchSizeMb below range', (d) => Object.assign(d, { batchSizeMb: 0.1 })],
    ['batchSizeMb above range', (d) => Object.assign(d, { batchSizeMb: 6 })],
    ['fractional flushIntervalSec', (d) => Object.assign(d, { flushIntervalSec: 1.5 })],
    ['maxEvents 0', (d) => Object.assign(d, { maxEvents: 0 })],
    ['flushIntervalSec as a string', (d) => Object.assign(d, { flushIntervalSec: '60' })],
    ['flushIntervalSec 0 above 10 events', (d) => Object.assign(d, { maxEvents: 11, flushIntervalSec: 0 })],
    ['unknown storageClass', (d) => Object.assign(d, { storageClass: 'COLD' })],
    ['region without number', (d) => Object.assign(d, { region: 'us-east' })],
    ['user ARN as roleArn', (d) => Object.assign(d.auth, { roleArn: 'arn:aws:iam::123456789012:user/bob' })],
    ['one-character externalId', (d) => Object.assign(d.auth, { externalId: 'x' })],
    ['unknown auth mode', (d) => Object.assign(d.auth, { mode: 'KEYS' })],
    [
      'malformed secretArn',
      (d) =>
        Object.assign(d, {
          auth: { mode: 'ACCESS_KEY', secretArn: 'pushrail/acme' },
          bucketOwnerAccountId: '123456789012',
        }),
    ],
    ['bucket with "_"', (d) => Object.assign(d, { bucket: 'Acme_Events' })],
    ['bucketOwnerAccountId of 11 digits', (d) => Object.assign(d, { bucketOwnerAccountId: '12345678901' })],
    [
      'ACCESS_KEY without bucketOwnerAccountId',
      (d) =>
        Object.assign(d, {
          auth: {
            mode: 'ACCESS_KEY',
            secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf',
          },
        }),
    ],
    ['upper-case id', (d) => Object.assign(d, { id: 'Acme' })],
    ['unknown type', (d) => Object.assign(d, { type: 'SFTP' })],
    ['unknown field', (d) => Object.assign(d, { compression: 'gzip' })],
    ['empty eventTypes', (d) => Object.assign(d, { eventTypes: [] })],
    ['eventTypes entry with "/"', (d) => Object.assign(d, { eventTypes: ['order.completed', 'order/x'] })],
    ['keyPrefix starting with "/"', (d) => Object.assign(d, { keyPrefix: '/raw' })],
    [
      'several fields at once',
      (d) => Object.assign(d, { batchSizeMb: 6, storageClass: 'COLD', maxEvents: 0 }),
    ],
  ];
  const ebCases: [string, (d: Json) => void][] = [
    ['maxConcurrency 1', (d) => Object.assign(d, { maxConcurrency: 1 })],
    [
      'bus ARN of an SQS queue',
      (d) => Object.assign(d, { busArn: 'arn:aws:sqs:us-east-1:123456789012:queue' }),
    ],
    [
      'bus in another region',
      (d) => Object.assign(d, { busArn: 'arn:aws:events:eu-west-1:123456789012:event-bus/pushrail-events' }),
    ],
    ['sourceNamespace "aws."', (d) => Object.assign(d, { sourceNamespace: 'aws.acme' })],
    ['missing name', (d) => delete d.name],
  ];

  /** The config file's issues for its first destination, with the `destinations[0].` prefix taken off. */
  function configIssues(destination: Json): { field: string; message: string }[] {
    try {
      parseConfig({ vendor: 'acme', destinations: [destination] });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.issues.map((i) => ({
        field: i.field.replace(/^destinations\[0\]\.?/, '') || '(root)',
        message: i.message,
      }));
    }
    throw new Error('the config file accepted it');
  }

  it.each([
    ...cases.map(([name, mutate]) => [`S3: ${name}`, s3Body, mutate] as const),
    ...ebCases.map(([name, mutate]) => [`EVENTBRIDGE: ${name}`, ebBody, mutate] as const),
  ])('%s', async (_name, base, mutate) => {
    const destination = base();
    mutate(destination);
    const expected = configIssues(destination);
    const answer = await create(destination);
    expectError(answer, 400, 'VALIDATION_FAILED');
    expect(answer.body.error.details).toEqual(expected);
    expect(store.records.size).toBe(0);
  });

  it('accepts what the file accepts, with the same defaults', async () => {
    const answer = await create(s3Body());
    expect(answer.statusCode, answer.raw).toBe(201);
    const fromFile = parseConfig({ vendor: 'acme', destinations: [s3Body()] }).destinations[0];
    expect(answer.body).toMatchObject(fromFile as Json);
  });
});

describe('POST /v1/destinations', () => {
  it('answers 201 with the destination as GET shows it, ETag "1", audits and notifies', async () => {
    const created = await create(s3Body());
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    expect(created.body).toMatchObject({
      id: 'acme-s3-archive',
      status: 'PROVISIONING',
      version: 1,
      updatedBy: OPERATOR_KEY_ID,
    });
    // The body carried an externalId: nothing generated, no customerSetup.
    expect(created.body.customerSetup).toBeUndefined();
    const got = await call(handler, 'GET', '/v1/destinations/acme-s3-archive');
    expect(got.statusCode).toBe(200);
    expect(got.headers.etag).toBe('"1"');
    expect(got.body).toEqual(created.body);
    expect(notified).toEqual(['acme-s3-archive']);
    const [entry] = audit.entries();
    expect(entry).toMatchObject({
      action: 'destination.created',
      who: OPERATOR_KEY_ID,
      destinationId: 'acme-s3-archive',
      customerExternalId: 'acct_8K2zRq',
      version: 1,
    });
    expect(entry?.changes).toContainEqual({ field: 'bucket', from: null, to: 'acme-pushrail-events' });
    expect(entry?.changes).toContainEqual({ field: 'auth.externalId', from: null, to: '(changed)' });
  });

  it('still answers 201 when the provisioner cannot be told: the change is stored, the reconcile finds it', async () => {
    const failing = createManagementHandler(ENV, {
      notify: () => Promise.reject(new Error('provisioner down')),
      logger: new Logger({ serviceName: 'test' }),
      adapters: { store, audit, secrets },
    });
    const created = await call(failing, 'POST', '/v1/destinations', { body: s3Body() });
    expect(created.statusCode, created.raw).toBe(201);
    expect(store.records.has('acme-s3-archive')).toBe(true);
    expect(logged.join('')).toContain('provisioner notification failed');
  });

  it('records the IAM principal ARN as who on AWS', async () => {
    const userArn = 'arn:aws:sts::111122223333:assumed-role/VendorBackend/session';
    const created = await create(s3Body(), { as: { userArn } });
    expect(created.body.updatedBy).toBe(userArn);
    expect(audit.entries()[0]?.who).toBe(userArn);
  });

  it('answers 409 when the id exists, and changes nothing', async () => {
    await create(s3Body());
    const again = await create({ ...s3Body(), name: 'another' });
    expectError(again, 409, 'CONFLICT');
    expect(store.records.get('acme-s3-archive')?.destination.name).toBe('Customer S3 archive');
    expect(audit.entries()).toHaveLength(1);
  });

  it('generates an unguessable externalId for ASSUME_ROLE without one, with the S3 customer setup', async () => {
    const body = s3Body();
    delete body.auth.externalId;
    const first = await create(body);
    const second = await create({ ...body, id: 'acme-s3-second' });
    expect(first.statusCode, first.raw).toBe(201);
    const externalId = first.body.auth.externalId;
    expect(externalId).toMatch(/^pushrail-[A-Z2-7]{32}$/);
    expect(second.body.auth.externalId).not.toBe(externalId);
    expect(store.records.get('acme-s3-archive')?.destination.auth).toMatchObject({ externalId });
    expect(first.body.customerSetup).toEqual({
      trustPolicy: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'PushrailAssumeRole',
            Effect: 'Allow',
            Principal: { AWS: 'arn:aws:iam::111122223333:root' },
            Action: 'sts:AssumeRole',
            Condition: { StringEquals: { 'sts:ExternalId': externalId } },
          },
        ],
      },
      permissionsPolicy: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'PushrailWriteObjects',
            Effect: 'Allow',
            Action: 's3:PutObject',
            Resource: 'arn:aws:s3:::acme-pushrail-events/raw/pushrail/*',
          },
        ],
      },
    });
    // GET shows the destination, not the one-time setup.
    expect(
      (await call(handler, 'GET', '/v1/destinations/acme-s3-archive')).body.customerSetup,
    ).toBeUndefined();
  });

  it('hands the EventBridge customer PutEvents and DescribeEventBus on the bus', async () => {
    const body = ebBody();
    delete body.auth.externalId;
    const created = await create(body);
    expect(created.body.customerSetup.permissionsPolicy.Statement).toEqual([
      {
        Sid: 'PushrailPutEvents',
        Effect: 'Allow',
        Action: ['events:PutEvents', 'events:DescribeEventBus'],
        Resource: 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-events',
      },
    ]);
  });
});

describe('raw access keys', () => {
  const withKeys = (extra: Json = {}) => ({
    ...s3Body(),
    bucketOwnerAccountId: '123456789012',
    auth: { mode: 'ACCESS_KEY', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN, ...extra },
  });

  /** Nothing the function answered, logged or audited holds the key id, the secret or the token. */
  function expectNoLeak(answers: Answer[]): void {
    const everything = [
      ...answers.map((a) => a.raw),
      ...logged,
      JSON.stringify(audit.entries()),
      JSON.stringify([...store.records.values()]),
    ].join('\n');
    for (const secret of [KEY_ID, SECRET, TOKEN]) expect(everything).not.toContain(secret);
  }

  it('go to the owned secret; answers show only the masked key id; never answered, logged or audited', async () => {
    const created = await create(withKeys());
    expect(created.statusCode, created.raw).toBe(201);
    const secretArn =
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:pushrail/test/acme-s3-archive-AbCdEf';
    expect(created.body.auth).toEqual({ mode: 'ACCESS_KEY', secretArn, accessKeyId: 'AKIA…MPLE' });
    expect(secrets.values.get(secretArn)).toEqual({
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET,
      sessionToken: TOKEN,
    });
    expect(store.records.get('acme-s3-archive')).toMatchObject({ ownedSecretArn: secretArn });
    const got = await call(handler, 'GET', '/v1/destinations/acme-s3-archive');
    const listed = await call(handler, 'GET', '/v1/destinations');
    expect(got.body.auth.accessKeyId).toBe('AKIA…MPLE');

    // A rotation: new keys into the same secret, recorded as such, values nowhere.
    const newKey = 'AKIAI44QH8DHBEXAMPLE';
    const rotated = await call(handler, 'PUT', '/v1/destinations/acme-s3-archive', {
      body: withKeys({ accessKeyId: newKey, secretAccessKey: `${SECRET}2` }),
      headers: { 'If-Match': '"1"' },
    });
    expect(rotated.statusCode, rotated.raw).toBe(200);
    expect(rotated.body.auth.accessKeyId).toBe('AKIA…MPLE');
    expect(secrets.values.get(secretArn)?.accessKeyId).toBe(newKey);
    const rotation = audit.entries()[1];
    expect(rotation?.action).toBe('destination.credentials-rotated');
    expect(rotation?.changes).toEqual([
      { field: 'auth.accessKeyId', from: '(changed)', to: '(changed)' },
      { field: 'auth.secretAccessKey', from: '(changed)', to: '(changed)' },
      { field: 'auth.sessionToken', from: '(changed)', to: '(changed)' },
    ]);
    expectNoLeak([created, got, listed, rotated]);
    // The capture works: the function did log these changes, just without the keys.
    expect(logged.join('')).toContain('destination created');
    expect(logged.join('')).not.toContain(newKey);
  });

  it('a GET body with the masked key id PUTs back as no change', async () => {
    await create(withKeys());
    const got = await call(handler, 'GET', '/v1/destinations/acme-s3-archive');
    const put = await call(handler, 'PUT', '/v1/destinations/acme-s3-archive', { body: got.body });
    expect(put.statusCode, put.raw).toBe(200);
    expect(put.body.version).toBe(1);
    expect(audit.entries()).toHaveLength(1);
  });

  it('are refused by field, without echo, when malformed or beside a secretArn', async () => {
    const bad = await create(
      withKeys({ accessKeyId: `${KEY_ID}X`, secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:x' }),
    );
    expectError(bad, 400, 'VALIDATION_FAILED');
    expect([...new Set(bad.body.error.details.map((d: Json) => d.field))].sort()).toEqual([
      'auth.accessKeyId',
      'auth.secretArn',
    ]);
    const elsewhere = await create({ ...s3Body(), name: KEY_ID });
    expectError(elsewhere, 400, 'VALIDATION_FAILED');
    expect(elsewhere.body.error.details).toEqual([
      { field: 'name', message: expect.stringContaining('only in auth') },
    ]);
    expect(store.records.size).toBe(0);
    expect(secrets.values.size).toBe(0);
    expectNoLeak([bad, elsewhere]);
  });
});

describe('PUT /v1/destinations/{id}', () => {
  beforeEach(async () => {
    expect((await create(s3Body())).statusCode).toBe(201);
  });
  const put = (body: unknown, headers: Record<string, string> = {}) =>
    call(handler, 'PUT', '/v1/destinations/acme-s3-archive', { body, headers });

  it('replaces at the If-Match version: 200, ETag "2", audited as updated with the diff', async () => {
    const answer = await put({ ...s3Body(), keyPrefix: 'events/' }, { 'If-Match': '"1"' });
    expect(answer.statusCode, answer.raw).toBe(200);
    expect(answer.headers.etag).toBe('"2"');
    expect(answer.body).toMatchObject({ keyPrefix: 'events/', version: 2 });
    expect(audit.entries()[1]).toMatchObject({
      action: 'destination.updated',
      version: 2,
      changes: [{ field: 'keyPrefix', from: 'raw/pushrail/', to: 'events/' }],
    });
    expect(notified).toEqual(['acme-s3-archive', 'acme-s3-archive']);
  });

  it('answers 412 PRECONDITION_FAILED on a stale If-Match, and changes nothing', async () => {
    await put({ ...s3Body(), keyPrefix: 'events/' }, { 'If-Match': '"1"' });
    const stale = await put({ ...s3Body(), keyPrefix: 'other/' }, { 'If-Match': '"1"' });
    expectError(stale, 412, 'PRECONDITION_FAILED');
    expect(stale.body.error.details).toEqual([{ field: 'if-match', message: 'stale version 1 (current 2)' }]);
    expect(store.records.get('acme-s3-archive')?.destination).toMatchObject({ keyPrefix: 'events/' });
    expect(audit.entries()).toHaveLength(2);
  });

  it('takes W/"n" and *, and refuses an If-Match that is no ETag', async () => {
    expect((await put({ ...s3Body(), keyPrefix: 'a/' }, { 'If-Match': 'W/"1"' })).statusCode).toBe(200);
    expect((await put({ ...s3Body(), keyPrefix: 'b/' }, { 'If-Match': '*' })).statusCode).toBe(200);
    const bad = await put({ ...s3Body(), keyPrefix: 'c/' }, { 'If-Match': 'yesterday' });
    expectError(bad, 400, 'VALIDATION_FAILED');
    expect(bad.body.error.details[0].field).toBe('if-match');
  });

  it('without If-Match the last writer wins, still conditionally on the version it read', async () => {
    const replace = store.replace.bind(store);
    let raced = false;
    vi.spyOn(store, 'replace').mockImplementation(async (record, expected, also) => {
      if (!raced) {
        raced = true; // another writer got in between this request's read and its write
        const current = store.records.get('acme-s3-archive');
        if (current) store.records.set('acme-s3-archive', { ...current, version: current.version + 1 });
      }
      return replace(record, expected, also);
    });
    const answer = await put({ ...s3Body(), keyPrefix: 'mine/' });
    expect(answer.statusCode, answer.raw).toBe(200);
    expect(answer.body.version).toBe(3);
    expect(store.replace).toHaveBeenCalledTimes(2);
    expect(vi.mocked(store.replace).mock.calls.map((c) => c[1])).toEqual([1, 2]);
  });

  it('refuses to change type or id, naming the field', async () => {
    const type = await put({ ...ebBody(), id: 'acme-s3-archive' });
    expectError(type, 400, 'VALIDATION_FAILED');
    expect(type.body.error.details).toEqual([{ field: 'type', message: 'is immutable (is "S3")' }]);
    const id = await put({ ...s3Body(), id: 'acme-other' });
    expect(id.body.error.details[0].field).toBe('id');
  });

  it('records a role change as destination.credentials-rotated, the externalId as "(changed)"', async () => {
    const body = s3Body();
    body.auth = { ...body.auth, roleArn: 'arn:aws:iam::123456789012:role/New', externalId: 'acme-ext-NEW9' };
    await put(body);
    const rotation = audit.entries()[1];
    expect(rotation?.action).toBe('destination.credentials-rotated');
    expect(rotation?.changes).toEqual([
      { field: 'auth.externalId', from: '(changed)', to: '(changed)' },
      {
        field: 'auth.roleArn',
        from: 'arn:aws:iam::123456789012:role/PushrailWriter',
        to: 'arn:aws:iam::123456789012:role/New',
      },
    ]);
    expect(JSON.stringify(audit.entries())).not.toContain('acme-ext-NEW9');
  });

  it('keeps the externalId the customer already trusts when the body leaves it out', async () => {
    const body = s3Body();
    delete body.auth.externalId;
    const answer = await put(body);
    expect(answer.body.auth.externalId).toBe('acme-ext-7Pq2');
    expect(answer.body.version).toBe(1);
  });

  it('an unchanged body is no new version, no entry', async () => {
    const answer = await put(s3Body(), { 'If-Match': '"1"' });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers.etag).toBe('"1"');
    expect(audit.entries()).toHaveLength(1);
  });
});

describe('pause, resume, delete', () => {
  beforeEach(async () => {
    await create(s3Body());
  });

  it('pause and resume set desired, bump the version and are audited', async () => {
    const paused = await call(handler, 'POST', '/v1/destinations/acme-s3-archive/pause');
    expect(paused.statusCode, paused.raw).toBe(200);
    expect(paused.headers.etag).toBe('"2"');
    expect(store.records.get('acme-s3-archive')?.desired).toBe('PAUSED');
    const resumed = await call(handler, 'POST', '/v1/destinations/acme-s3-archive/resume', {
      headers: { 'If-Match': '"2"' },
    });
    expect(resumed.body.version).toBe(3);
    expect(store.records.get('acme-s3-archive')?.desired).toBe('ACTIVE');
    expect(audit.entries().map((e) => [e.action, e.version, e.changes])).toEqual([
      ['destination.created', 1, expect.any(Array)],
      ['destination.paused', 2, [{ field: 'desired', from: 'ACTIVE', to: 'PAUSED' }]],
      ['destination.resumed', 3, [{ field: 'desired', from: 'PAUSED', to: 'ACTIVE' }]],
    ]);
    expect(notified).toHaveLength(3);
  });

  it('delete answers 202, shows DELETING, keeps force, and refuses further changes', async () => {
    const deleted = await call(handler, 'DELETE', '/v1/destinations/acme-s3-archive?force=true');
    expect(deleted.statusCode, deleted.raw).toBe(202);
    expect(deleted.body.status).toBe('DELETING');
    expect(store.records.get('acme-s3-archive')).toMatchObject({
      desired: 'DELETED',
      forceDelete: true,
      version: 2,
    });
    expect(audit.entries()[1]).toMatchObject({ action: 'destination.deleted', details: { force: true } });
    expect((await call(handler, 'GET', '/v1/destinations/acme-s3-archive')).body.status).toBe('DELETING');
    expect((await call(handler, 'DELETE', '/v1/destinations/acme-s3-archive')).statusCode).toBe(202);
    expect(audit.entries()).toHaveLength(2);
    expectError(await call(handler, 'POST', '/v1/destinations/acme-s3-archive/resume'), 409, 'CONFLICT');
  });
});

describe('errors', () => {
  it('401 without a SigV4 identity, a producer API key included', async () => {
    const answer = await call(handler, 'GET', '/v1/destinations', { as: null });
    expectError(answer, 401, 'UNAUTHENTICATED');
    expectError(await create(s3Body(), { as: null }), 401, 'UNAUTHENTICATED');
    expect(store.records.size).toBe(0);
  });

  it('404 for an unknown id and an unknown route', async () => {
    expectError(await call(handler, 'GET', '/v1/destinations/nope'), 404, 'NOT_FOUND');
    expectError(await call(handler, 'POST', '/v1/destinations/nope/pause'), 404, 'NOT_FOUND');
    expectError(await call(handler, 'GET', '/v1/nothing'), 404, 'NOT_FOUND');
  });

  it('404 for an id no destination can have, before any table read', async () => {
    const read = vi.spyOn(store, 'get');
    expectError(await call(handler, 'GET', `/v1/destinations/${'a'.repeat(5000)}`), 404, 'NOT_FOUND');
    expectError(await call(handler, 'PUT', '/v1/destinations/Upper%20Case', { body: {} }), 404, 'NOT_FOUND');
    expect(read).not.toHaveBeenCalled();
    const filter = await call(handler, 'GET', `/v1/audit?customerExternalId=${'x'.repeat(300)}`);
    expectError(filter, 400, 'VALIDATION_FAILED');
    expect(filter.body.error.details).toEqual([
      { field: 'customerExternalId', message: 'must be at most 256 characters' },
    ]);
  });

  it('415 for a body not declared JSON, 400 for one that is not JSON', async () => {
    const text = await create(JSON.stringify(s3Body()), { headers: { 'Content-Type': 'text/plain' } });
    expectError(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const broken = await create('{"id": ');
    expectError(broken, 400, 'VALIDATION_FAILED');
    expect(broken.body.error.details).toEqual([{ field: '(body)', message: 'not valid JSON' }]);
  });

  it('409 for rotate-secret on a kind other than WEBHOOK, saying where its credentials rotate', async () => {
    await create(s3Body());
    const rotate = await call(handler, 'POST', '/v1/destinations/acme-s3-archive/rotate-secret');
    expectError(rotate, 409, 'CONFLICT');
    expect(rotate.body.error.message).toContain('WEBHOOK');
    expect(rotate.body.error.message).toContain('PUT /v1/destinations/{id}');
  });

  describe('WEBHOOK secrets', () => {
    const API_KEY = 'pk_live_7fQ2mZ9xV1wR8tY3uI6oP4aS';
    const hookBody = (): Json => ({
      id: 'acme-hook',
      type: 'WEBHOOK',
      name: 'Acme webhook',
      customerExternalId: 'acct_8K2zRq',
      url: 'https://hooks.acme.example/pushrail',
      auth: { mode: 'API_KEY', header: 'X-Api-Key', value: API_KEY },
    });

    it('answers the signing secret once on create, stores the API key, and never shows either again', async () => {
      const created = await create(hookBody());
      expect(created.statusCode).toBe(201);
      const secret = created.body.signingSecret as string;
      expect(secret).toMatch(/^whsec_/);
      expect(secrets.signing.get('acme-hook')).toEqual({ current: secret });
      const [arn, stored] = [...secrets.apiKeys.entries()][0] ?? [];
      expect(stored).toBe(API_KEY);
      expect(created.body.auth).toEqual({ mode: 'API_KEY', header: 'X-Api-Key', secretArn: arn });
      const got = await call(handler, 'GET', '/v1/destinations/acme-hook');
      expect(got.body.signingSecret).toBeUndefined();
      const everything = [got.raw, JSON.stringify(audit.entries()), logged.join('')].join('\n');
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(API_KEY);
      expect(created.raw).not.toContain(API_KEY);
      expect(audit.entries()[0]?.changes).toEqual(
        expect.arrayContaining([
          { field: 'auth.value', from: null, to: '(changed)' },
          { field: 'signingSecret', from: null, to: '(changed)' },
        ]),
      );
    });

    it('rotate-secret answers a new secret and keeps the old one signing for 24 h', async () => {
      const first = (await create(hookBody())).body.signingSecret as string;
      const rotated = await call(handler, 'POST', '/v1/destinations/acme-hook/rotate-secret');
      expect(rotated.statusCode).toBe(200);
      const next = rotated.body.signingSecret as string;
      expect(next).toMatch(/^whsec_/);
      expect(next).not.toBe(first);
      expect(rotated.body.version).toBe(2);
      const stored = secrets.signing.get('acme-hook');
      expect(stored?.current).toBe(next);
      expect(stored?.previous?.secret).toBe(first);
      expect(Date.parse(stored?.previous?.until ?? '') - Date.now()).toBeGreaterThan(23.9 * 3600_000);
      const entry = audit.entries().at(-1);
      expect(entry).toMatchObject({ action: 'destination.credentials-rotated', version: 2 });
      expect(JSON.stringify(audit.entries()) + logged.join('')).not.toContain(next);
    });

    it('refuses secretArn and value together, naming the fields', async () => {
      const body = hookBody();
      (body.auth as Json).secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:k';
      const answer = await create(body);
      expectError(answer, 400, 'VALIDATION_FAILED');
      expect(answer.raw).not.toContain(API_KEY);
      expect(answer.body.error.details).toContainEqual({
        field: 'auth.secretArn',
        message: 'give either auth.secretArn or auth.value, not both',
      });
    });

    it('refuses a plain-http url outside the local runtime, naming the field', async () => {
      const answer = await create({ ...hookBody(), url: 'http://127.0.0.1:8787/in' });
      expectError(answer, 400, 'VALIDATION_FAILED');
      expect(answer.body.error.details).toEqual([
        {
          field: 'url',
          message: 'url must be https:// (plain http:// is accepted only by the local runtime)',
        },
      ]);
    });

    it('400 naming the field and the range for an out-of-range setting', async () => {
      const answer = await create({ ...hookBody(), maxConcurrency: 101 });
      expectError(answer, 400, 'VALIDATION_FAILED');
      expect(answer.body.error.details).toContainEqual({
        field: 'maxConcurrency',
        message: 'maxConcurrency must be between 2 and 100 (received 101)',
      });
    });
  });

  it('503 only when a dependency fails, without its message', async () => {
    vi.spyOn(store, 'list').mockRejectedValue(
      Object.assign(new Error('secret table detail'), { name: 'InternalServerError' }),
    );
    const answer = await call(handler, 'GET', '/v1/destinations');
    expectError(answer, 503, 'SERVICE_UNAVAILABLE');
    expect(answer.raw).not.toContain('secret table detail');
  });

  it('400 naming unknown query parameters and bad audit filters', async () => {
    const unknown = await call(handler, 'GET', '/v1/destinations?customer=acme');
    expectError(unknown, 400, 'VALIDATION_FAILED');
    expect(unknown.body.error.details).toEqual([{ field: 'customer', message: 'unknown query parameter' }]);
    const audited = await call(handler, 'GET', '/v1/audit?action=destination.exploded&from=yesterday');
    expect(audited.body.error.details.map((d: Json) => d.field)).toEqual(['from', 'action']);
  });
});

describe('GET /v1/destinations', () => {
  it("lists every destination, or one customer's, sorted by id", async () => {
    await create(s3Body());
    await create(ebBody());
    await create({ ...ebBody(), id: 'other-eb', customerExternalId: 'acct_other' });
    const all = await call(handler, 'GET', '/v1/destinations');
    expect(all.body.destinations.map((d: Json) => d.id)).toEqual([
      'acme-eventbridge',
      'acme-s3-archive',
      'other-eb',
    ]);
    const one = await call(handler, 'GET', '/v1/destinations?customerExternalId=acct_other');
    expect(one.body.destinations.map((d: Json) => d.id)).toEqual(['other-eb']);
  });
});

describe('POST /v1/destinations/{id}/test', () => {
  const DELIVERED = { outcome: 'delivered', latencyMs: 12, eventId: 'evt_x', target: 's3://b/k' } as const;
  let sent: DestinationRecord[];
  let testHandler: Handler;

  beforeEach(() => {
    sent = [];
    testHandler = createManagementHandler(ENV, {
      logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
      adapters: { store, audit, secrets },
      testSend: async (record) => {
        sent.push(record);
        return DELIVERED;
      },
    });
  });

  const setStatus = (id: string, patch: Partial<DestinationRecord>) => {
    store.records.set(id, { ...(store.records.get(id) as DestinationRecord), ...patch });
  };

  it('answers 200 with the attempt of an ACTIVE or PAUSED destination, and audits it without a new version', async () => {
    await create(s3Body());
    setStatus('acme-s3-archive', { status: 'ACTIVE' });
    const tested = await call(testHandler, 'POST', '/v1/destinations/acme-s3-archive/test');
    expect(tested.statusCode, tested.raw).toBe(200);
    expect(tested.body).toEqual(DELIVERED);
    expect(sent.map((r) => r.destination.id)).toEqual(['acme-s3-archive']);
    expect(audit.entries().at(-1)).toEqual({
      at: expect.any(String),
      who: OPERATOR_KEY_ID,
      action: 'destination.tested',
      destinationId: 'acme-s3-archive',
      customerExternalId: s3Body().customerExternalId,
      version: 1,
      details: { outcome: 'delivered' },
    });
    expect(store.records.get('acme-s3-archive')?.version).toBe(1);

    setStatus('acme-s3-archive', { status: 'PAUSED', desired: 'PAUSED' });
    expect((await call(testHandler, 'POST', '/v1/destinations/acme-s3-archive/test')).statusCode).toBe(200);
  });

  it('409 while PROVISIONING, FAILED (with its reason) or being deleted; 404 for an unknown id', async () => {
    await create(s3Body());
    const provisioning = await call(testHandler, 'POST', '/v1/destinations/acme-s3-archive/test');
    expectError(provisioning, 409, 'CONFLICT');
    expect(provisioning.body.error.message).toContain('PROVISIONING');
    setStatus('acme-s3-archive', { status: 'FAILED', statusReason: 'CreateQueue: AccessDenied' });
    const failed = await call(testHandler, 'POST', '/v1/destinations/acme-s3-archive/test');
    expectError(failed, 409, 'CONFLICT');
    expect(failed.body.error.message).toContain('CreateQueue: AccessDenied');
    setStatus('acme-s3-archive', { status: 'ACTIVE', desired: 'DELETED' });
    expectError(await call(testHandler, 'POST', '/v1/destinations/acme-s3-archive/test'), 409, 'CONFLICT');
    expectError(await call(testHandler, 'POST', '/v1/destinations/nope/test'), 404, 'NOT_FOUND');
    expect(sent).toEqual([]);
    expect(audit.entries().filter((e) => e.action === 'destination.tested')).toEqual([]);
  });

  it('a failed attempt is a 200 whose entry has the outcome and code, never the reason', async () => {
    const failing = createManagementHandler(ENV, {
      adapters: { store, audit, secrets },
      testSend: async () => ({
        outcome: 'failed',
        latencyMs: 30,
        errorCode: 'AccessDenied',
        failureClass: 'permanent',
        reason: 'sts:AssumeRole on arn:aws:iam::123456789012:role/W failed: denied',
      }),
    });
    await create(s3Body());
    setStatus('acme-s3-archive', { status: 'ACTIVE' });
    const tested = await call(failing, 'POST', '/v1/destinations/acme-s3-archive/test');
    expect(tested.statusCode).toBe(200);
    expect(tested.body).toMatchObject({ outcome: 'failed', errorCode: 'AccessDenied' });
    expect(audit.entries().at(-1)?.details).toEqual({
      outcome: 'failed',
      errorCode: 'AccessDenied',
      failureClass: 'permanent',
    });
  });

  // moto cannot run a Lambda function (it needs Docker): the Invoke is mocked here; the consumer side of
  // the same request runs for real in test/integration/test-send.test.ts.
  describe('over Lambda (DELIVERY_FUNCTIONS)', () => {
    const lambda = mockClient(LambdaClient);
    const FUNCTIONS = {
      S3: 'pushrail-s3-consumer',
      EVENTBRIDGE: 'pushrail-eventbridge-consumer',
      WEBHOOK: 'pushrail-webhook-consumer',
    };
    const overLambda = () =>
      createManagementHandler(
        { ...ENV, DELIVERY_FUNCTIONS: JSON.stringify(FUNCTIONS) },
        { adapters: { store, audit, secrets } },
      );
    // The SDK's Payload type is a Uint8Array with helpers the sender does not use.
    const payload = (value: unknown) =>
      new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput['Payload'] & Uint8Array;

    beforeEach(async () => {
      lambda.reset();
      await create(ebBody());
      setStatus('acme-eventbridge', { status: 'ACTIVE' });
    });

    it("invokes the kind's consumer synchronously with the test request and answers its attempt", async () => {
      lambda.on(InvokeCommand).resolves({
        StatusCode: 200,
        Payload: payload({ outcome: 'delivered', latencyMs: 5, target: 'e-1' }),
      });
      const tested = await call(overLambda(), 'POST', '/v1/destinations/acme-eventbridge/test');
      expect(tested.statusCode, tested.raw).toBe(200);
      expect(tested.body).toEqual({ outcome: 'delivered', latencyMs: 5, target: 'e-1' });
      const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
      expect(input).toMatchObject({ FunctionName: FUNCTIONS.EVENTBRIDGE, InvocationType: 'RequestResponse' });
      expect(JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString('utf8'))).toEqual({
        pushrailTest: { destinationId: 'acme-eventbridge' },
      });
    });

    it('a FunctionError is a 503 TEST_SEND_UNAVAILABLE without the stack, and no entry', async () => {
      lambda.on(InvokeCommand).resolves({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: payload({ errorType: 'Error', errorMessage: 'boom', trace: ['at secretThing (x.js:1)'] }),
      });
      const tested = await call(overLambda(), 'POST', '/v1/destinations/acme-eventbridge/test');
      expectError(tested, 503, 'TEST_SEND_UNAVAILABLE');
      expect(tested.body.error.message).toContain('retry');
      expect(tested.raw).not.toContain('secretThing');
      expect(audit.entries().filter((e) => e.action === 'destination.tested')).toEqual([]);
    });

    it('an answer that is not an attempt is a 503 too', async () => {
      lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ batchItemFailures: [] }) });
      expectError(
        await call(overLambda(), 'POST', '/v1/destinations/acme-eventbridge/test'),
        503,
        'TEST_SEND_UNAVAILABLE',
      );
    });

    it('without DELIVERY_FUNCTIONS the route answers 503 saying it is not configured', async () => {
      const tested = await call(handler, 'POST', '/v1/destinations/acme-eventbridge/test');
      expectError(tested, 503, 'TEST_SEND_UNAVAILABLE');
      expect(tested.body.error.message).toContain('DELIVERY_FUNCTIONS');
    });
  });
});
