import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CredentialProvider, InvalidSecretError } from '../../lambdas/adapters/credentials.js';
import { CustomerClients } from '../../lambdas/adapters/customer-clients.js';
import type { DeliveryOutcome } from '../../lambdas/adapters/delivery-batch.js';
import type { DestinationAuth } from '../../lambdas/core/config-fields.js';
import { classifyFailure } from '../../lambdas/core/failure-classification.js';

const stsMock = mockClient(STSClient);
const secretsMock = mockClient(SecretsManagerClient);

const ROLE: Extract<DestinationAuth, { mode: 'ASSUME_ROLE' }> = {
  mode: 'ASSUME_ROLE',
  roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
  externalId: 'acme-ext-7Pq2',
};
/** In another region than the function's: the secret must be read there. */
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pushrail/acme-keys-AbCdEf';
const KEYS: DestinationAuth = { mode: 'ACCESS_KEY', secretArn: SECRET_ARN };
const KEY_V1 = { accessKeyId: 'AKIAV1EXAMPLE000001', secretAccessKey: 'v1-secret-key-value-0123456789' };
const KEY_V2 = { accessKeyId: 'AKIAV2EXAMPLE000002', secretAccessKey: 'v2-secret-key-value-9876543210' };
const T0 = Date.parse('2026-05-26T14:00:00Z');
const HOUR = 3_600_000;

/** STS answers each AssumeRole with a new session key, valid for an hour from `now()`. */
function stsIssuesSessions(now: () => number): void {
  let issued = 0;
  stsMock.on(AssumeRoleCommand).callsFake(() => {
    issued += 1;
    return {
      Credentials: {
        AccessKeyId: `ASIASESSION${String(issued).padStart(8, '0')}`,
        SecretAccessKey: `session-secret-${issued}`,
        SessionToken: `token-${issued}`,
        Expiration: new Date(now() + HOUR),
      },
    };
  });
}

function secretHolds(value: unknown): void {
  secretsMock
    .on(GetSecretValueCommand, { SecretId: SECRET_ARN })
    .resolves({ SecretString: typeof value === 'string' ? value : JSON.stringify(value) });
}

/** Secrets Manager clients by the region they were created for. */
function secretsClients(): { regions: string[]; create: (region: string) => SecretsManagerClient } {
  const regions: string[] = [];
  return {
    regions,
    create: (region) => {
      regions.push(region);
      return new SecretsManagerClient({ region });
    },
  };
}

beforeEach(() => {
  stsMock.reset();
  secretsMock.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('CredentialProvider with ASSUME_ROLE', () => {
  it('assumes the role with the ExternalId and a session name naming the destination, for an hour', async () => {
    const clock = T0;
    stsIssuesSessions(() => clock);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create, () => clock);
    const longId = `d-${'x'.repeat(80)}`;
    await provider.forDestination('acme-s3-archive', ROLE);
    await provider.forDestination(longId, ROLE);
    expect(stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input)).toEqual([
      {
        RoleArn: ROLE.roleArn,
        ExternalId: 'acme-ext-7Pq2',
        RoleSessionName: 'pushrail-acme-s3-archive',
        DurationSeconds: 3600,
      },
      expect.objectContaining({ RoleSessionName: `pushrail-${longId}`.slice(0, 64) }),
    ]);
  });

  it('re-uses the credentials until five minutes before they expire, then assumes the role again', async () => {
    let clock = T0;
    stsIssuesSessions(() => clock);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create, () => clock);
    const first = await provider.forDestination('d', ROLE);
    clock = T0 + HOUR - 5 * 60_000 - 1;
    expect(await provider.forDestination('d', ROLE)).toBe(first);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(1);
    clock = T0 + HOUR - 5 * 60_000;
    const second = await provider.forDestination('d', ROLE);
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it('assumes the role again at once after invalidate (ExpiredToken), and only for that destination', async () => {
    const clock = T0;
    stsIssuesSessions(() => clock);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create, () => clock);
    const a = await provider.forDestination('a', ROLE);
    const b = await provider.forDestination('b', ROLE);
    provider.invalidate('a');
    expect((await provider.forDestination('a', ROLE)).accessKeyId).not.toBe(a.accessKeyId);
    expect(await provider.forDestination('b', ROLE)).toBe(b);
    // Invalidation is spent by the one ask it answered.
    const renewed = await provider.forDestination('a', ROLE);
    expect(await provider.forDestination('a', ROLE)).toBe(renewed);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(3);
  });
});

