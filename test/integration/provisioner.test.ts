import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { EventStore } from '../../lambdas/adapters/event-store.js';
import { secretsManagerDeleter } from '../../lambdas/adapters/secret-deleter.js';
import { findQueueUrl, queueDepth } from '../../lambdas/adapters/sqs-queue.js';
import {
  createProvisioner,
  type MappingPort,
  type MappingQueue,
  type ProvisionerDeps,
} from '../../lambdas/control/provisioner.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { DESTINATION_DELETED } from '../../lambdas/core/failure-codes.js';
import { DLQ_ATTRIBUTES } from '../../lambdas/core/queue-message.js';
import { QUEUE_SETTINGS, queueNames } from '../../lambdas/core/resources.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import type { EmulatorTarget } from '../../local/aws-clients.js';
import { customerAccess } from '../../local/customer-credentials.js';
import { loadCustomerSideModule } from '../../local/kind-modules.js';
import {
  createLocalMappings,
  type LocalMappings,
  localMappingsEnvironment,
} from '../../local/local-mappings.js';
import { provision } from '../../local/provision.js';
import { storeAndEnqueue } from '../support/enqueue.js';
import { crashingDeps, InjectedCrash } from '../support/provisioner-crash.js';
import { peekQueue } from '../support/queues.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The provisioner on moto, with the local runtime's mappings (a poller per destination running the S3
 * batcher, which reads its destination from the table): create, pause, resume, update, delete and
 * force delete converge the queues and the pollers, and a crash after any step converges on the next run.
 * Records are written with DestinationStore as the management API does.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const ACCOUNT = '123456789012'; // moto's default account: assumed roles land here
const REGION = 'us-east-1';
const VENDOR = 'acme';
const namePrefix = `it-prov-${RUN}`;

const endpoint = () => inject('awsEndpoint');
const target = (): EmulatorTarget => ({ endpoint: endpoint(), region: REGION });
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let s3: S3Client;
let secrets: SecretsManagerClient;
let store: DestinationStore;
let events: EventStore;
let tables: Readonly<Record<string, string>>;
let mappings: LocalMappings;

function s3Destination(id: string, extra: Record<string, unknown> = {}): Destination {
  const config = parseConfig({
    vendor: VENDOR,
    destinations: [
      {
        id,
        type: 'S3',
        name: id,
        customerExternalId: `acct_${id}`,
        bucket: `prov-${id}-${RUN}`,
        keyPrefix: `${id}/`,
        region: REGION,
        flushIntervalSec: 1,
        maxEvents: 10,
        auth: {
          mode: 'ASSUME_ROLE',
          roleArn: `arn:aws:iam::${ACCOUNT}:role/Writer-${id}`,
          externalId: `ext-${id}-7Pq2`,
        },
        ...extra,
      },
    ],
  });
  return config.destinations[0] as Destination;
}

function recordOf(destination: Destination, overrides: Partial<DestinationRecord> = {}): DestinationRecord {
  return {
    destination,
    version: 1,
    desired: 'ACTIVE',
    status: 'PROVISIONING',
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    updatedBy: 'AKIATEST',
    ...overrides,
  };
}

/** An operator change, as the management use cases make it: the next version, conditional on this one. */
async function change(id: string, patch: Partial<DestinationRecord>): Promise<DestinationRecord> {
  const current = await store.get(id);
  if (!current) throw new Error(`no record ${id}`);
  const next = { ...current, ...patch, version: current.version + 1 };
  await store.replace(next, current.version);
  return next;
}

async function createCustomerSide(destination: Destination): Promise<void> {
  const { provisionCustomerSide } = await loadCustomerSideModule(destination);
  await provisionCustomerSide(destination, {
    customer: await customerAccess(destination, target()),
    target: target(),
    warn: () => undefined,
  });
}

