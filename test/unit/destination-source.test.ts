import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_CATALOG_CHECK_MS, TableDestinationSource } from '../../lambdas/adapters/destination-source.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { destinationIdOfQueue, queueNames } from '../../lambdas/core/resources.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { createDeliveryHandler } from '../../lambdas/destinations/s3/handler.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { SEED_CONFIG_INPUT } from '../infra/fixtures.js';

const PREFIX = 'Pushrail';
const seed = parseConfig(SEED_CONFIG_INPUT);
const s3 = seed.destinations.find((d) => d.type === 'S3') as S3DestinationConfig;
const arnOf = (id: string) => `arn:aws:sqs:us-east-1:111122223333:${queueNames(PREFIX, id).queue}`;
const isS3 = (d: Destination): d is S3DestinationConfig => d.type === 'S3';

function recordOf(destination: Destination, overrides: Partial<DestinationRecord> = {}): DestinationRecord {
  return {
    destination,
    version: 1,
    desired: 'ACTIVE',
    status: 'ACTIVE',
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    updatedBy: 'AKIATEST',
    queueUrl: `https://sqs.us-east-1.amazonaws.com/111122223333/${queueNames(PREFIX, destination.id).queue}`,
    dlqUrl: `https://sqs.us-east-1.amazonaws.com/111122223333/${queueNames(PREFIX, destination.id).dlq}`,
    ...overrides,
  };
}

/** A destinations table in memory that counts its reads. */
function fakeStore(initial: DestinationRecord[]) {
  const records = new Map(initial.map((r) => [r.destination.id, r]));
  const reads = { catalog: 0, get: 0 };
  let catalog = 1;
  return {
    reads,
    put(record: DestinationRecord) {
      records.set(record.destination.id, record);
      catalog += 1;
    },
    delete(id: string) {
      records.delete(id);
      catalog += 1;
    },
    store: {
      async get(id: string) {
        reads.get += 1;
        return records.get(id);
      },
      async catalogVersion() {
        reads.catalog += 1;
        return catalog;
      },
    },
  };
}

describe('destinationIdOfQueue', () => {
  it('is the inverse of queueNames, for an ARN or a name, and undefined outside the prefix', () => {
    expect(destinationIdOfQueue(PREFIX, arnOf('s3-archive'))).toBe('s3-archive');
    expect(destinationIdOfQueue(PREFIX, queueNames(PREFIX, 'a-dlq').queue)).toBe('a-dlq');
    expect(destinationIdOfQueue(PREFIX, 'arn:aws:sqs:us-east-1:1:Other-s3-archive')).toBeUndefined();
    expect(destinationIdOfQueue(PREFIX, `${PREFIX}-`)).toBeUndefined();
  });
});

describe('TableDestinationSource', () => {
  it('costs one catalog read per check when nothing changed, and reads a destination again only after a change', async () => {
    const table = fakeStore([recordOf(s3)]);
    let now = 0;
    const source = new TableDestinationSource({
      store: table.store,
      namePrefix: PREFIX,
      accepts: isS3,
      catalogCheckMs: 5_000,
      now: () => now,
    });
    expect((await source.forQueue(arnOf(s3.id)))?.destination.keyPrefix).toBe(s3.keyPrefix);
    expect(table.reads).toEqual({ catalog: 1, get: 1 });

    // Within the check interval: no read at all.
    now = 4_999;
    await source.forQueue(arnOf(s3.id));
    expect(table.reads).toEqual({ catalog: 1, get: 1 });
    // Past it, nothing changed: the one small read.
    now = 5_000;
    await source.forQueue(arnOf(s3.id));
    expect(table.reads).toEqual({ catalog: 2, get: 1 });

    // An update: seen at the next check, with one read of the destination.
    table.put(recordOf({ ...s3, keyPrefix: 'moved/' }, { version: 2 }));
    now = 6_000;
    expect((await source.forQueue(arnOf(s3.id)))?.destination.keyPrefix).toBe(s3.keyPrefix);
    now = 10_000;
    expect((await source.forQueue(arnOf(s3.id)))?.destination.keyPrefix).toBe('moved/');
    expect(table.reads).toEqual({ catalog: 3, get: 2 });

    // Removed: no destination for its queue any more.
    table.delete(s3.id);
    now = 15_000;
    expect(await source.forQueue(arnOf(s3.id))).toBeUndefined();
  });

  it('never waits longer than 30 s between checks, whatever it is given', async () => {
    const table = fakeStore([recordOf(s3)]);
    let now = 0;
    const source = new TableDestinationSource({
      store: table.store,
      namePrefix: PREFIX,
      accepts: isS3,
      catalogCheckMs: 10 * 60_000,
      now: () => now,
    });
    await source.forQueue(arnOf(s3.id));
    now = MAX_CATALOG_CHECK_MS;
    await source.forQueue(arnOf(s3.id));
    expect(table.reads.catalog).toBe(2);
  });

  it('answers nothing for a destination without queue URLs yet, or of another kind', async () => {
    const other = seed.destinations.find((d) => d.type !== 'S3') as Destination;
    const table = fakeStore([recordOf(s3, { queueUrl: undefined }), recordOf(other)]);
    const source = new TableDestinationSource({ store: table.store, namePrefix: PREFIX, accepts: isS3 });
    expect(await source.forQueue(arnOf(s3.id))).toBeUndefined();
    expect(await source.forQueue(arnOf(other.id))).toBeUndefined();
  });
});

describe('a delivery handler on the destinations table', () => {
  const dynamo = mockClient(DynamoDBClient);
  const sqs = mockClient(SQSClient);
  beforeEach(() => {
    dynamo.reset();
    sqs.reset();
  });

  it('leaves the whole batch on the queue when its destination is gone', async () => {
    dynamo
      .on(GetItemCommand, { Key: marshall({ pk: 'catalog' }) })
      .resolves({ Item: marshall({ version: 7 }) });
    dynamo.on(GetItemCommand, { Key: marshall({ pk: `dest#${s3.id}` }) }).resolves({});
    const handler = createDeliveryHandler({
      DESTINATIONS_TABLE: 'destinations',
      NAME_PREFIX: PREFIX,
      EVENTS_TABLE: 'events',
      SEALS_TABLE: 'seals',
      ATTEMPTS_TABLE: 'attempts',
      RETENTION_DAYS: '30',
      AWS_REGION: 'us-east-1',
    });
    const event = {
      Records: ['m1', 'm2'].map((messageId) => ({
        messageId,
        receiptHandle: `rh-${messageId}`,
        body: '{}',
        attributes: { ApproximateReceiveCount: '1', ApproximateFirstReceiveTimestamp: '0' },
        messageAttributes: {},
        eventSourceARN: arnOf(s3.id),
      })),
    } as unknown as SQSEvent;
    const response = await handler(event, {} as Context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }]);
    // Nothing moved, deleted or delayed.
    expect(sqs.calls()).toHaveLength(0);
  });
});
