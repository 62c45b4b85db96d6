import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import type { QueuedEvent } from '../../lambdas/adapters/delivery-batch.js';
import { SealStore } from '../../lambdas/adapters/seal-store.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { deliverParts, type S3DeliveryDeps } from '../../lambdas/destinations/s3/deliver-parts.js';
import { buildPart, compareRecords } from '../../lambdas/destinations/s3/parts.js';
import type { S3DestinationConfig } from '../../lambdas/destinations/s3/schema.js';
import { provision } from '../../local/provision.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Invariant 5 under a race between two batcher workers (two invocations of one destination's function,
 * e.g. a redelivery while the first is still running). The interleaving is driven step by step.
 */
const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';

const config = parseConfig({
  vendor: 'acme',
  destinations: [
    {
      id: 'race',
      type: 'S3',
      customerExternalId: 'acct_race',
      name: 'race',
      bucket: `race-${RUN}`,
      keyPrefix: 'raw/',
      region: REGION,
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailWriter',
        externalId: 'race-ext',
      },
    },
  ],
});
const destination = config.destinations[0] as S3DestinationConfig;

let seals: SealStore;
let sealsTable: string;
let dynamodb: DynamoDBClient;
let deps: S3DeliveryDeps;
let s3: S3Client;

const stored = new Map<string, EventRecord>();
const record = (key: string, second: number): EventRecord => {
  const r: EventRecord = {
    ...seedEvent,
    customerExternalId: 'acct_race',
    idempotencyKey: `${RUN}-${key}`,
    occurredAt: `2026-05-26T14:00:0${second}.000Z`,
    eventId: deriveEventId('acct_race', `${RUN}-${key}`),
    receivedAt: '2026-05-26T14:00:10.000Z',
  };
  stored.set(r.eventId, r);
  return r;
};
const queued = (r: EventRecord): QueuedEvent => ({
  messageId: r.eventId,
  receiptHandle: r.eventId,
  body: JSON.stringify(r),
  record: r,
});

beforeAll(async () => {
  const endpoint = inject('awsEndpoint');
  const provisioned = await provision({
    config,
    namePrefix: `race-${RUN}`,
    target: { endpoint, region: REGION },
  });
  dynamodb = new DynamoDBClient({ endpoint, region: REGION });
  sealsTable = provisioned.tables.seals as string;
  s3 = new S3Client({ endpoint, region: REGION, forcePathStyle: true });
  seals = new SealStore(
    dynamodb,
    provisioned.tables.seals as string,
    destination.id,
    () => Math.floor(Date.now() / 1000) + 3600,
  );
  deps = {
    destination,
    expectedBucketOwner: '123456789012',
    seals,
    s3,
    // The event store: every record this file creates.
    readRecords: async (ids) =>
      new Map(ids.flatMap((id) => (stored.has(id) ? [[id, JSON.stringify(stored.get(id))]] : []))),
    attempts: new AttemptLog(dynamodb, provisioned.tables.attempts as string, 3600),
    credentialsMode: 'ASSUME_ROLE',
    logger: new Logger({ serviceName: 'seal-race-test' }),
  };
});

async function rowsOf(eventId: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: destination.bucket }));
  const keys: string[] = [];
  for (const o of listed.Contents ?? []) {
    const body = await (
      await s3.send(new GetObjectCommand({ Bucket: destination.bucket, Key: o.Key }))
    ).Body?.transformToString();
    if (body?.split('\n').some((line) => line.includes(`"eventId":"${eventId}"`))) keys.push(o.Key as string);
  }
  return keys;
}