let sequence = 0;
/** Stores `count` events for a destination's customer and puts them on its queue, as ingest does. */
async function enqueue(destination: Destination, count: number): Promise<string[]> {
  const names = queueNames(namePrefix, destination.id);
  const queueUrl = await findQueueUrl(sqs, names.queue);
  if (!queueUrl) throw new Error(`no queue for ${destination.id}`);
  const receivedAt = new Date().toISOString();
  const records: EventRecord[] = Array.from({ length: count }, () => {
    sequence += 1;
    const idempotencyKey = `prov-${RUN}-${sequence}`;
    return {
      ...seedEvent,
      customerExternalId: destination.customerExternalId,
      idempotencyKey,
      eventId: deriveEventId(destination.customerExternalId, idempotencyKey),
      receivedAt,
    };
  });
  await storeAndEnqueue({ events, sqs }, queueUrl, destination.id, records);
  return records.map((r) => r.eventId);
}

/** The event ids delivered to the customer's bucket under a key prefix, by object key. */
async function delivered(destination: Destination, prefix: string): Promise<string[]> {
  if (destination.type !== 'S3') throw new Error('S3 only');
  const { Contents = [] } = await s3.send(
    new ListObjectsV2Command({ Bucket: destination.bucket, Prefix: prefix }),
  );
  const ids: string[] = [];
  for (const object of Contents) {
    const body = await s3.send(new GetObjectCommand({ Bucket: destination.bucket, Key: object.Key }));
    for (const line of (await body.Body?.transformToString())?.split('\n') ?? []) {
      if (line) ids.push((JSON.parse(line) as { eventId: string }).eventId);
    }
  }
  return ids;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const sameIds = (a: readonly string[], b: readonly string[]) =>
  JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

function provisionerWith(overrides: Partial<ProvisionerDeps> = {}) {
  return createProvisioner({
    store,
    sqs,
    mappings,
    deleteSecret: secretsManagerDeleter(secrets),
    namePrefix,
    mappingCallsPerSecond: 100,
    ...overrides,
  });
}

beforeAll(async () => {
  // The consumers' SDK clients take their endpoint from the process, as on `npm start`.
  process.env.AWS_ENDPOINT_URL = endpoint();
  sqs = new SQSClient({ endpoint: endpoint(), region: REGION });
  dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION });
  s3 = new S3Client({ endpoint: endpoint(), region: REGION, forcePathStyle: true });
  secrets = new SecretsManagerClient({ endpoint: endpoint(), region: REGION });
  // Only the tables: every queue is the provisioner's to make.
  const config = parseConfig({ vendor: VENDOR, destinations: [s3Destination('unused')] });
  const provisioned = await provision({
    config: { ...config, destinations: [] },
    namePrefix,
    target: target(),
  });
  tables = provisioned.tables;
  store = new DestinationStore(dynamodb, tables.destinations as string);
  events = new EventStore(dynamodb, tables.events as string);
  mappings = createLocalMappings({
    target: target(),
    deliveryEnv: localMappingsEnvironment({ tables, namePrefix, vendor: VENDOR, retentionDays: 30 }),
    namePrefix,
    // Every batch checks the catalog, so a change shows in the very next batch.
    handlerOptions: { catalogCheckMs: 0 },
    onError: (id, error) => console.error(`poller ${id}:`, error),
  });
});

afterAll(async () => {
  await mappings?.stopAll();
  for (const client of [sqs, dynamodb, s3, secrets]) client?.destroy();
});