describe('CredentialProvider with ACCESS_KEY', () => {
  it('reads the secret in its own region, with one client for that region', async () => {
    secretHolds(KEY_V1);
    const clients = secretsClients();
    const provider = new CredentialProvider(new STSClient({}), clients.create);
    expect(await provider.forDestination('d', KEYS)).toEqual(KEY_V1);
    await provider.forDestination('other', KEYS);
    expect(clients.regions).toEqual(['eu-west-1']);
    const [call] = secretsMock.commandCalls(GetSecretValueCommand);
    expect(call?.args[0].input).toEqual({ SecretId: SECRET_ARN });
    expect(await call?.thisValue.config.region()).toBe('eu-west-1');
  });

  it('re-uses a secret for 60 s (the same credentials object), and the first ask after that gets the rotated key', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    secretHolds(KEY_V1);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create);
    const first = await provider.forDestination('d', KEYS);
    secretHolds(KEY_V2);
    vi.setSystemTime(T0 + 59_000);
    expect(await provider.forDestination('d', KEYS)).toBe(first);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    vi.setSystemTime(T0 + 61_000);
    expect(await provider.forDestination('d', KEYS)).toEqual(KEY_V2);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('keeps the same credentials object when a re-read finds the secret unchanged', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    secretHolds(KEY_V1);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create);
    const first = await provider.forDestination('d', KEYS);
    vi.setSystemTime(T0 + 61_000);
    expect(await provider.forDestination('d', KEYS)).toBe(first);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('re-reads the secret at once after invalidate, before its 60 s are up', async () => {
    secretHolds(KEY_V1);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create);
    await provider.forDestination('d', KEYS);
    secretHolds(KEY_V2);
    provider.invalidate('d');
    expect(await provider.forDestination('d', KEYS)).toEqual(KEY_V2);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it.each([
    ['not JSON', `${KEY_V1.secretAccessKey} is not json`],
    ['JSON without a key pair', { accessKeyId: KEY_V1.accessKeyId, secret: KEY_V1.secretAccessKey }],
    ['a key pair too short', { accessKeyId: 'AKIA', secretAccessKey: KEY_V1.secretAccessKey }],
  ])('rejects a secret that is %s as InvalidSecret, without echoing its value', async (_, value) => {
    secretHolds(value);
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create);
    const error = await provider.forDestination('d', KEYS).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidSecretError);
    expect(classifyFailure('S3', error)).toMatchObject({ failureClass: 'permanent', code: 'InvalidSecret' });
    const shown = JSON.stringify([String(error), (error as Error).stack, (error as Error).cause ?? null]);
    expect(shown).toContain(SECRET_ARN);
    expect(shown).not.toContain(KEY_V1.secretAccessKey);
    expect(shown).not.toContain('is not json');
  });

  it('reads a fixed secret on the next ask after an invalid one, without waiting out the 60 s', async () => {
    secretHolds('{}');
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create);
    await expect(provider.forDestination('d', KEYS)).rejects.toBeInstanceOf(InvalidSecretError);
    secretHolds(KEY_V1);
    expect(await provider.forDestination('d', KEYS)).toEqual(KEY_V1);
  });

  it("surfaces Secrets Manager's own error, so it is classified as before", async () => {
    secretsMock.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret.",
        $metadata: {},
      }),
    );
    const provider = new CredentialProvider(new STSClient({}), secretsClients().create);
    const error = await provider.forDestination('d', KEYS).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe('ResourceNotFoundException');
    expect(classifyFailure('S3', error)).toMatchObject({
      failureClass: 'permanent',
      code: 'ResourceNotFoundException',
    });
  });
});

describe('CustomerClients', () => {
  const expired: ReadonlyMap<string, DeliveryOutcome> = new Map([
    [
      'evt_1',
      {
        ok: false,
        failure: { failureClass: 'transient', code: 'ExpiredToken', message: 'the token expired' },
      },
    ],
  ]);

  it('gives a batch one client for its credentials: a rotation reaches the next batch, the one in flight keeps its own', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    secretHolds(KEY_V1);
    const clients = new CustomerClients('d', KEYS, (credentials) => ({ credentials }));
    const inFlight = await clients.forBatch();
    expect(inFlight.credentials).toEqual(KEY_V1);
    expect((await clients.forBatch()).client).toBe(inFlight.client);

    secretHolds(KEY_V2);
    vi.setSystemTime(T0 + 61_000);
    const next = await clients.forBatch();
    expect(next.client).not.toBe(inFlight.client);
    expect(next.client.credentials).toEqual(KEY_V2);
    // The batch that started before the rotation still holds its client and key.
    expect(inFlight.client.credentials).toEqual(KEY_V1);
  });

  it('drops credentials the customer side called expired, so the retry assumes the role again', async () => {
    stsIssuesSessions(Date.now);
    const clients = new CustomerClients('d', ROLE, (credentials) => ({ credentials }));
    const first = await clients.forBatch();
    clients.afterBatch(new Map([['evt_1', { ok: true }]]));
    expect((await clients.forBatch()).client).toBe(first.client);
    clients.afterBatch(expired);
    const retry = await clients.forBatch();
    expect(retry.credentials.accessKeyId).not.toBe(first.credentials.accessKeyId);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });
});
