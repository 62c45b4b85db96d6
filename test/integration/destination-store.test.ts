import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  DestinationExistsError,
  DestinationStore,
  VersionConflictError,
} from '../../lambdas/adapters/destination-store.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { TABLES } from '../../lambdas/core/resources.js';
import { SEED_CONFIG_INPUT } from '../infra/fixtures.js';

const dynamodb = new DynamoDBClient({ endpoint: inject('awsEndpoint') });
const tableName = `it-destinations-${randomUUID().slice(0, 8)}`;
const store = new DestinationStore(dynamodb, tableName);
const seed = parseConfig(SEED_CONFIG_INPUT);

function recordOf(index: number, overrides: Partial<DestinationRecord> = {}): DestinationRecord {
  const destination = seed.destinations[index];
  if (!destination) throw new Error(`no seed destination ${index}`);
  return {
    destination,
    version: 1,
    desired: 'ACTIVE',
    status: 'PROVISIONING',
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    updatedBy: 'AKIATEST',
    ...overrides,
  };
}

beforeAll(async () => {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: TABLES.destinations.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: TABLES.destinations.partitionKey, AttributeType: 'S' }],
    }),
  );
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName: tableName });
});

describe('the destinations table', () => {
  it('creates once, replaces only at the expected version, and bumps the catalog on every change', async () => {
    expect(await store.catalogVersion()).toBe(0);
    const first = recordOf(0);
    await store.create(first);
    await expect(store.create(first)).rejects.toBeInstanceOf(DestinationExistsError);
    expect(await store.catalogVersion()).toBe(1);

    expect(await store.get(first.destination.id)).toEqual(first);
    const paused = { ...first, version: 2, desired: 'PAUSED' as const };
    await store.replace(paused, 1);
    await expect(store.replace({ ...paused, version: 3 }, 1)).rejects.toBeInstanceOf(VersionConflictError);
    expect(await store.catalogVersion()).toBe(2);

    // The provisioner's writes keep the version (the ETag) and still bump the catalog.
    expect(
      await store.setProvisioning(first.destination.id, 2, { status: 'PAUSED', queueUrl: 'https://q/1' }),
    ).toBe(true);
    expect(await store.setProvisioning(first.destination.id, 1, { status: 'ACTIVE' })).toBe(false);
    const stored = await store.get(first.destination.id);
    expect(stored).toMatchObject({ version: 2, status: 'PAUSED', queueUrl: 'https://q/1' });
    expect(await store.catalogVersion()).toBe(3);

    await store.create(recordOf(1));
    expect((await store.list()).map((r) => r.destination.id).sort()).toEqual(
      seed.destinations.map((d) => d.id).sort(),
    );

    expect(await store.remove(first.destination.id, 1)).toBe(false);
    expect(await store.remove(first.destination.id, 2)).toBe(true);
    expect(await store.get(first.destination.id)).toBeUndefined();
    expect(await store.catalogVersion()).toBe(5);
  });
});