describe('the provisioner with the local mappings', () => {
  it('creates, pauses, resumes, updates and deletes a destination without a restart', async () => {
    const destination = s3Destination('life');
    await createCustomerSide(destination);
    const ownedSecret = await secrets.send(
      new CreateSecretCommand({ Name: `pushrail/${namePrefix}/life`, SecretString: '{"accessKeyId":"x"}' }),
    );
    await store.create(recordOf(destination, { ownedSecretArn: ownedSecret.ARN as string }));
    const provisioner = provisionerWith();

    // Create: queues with the stack's attributes, the poller running, ACTIVE with the URLs.
    await provisioner.converge('life');
    const names = queueNames(namePrefix, 'life');
    const record = await store.get('life');
    expect(record).toMatchObject({ status: 'ACTIVE', version: 1 });
    expect(record?.statusReason).toBeUndefined();
    expect(record?.queueUrl).toBe(await findQueueUrl(sqs, names.queue));
    expect(record?.dlqUrl).toBe(await findQueueUrl(sqs, names.dlq));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: record?.queueUrl, AttributeNames: ['All'] }),
    );
    expect(Number(Attributes?.MessageRetentionPeriod)).toBe(QUEUE_SETTINGS.retentionSeconds);
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({
      maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount,
    });
    expect(mappings.isEnabled('life')).toBe(true);

    const first = await enqueue(destination, 3);
    await until('the first events in the bucket', async () => {
      const ids = await delivered(destination, 'life/');
      return sameIds(ids, first) ? ids : undefined;
    });

    // Pause: the poller stops; events wait in the queue.
    await change('life', { desired: 'PAUSED' });
    await provisioner.converge('life');
    expect(await store.get('life')).toMatchObject({ status: 'PAUSED', version: 2 });
    expect(mappings.isEnabled('life')).toBe(false);
    const waiting = await enqueue(destination, 4);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await queueDepth(sqs, record?.queueUrl as string)).toMatchObject({ visible: 4 });
    expect(sameIds(await delivered(destination, 'life/'), first)).toBe(true);

    // Resume: the backlog is delivered, each event once.
    await change('life', { desired: 'ACTIVE' });
    await provisioner.converge('life');
    expect(await store.get('life')).toMatchObject({ status: 'ACTIVE', version: 3 });
    await until('the backlog in the bucket', async () => {
      const ids = await delivered(destination, 'life/');
      return sameIds(ids, [...first, ...waiting]) ? ids : undefined;
    });

    // Update: a new keyPrefix applies to the batches that start after it, read from the table by the
    // running poller (no converge needed: the queues and mapping are unchanged).
    const before = await delivered(destination, 'life/');
    await change('life', {
      destination: { ...destination, keyPrefix: 'moved/' } as Destination,
    });
    const later = await enqueue(destination, 2);
    await until('the later events under the new prefix', async () => {
      const ids = await delivered(destination, 'moved/');
      return sameIds(ids, later) ? ids : undefined;
    });
    expect(sameIds(await delivered(destination, 'life/'), before)).toBe(true);

    // Delete while paused with a backlog: the mapping drains the queue before anything is removed.
    await change('life', { desired: 'PAUSED' });
    await provisioner.converge('life');
    const backlog = await enqueue(destination, 3);
    await change('life', { desired: 'DELETED' });
    await provisioner.converge('life');
    expect(await store.get('life')).toMatchObject({ status: 'DELETING' });
    expect(mappings.isEnabled('life')).toBe(true);
    await until('the backlog delivered', async () => {
      const ids = await delivered(destination, 'moved/');
      return sameIds(ids, [...later, ...backlog]) ? ids : undefined;
    });
    await until('the queue empty', async () => {
      const depth = await queueDepth(sqs, record?.queueUrl as string);
      return depth && depth.visible + depth.inFlight + depth.delayed === 0 ? true : undefined;
    });
    await provisioner.converge('life');
    expect(await store.get('life')).toBeUndefined();
    expect(await findQueueUrl(sqs, names.queue)).toBeUndefined();
    expect(await findQueueUrl(sqs, names.dlq)).toBe(record?.dlqUrl);
    expect(await mappings.list()).not.toContain('life');
    const secret = await secrets.send(new DescribeSecretCommand({ SecretId: ownedSecret.ARN }));
    expect(secret.DeletedDate).toBeDefined();
  });

  it('settles: a shutdown can wait for the converge a change started', async () => {
    const destination = s3Destination('settling');
    await createCustomerSide(destination);
    await store.create(recordOf(destination));
    const provisioner = provisionerWith();
    provisioner.notify('settling');
    await provisioner.settle();
    expect(await store.get('settling')).toMatchObject({ status: 'ACTIVE' });
    await mappings.remove('settling');
  });

  it('force delete moves what is left to the DLQ with the reason, then removes the queue', async () => {
    const destination = s3Destination('forced');
    await createCustomerSide(destination);
    await store.create(recordOf(destination, { desired: 'PAUSED' }));
    const provisioner = provisionerWith();
    await provisioner.converge('forced');
    expect(mappings.isEnabled('forced')).toBe(false);
    const left = await enqueue(destination, 5);

    await change('forced', { desired: 'DELETED', forceDelete: true });
    await provisioner.converge('forced');
    const names = queueNames(namePrefix, 'forced');
    expect(await store.get('forced')).toBeUndefined();
    expect(await findQueueUrl(sqs, names.queue)).toBeUndefined();
    const dlqUrl = (await findQueueUrl(sqs, names.dlq)) as string;
    const dead = await peekQueue(sqs, dlqUrl);
    expect(
      sameIds(
        dead.map((m) => m.MessageAttributes?.[DLQ_ATTRIBUTES.eventId]?.StringValue ?? ''),
        left,
      ),
    ).toBe(true);
    for (const m of dead) {
      expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue).toBe(DESTINATION_DELETED);
      expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.destinationId]?.StringValue).toBe('forced');
    }
    expect(await delivered(destination, 'forced/')).toEqual([]);
  });

  it('records a failing step as FAILED with the AWS error, and a later run clears it', async () => {
    const destination = s3Destination('flaky');
    await store.create(recordOf(destination));
    const broken = provisionerWith({
      mappings: {
        ...mappings,
        ensure: async () => {
          const error = new Error('Rate exceeded');
          error.name = 'TooManyRequestsException';
          throw error;
        },
      },
    });
    await expect(broken.converge('flaky')).rejects.toThrow('Rate exceeded');
    const failed = await store.get('flaky');
    expect(failed).toMatchObject({ status: 'FAILED' });
    expect(failed?.statusReason).toContain('TooManyRequestsException: Rate exceeded');
    // The queue URLs written before the failing step are kept for the consumer.
    expect(failed?.queueUrl).toBeDefined();

    await provisionerWith({ mappings: fakeMappings().port }).converge('flaky');
    const fixed = await store.get('flaky');
    expect(fixed).toMatchObject({ status: 'ACTIVE' });
    expect(fixed?.statusReason).toBeUndefined();
  });
});