describe('sealing under racing workers', () => {
  it('a slow worker releasing the claims of an aborted part never frees a claim of the part sealed again since', async () => {
    const events = [record('e1', 1), record('e2', 2), record('e3', 3)].sort(compareRecords);
    const [e1, e2, e3] = events as [EventRecord, EventRecord, EventRecord];
    const planned = buildPart(destination.keyPrefix, events);

    // Worker A plans [e1, e2, e3]: claims e1 and e2, finds e3 sealed in another part Q, and aborts.
    // It releases e1; its release of e2 is delayed (a slow network call).
    const a = await seals.createPart(
      planned.key,
      events.map((e) => e.eventId),
    );
    expect(await seals.claim(e3.eventId, 'other-part-q', 0)).toEqual({ claimed: true });
    expect(await seals.claim(e1.eventId, planned.key, a.generation)).toEqual({ claimed: true });
    expect(await seals.claim(e2.eventId, planned.key, a.generation)).toEqual({ claimed: true });
    expect((await seals.claim(e3.eventId, planned.key, a.generation)).claimed).toBe(false);
    expect(await seals.transition(planned.key, a.generation, 'claiming', 'aborted')).toBe(true);
    await seals.release(e1.eventId, planned.key, a.generation);

    // Q is given up too, which frees e3.
    await seals.release(e3.eventId, 'other-part-q', 0);

    // Worker B gets all three, reads the seals (eventually consistent: it sees none of them yet),
    // plans the same content again, and seals and writes it.
    const staleView = Object.create(seals) as SealStore;
    staleView.sealsOf = async () => new Map();
    const delivered = await deliverParts(events.map(queued), { ...deps, seals: staleView });
    expect([...delivered.values()].every((o) => o.ok)).toBe(true);
    expect(await rowsOf(e2.eventId)).toEqual([planned.key]);

    // A's delayed release of e2 lands now.
    await seals.release(e2.eventId, planned.key, a.generation);

    // e2 is redelivered alone: it must rewrite its sealed part, not seal into a second one.
    const again = await deliverParts([queued(e2)], deps);
    expect(again.get(e2.eventId)).toMatchObject({ ok: true, target: expect.stringContaining(planned.key) });
    expect(await rowsOf(e2.eventId)).toEqual([planned.key]);
  });
});

describe('part items', () => {
  it('stores a part of derived ids packed, 16 bytes an id, and reads back a part stored as a list', async () => {
    const events = [record('p1', 1), record('p2', 2), record('p3', 3)].sort(compareRecords);
    const ids = events.map((e) => e.eventId);
    const planned = buildPart(destination.keyPrefix, events);
    const created = await seals.createPart(planned.key, ids);
    expect(created.eventIds).toEqual(ids);

    const raw = await dynamodb.send(
      new GetItemCommand({
        TableName: sealsTable,
        Key: marshall({ pk: `part#${destination.id}#${planned.key}` }),
      }),
    );
    const stored = unmarshall(raw.Item ?? {});
    expect(stored.eventIds).toBeUndefined();
    expect(stored.members).toBeInstanceOf(Uint8Array);
    expect((stored.members as Uint8Array).length).toBe(ids.length * 16);
    expect((await seals.getPart(planned.key))?.eventIds).toEqual(ids);
    // A second create of the same key answers the stored part, unpacked.
    expect((await seals.createPart(planned.key, ids)).eventIds).toEqual(ids);

    // Written before members were packed (or with ids no derivation spells): a list, read as it is.
    await dynamodb.send(
      new PutItemCommand({
        TableName: sealsTable,
        Item: marshall({
          pk: `part#${destination.id}#legacy-key`,
          key: 'legacy-key',
          status: 'sealed',
          eventIds: ['evt_1', ids[0]],
        }),
      }),
    );
    expect(await seals.getPart('legacy-key')).toEqual({
      pk: `part#${destination.id}#legacy-key`,
      key: 'legacy-key',
      status: 'sealed',
      eventIds: ['evt_1', ids[0]],
      generation: 0,
    });
    const mixed = await seals.createPart('mixed-key', ['evt_1', ids[0] as string]);
    expect(mixed.eventIds).toEqual(['evt_1', ids[0]]);
    expect((await seals.getPart('mixed-key'))?.eventIds).toEqual(['evt_1', ids[0]]);
  });
});
