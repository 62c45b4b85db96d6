import {
  DynamoDBClient,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DestinationExistsError, DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { SEED_CONFIG_INPUT } from '../infra/fixtures.js';

/**
 * The store's retry of transactions DynamoDB cancels for a conflict (every write bumps the one catalog
 * item, so concurrent writers conflict there). moto never answers TransactionConflict, hence the mock.
 */

const dynamodb = mockClient(DynamoDBClient);
const store = new DestinationStore(new DynamoDBClient({ region: 'us-east-1' }), 'destinations');
const [destination] = parseConfig(SEED_CONFIG_INPUT).destinations;
const record = {
  destination,
  version: 1,
  desired: 'ACTIVE',
  status: 'PROVISIONING',
  createdAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:00:00.000Z',
  updatedBy: 'AKIATEST',
} as DestinationRecord;

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    $metadata: {},
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

beforeEach(() => {
  dynamodb.reset();
  vi.spyOn(Math, 'random').mockReturnValue(0); // no backoff wait in the test
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('DestinationStore transactions', () => {
  it('retries a transaction cancelled for a conflict on the catalog item, and succeeds', async () => {
    dynamodb
      .on(TransactWriteItemsCommand)
      .rejectsOnce(cancelled('None', 'TransactionConflict'))
      .rejectsOnce(cancelled('None', 'TransactionConflict'))
      .resolves({});
    await store.create(record);
    expect(dynamodb.commandCalls(TransactWriteItemsCommand)).toHaveLength(3);
  });

  it('never retries a failed condition: the id exists', async () => {
    dynamodb.on(TransactWriteItemsCommand).rejects(cancelled('ConditionalCheckFailed', 'None'));
    await expect(store.create(record)).rejects.toBeInstanceOf(DestinationExistsError);
    expect(dynamodb.commandCalls(TransactWriteItemsCommand)).toHaveLength(1);
  });

  it('gives up after 8 conflicts with the cancellation, which the API answers as 503 (retry may help)', async () => {
    dynamodb.on(TransactWriteItemsCommand).rejects(cancelled('None', 'TransactionConflict'));
    await expect(store.setProvisioning('x', 1, { status: 'ACTIVE' })).rejects.toBeInstanceOf(
      TransactionCanceledException,
    );
    expect(dynamodb.commandCalls(TransactWriteItemsCommand)).toHaveLength(8);
  });
});