describe('reconcileAll', () => {
  it('converges every destination of the table, at most N at once, and removes mappings of ids no longer in it', async () => {
    const ids = ['rc-a', 'rc-b', 'rc-c', 'rc-d', 'rc-e'];
    for (const id of ids)
      await store.create(recordOf(s3Destination(id), { desired: id === 'rc-e' ? 'PAUSED' : 'ACTIVE' }));
    const fake = fakeMappings();
    await fake.port.ensure(
      s3Destination('ghost'),
      { queueUrl: 'https://q/ghost', queueArn: 'arn:ghost' },
      true,
    );
    let inFlight = 0;
    let most = 0;
    const counting: MappingPort = {
      ...fake.port,
      async ensure(d, q, enabled) {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 50));
        await fake.port.ensure(d, q, enabled);
        inFlight -= 1;
      },
    };
    // The other tests' records are in the table too: converge them with the fake as well.
    await provisionerWith({ mappings: counting, concurrency: 2 }).reconcileAll();
    for (const id of ids) {
      expect(await store.get(id)).toMatchObject({ status: id === 'rc-e' ? 'PAUSED' : 'ACTIVE' });
      expect(fake.state.get(id)?.enabled).toBe(id !== 'rc-e');
    }
    expect(fake.state.has('ghost')).toBe(false);
    expect(most).toBeLessThanOrEqual(2);
  });
});

// ---------------------------------------------------------------------------------------------------

/** A MappingPort in memory: the crash test is about the provisioner's steps, not the pollers. */
function fakeMappings() {
  const state = new Map<string, { queue: MappingQueue; enabled: boolean }>();
  const port: MappingPort = {
    async ensure(destination, queue, enabled) {
      state.set(destination.id, { queue, enabled });
    },
    async remove(id) {
      state.delete(id);
    },
    async list() {
      return [...state.keys()];
    },
  };
  return { port, state };
}

describe('a provisioner crash after any step converges on the next run', () => {
  it('while creating: ACTIVE, queues with their attributes, mapping enabled', async () => {
    const crashes: string[] = [];
    for (let n = 1; ; n += 1) {
      const id = `mk-${n}`;
      const destination = s3Destination(id);
      await store.create(recordOf(destination));
      const fake = fakeMappings();
      const base: ProvisionerDeps = { ...provisionerDeps(), mappings: fake.port };
      const { deps, steps } = crashingDeps(base, n);
      const outcome = await createProvisioner(deps)
        .converge(id)
        .then(
          () => 'done',
          (error: unknown) => (error instanceof InjectedCrash ? 'crashed' : Promise.reject(error)),
        );
      if (outcome === 'done') break; // n is past the last step: every step has had its crash
      crashes.push(steps[n - 1] as string);

      await createProvisioner(base).converge(id);
      const names = queueNames(namePrefix, id);
      const record = await store.get(id);
      expect(record, `after a crash at ${steps[n - 1]}`).toMatchObject({
        status: 'ACTIVE',
        queueUrl: await findQueueUrl(sqs, names.queue),
        dlqUrl: await findQueueUrl(sqs, names.dlq),
      });
      expect(record?.statusReason).toBeUndefined();
      expect(fake.state.get(id)).toMatchObject({ enabled: true, queue: { queueUrl: record?.queueUrl } });
    }
    // Every kind of step had its turn.
    expect(crashes).toEqual(
      expect.arrayContaining([
        'store.get',
        'sqs.CreateQueueCommand',
        'sqs.GetQueueAttributesCommand',
        'store.setProvisioning(PROVISIONING)',
        'mappings.ensure(true)',
        'store.setProvisioning(ACTIVE)',
      ]),
    );
  });

  it('while deleting: record, queue, mapping and owned secret gone, DLQ kept', async () => {
    const crashes: string[] = [];
    for (let n = 1; ; n += 1) {
      const id = `rm-${n}`;
      const destination = s3Destination(id);
      const secret = await secrets.send(
        new CreateSecretCommand({ Name: `pushrail/${namePrefix}/${id}`, SecretString: '{}' }),
      );
      await store.create(recordOf(destination, { ownedSecretArn: secret.ARN as string }));
      const fake = fakeMappings();
      const base: ProvisionerDeps = { ...provisionerDeps(), mappings: fake.port };
      await createProvisioner(base).converge(id);
      await change(id, { desired: 'DELETED' });

      const { deps, steps } = crashingDeps(base, n);
      const outcome = await createProvisioner(deps)
        .converge(id)
        .then(
          () => 'done',
          (error: unknown) => (error instanceof InjectedCrash ? 'crashed' : Promise.reject(error)),
        );
      if (outcome !== 'done') {
        crashes.push(steps[n - 1] as string);
        await createProvisioner(base).converge(id);
      }
      const names = queueNames(namePrefix, id);
      const context = `after a crash at ${steps[n - 1] ?? 'none'}`;
      expect(await store.get(id), context).toBeUndefined();
      expect(await findQueueUrl(sqs, names.queue), context).toBeUndefined();
      expect(await findQueueUrl(sqs, names.dlq), context).toBeDefined();
      expect(fake.state.has(id), context).toBe(false);
      expect(
        (await secrets.send(new DescribeSecretCommand({ SecretId: secret.ARN }))).DeletedDate,
      ).toBeDefined();
      if (outcome === 'done') break;
    }
    expect(crashes).toEqual(
      expect.arrayContaining([
        'store.get',
        'store.setProvisioning(DELETING)',
        'sqs.GetQueueUrlCommand',
        'mappings.ensure(true)',
        'mappings.remove',
        'sqs.DeleteQueueCommand',
        'deleteSecret',
        'store.remove',
      ]),
    );
  });
});

function provisionerDeps(): ProvisionerDeps {
  return {
    store,
    sqs,
    mappings,
    deleteSecret: secretsManagerDeleter(secrets),
    namePrefix,
    mappingCallsPerSecond: 1000,
  };
}
