import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateEventSourceMappingCommand,
  CreateFunctionCommand,
  type EventSourceMappingConfiguration,
  LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import {
  createLambdaMappings,
  eventSourceMappingSettings,
  MAPPING_CLIENT_MAX_ATTEMPTS,
} from '../../lambdas/adapters/lambda-mappings.js';
import { secretsManagerDeleter } from '../../lambdas/adapters/secret-deleter.js';
import { ensureQueue, findQueueUrl, queueArn, sendBatch } from '../../lambdas/adapters/sqs-queue.js';
import { createProvisioner, type ProvisionerDeps } from '../../lambdas/control/provisioner.js';
import {
  createProvisionerHandler,
  type ProvisionerHandlerOptions,
} from '../../lambdas/control/provisioner-handler.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { deadLetterQueueAttributes } from '../../lambdas/core/destination-queues.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { MappingInTransitionError } from '../../lambdas/core/errors.js';
import { PROVISIONER_ENV } from '../../lambdas/core/function-env.js';
import { queueNames } from '../../lambdas/core/resources.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { lambdaContext } from '../../local/api-gateway-event.js';
import { pollerBatching } from '../../local/delivery-pollers.js';
import { provision } from '../../local/provision.js';
import { crashingDeps } from '../support/provisioner-crash.js';

/**
 * The provisioner on AWS's shapes, on moto: Lambda event source mappings (adapters/lambda-mappings.ts)
 * onto one consumer function per kind, driven through the provisioner Lambda's handler with the three
 * events it takes. moto serves CreateFunction from a zip and the mapping calls without Docker; when a
 * message arrives on a queue with an enabled mapping it tries to invoke the function, fails for want of
 * Docker, and leaves the message in the queue (one more receive), which nothing here depends on. moto
 * has no transitional mapping states (Creating, Updating...): those branches are unit tests
 * (test/unit/lambda-mappings.test.ts).
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const namePrefix = `it-esm-${RUN}`;
const endpoint = () => inject('awsEndpoint');
const FUNCTIONS = {
  S3: `${namePrefix}-s3-batcher`,
  EVENTBRIDGE: `${namePrefix}-eventbridge-sender`,
  WEBHOOK: `${namePrefix}-webhook-sender`,
};
const EXAMPLES = JSON.parse(readFileSync(new URL('../../pushrail.config.json', import.meta.url), 'utf8'))
  .destinations as Record<string, unknown>[];

let lambda: LambdaClient;
let sqs: SQSClient;
let secrets: SecretsManagerClient;
let store: DestinationStore;
let env: Record<string, string>;

const context: Context = lambdaContext(
  { functionName: `${namePrefix}-provisioner`, region: REGION, accountId: '123456789012' },
  Date.now() + 60_000,
);

/** A destination like the committed examples: S3 (batch 10, window 1 s) or EventBridge (concurrency 5). */
function destinationOf(
  id: string,
  type: 'S3' | 'EVENTBRIDGE',
  extra: Record<string, unknown> = {},
): Destination {
  const example = EXAMPLES.find((d) => d.type === type) as Record<string, unknown>;
  const fields = type === 'S3' ? { maxEvents: 10, flushIntervalSec: 1 } : { maxConcurrency: 5 };
  const config = parseConfig({ vendor: 'acme', destinations: [{ ...example, id, ...fields, ...extra }] });
  return config.destinations[0] as Destination;
}

async function createRecord(destination: Destination, overrides: Partial<DestinationRecord> = {}) {
  const at = new Date().toISOString();
  await store.create({
    destination,
    version: 1,
    desired: 'ACTIVE',
    status: 'PROVISIONING',
    createdAt: at,
    updatedAt: at,
    updatedBy: 'AKIATEST',
    ...overrides,
  });
}

/** An operator change, as the management use cases make it: the next version, conditional on this one. */
async function change(id: string, patch: Partial<DestinationRecord>): Promise<void> {
  const current = await store.get(id);
  if (!current) throw new Error(`no record ${id}`);
  await store.replace({ ...current, ...patch, version: current.version + 1 }, current.version);
}

function handlerWith(options: ProvisionerHandlerOptions = {}) {
  return createProvisionerHandler(env, options);
}

/** The mappings of a destination's queue onto its kind's function, as Lambda has them. */
async function mappingsOf(destination: Destination): Promise<EventSourceMappingConfiguration[]> {
  const url = await findQueueUrl(sqs, queueNames(namePrefix, destination.id).queue);
  if (!url) return [];
  const { EventSourceMappings = [] } = await lambda.send(
    new ListEventSourceMappingsCommand({
      FunctionName: FUNCTIONS[destination.type],
      EventSourceArn: await queueArn(sqs, url),
    }),
  );
  return EventSourceMappings;
}

async function onlyMapping(destination: Destination): Promise<EventSourceMappingConfiguration> {
  const mappings = await mappingsOf(destination);
  expect(mappings).toHaveLength(1);
  return mappings[0] as EventSourceMappingConfiguration;
}

/** What the mapping must be for the destination: its kind's settings, enabled or not. */
function expectMapping(mapping: EventSourceMappingConfiguration, destination: Destination, enabled: boolean) {
  const want = eventSourceMappingSettings(destination);
  expect(mapping).toMatchObject({
    State: enabled ? 'Enabled' : 'Disabled',
    BatchSize: want.BatchSize,
    MaximumBatchingWindowInSeconds: want.MaximumBatchingWindowInSeconds,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
  });
  expect(mapping.ScalingConfig?.MaximumConcurrency).toBe(want.ScalingConfig?.MaximumConcurrency);
  expect(mapping.FunctionArn).toMatch(new RegExp(`:function:${FUNCTIONS[destination.type]}$`));
}

async function ourQueues(): Promise<string[]> {
  const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: namePrefix }));
  return QueueUrls;
}

/**
 * moto's CreateFunction wants an existing role. The project has no IAM client (nothing else needs
 * one), so this is IAM's query API by hand; moto routes it by the credential scope and checks no
 * signature.
 */
async function createRole(name: string): Promise<string> {
  const response = await fetch(endpoint(), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({
      Action: 'CreateRole',
      Version: '2010-05-08',
      RoleName: name,
      AssumeRolePolicyDocument: '{}',
    }),
  });
  const text = await response.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (!response.ok || !arn)
    throw new Error(`CreateRole on moto failed: ${response.status} ${text.slice(0, 300)}`);
  return arn;
}

beforeAll(async () => {
  const aws = { endpoint: endpoint(), region: REGION };
  lambda = new LambdaClient(aws);
  sqs = new SQSClient(aws);
  secrets = new SecretsManagerClient(aws);
  const roleArn = await createRole(`${namePrefix}-consumer`);
  // An empty zip (its end-of-central-directory record alone): moto stores it and never runs it.
  const emptyZip = Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);
  for (const name of Object.values(FUNCTIONS)) {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs22.x',
        Role: roleArn,
        Handler: 'index.handler',
        Code: { ZipFile: emptyZip },
      }),
    );
  }
  const config = parseConfig({ vendor: 'acme', destinations: [destinationOf('unused', 'S3')] });
  const { tables } = await provision({
    config: { ...config, destinations: [] },
    namePrefix,
    target: { endpoint: endpoint(), region: REGION },
  });
  store = new DestinationStore(new DynamoDBClient(aws), tables.destinations as string);
  env = {
    [PROVISIONER_ENV.destinationsTable]: tables.destinations as string,
    [PROVISIONER_ENV.namePrefix]: namePrefix,
    [PROVISIONER_ENV.deliveryFunctions]: JSON.stringify(FUNCTIONS),
    [PROVISIONER_ENV.mappingCallsPerSecond]: '15',
    AWS_ENDPOINT_URL: endpoint(),
    AWS_REGION: REGION,
  };
});

afterAll(() => {
  for (const client of [lambda, sqs, secrets]) client?.destroy();
});

describe('the provisioner Lambda on event source mappings', () => {
  it('creates each kind’s mapping with its settings, pauses, resumes and repairs drift', async () => {
    const s3 = destinationOf('esm-s3', 'S3');
    const eb = destinationOf('esm-eb', 'EVENTBRIDGE');
    await createRecord(s3);
    await createRecord(eb);
    const handler = handlerWith();

    expect(await handler({ destinationId: 'esm-s3' }, context)).toEqual({
      destinationId: 'esm-s3',
      outcome: 'converged',
    });
    await handler({ destinationId: 'esm-eb' }, context);
    expect(await store.get('esm-s3')).toMatchObject({ status: 'ACTIVE' });
    expect(await store.get('esm-eb')).toMatchObject({ status: 'ACTIVE' });
    const s3Mapping = await onlyMapping(s3);
    expectMapping(s3Mapping, s3, true);
    expect(s3Mapping.ScalingConfig?.MaximumConcurrency).toBeUndefined();
    expectMapping(await onlyMapping(eb), eb, true);
    expect((await onlyMapping(eb)).ScalingConfig).toEqual({ MaximumConcurrency: 5 });
    // The local pollers batch exactly as the deployed mapping does.
    expect(s3Mapping.BatchSize).toBe(pollerBatching(s3).batchSize);
    expect(s3Mapping.MaximumBatchingWindowInSeconds).toBe(pollerBatching(s3).windowSeconds);

    // Pause: the same mapping, disabled; events wait in the queue.
    await change('esm-s3', { desired: 'PAUSED' });
    await handler({ destinationId: 'esm-s3' }, context);
    expect(await store.get('esm-s3')).toMatchObject({ status: 'PAUSED' });
    const paused = await onlyMapping(s3);
    expect(paused.UUID).toBe(s3Mapping.UUID);
    expectMapping(paused, s3, false);

    // Resume.
    await change('esm-s3', { desired: 'ACTIVE' });
    await handler({ destinationId: 'esm-s3' }, context);
    expect(await store.get('esm-s3')).toMatchObject({ status: 'ACTIVE' });
    expectMapping(await onlyMapping(s3), s3, true);

    // Drift by hand (batching changed, disabled, concurrency removed): the scheduled reconcile repairs it.
    await lambda.send(
      new UpdateEventSourceMappingCommand({
        UUID: s3Mapping.UUID,
        BatchSize: 3,
        MaximumBatchingWindowInSeconds: 0,
        Enabled: false,
      }),
    );
    const ebMapping = await onlyMapping(eb);
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: ebMapping.UUID, ScalingConfig: {} }));
    expect(await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, context)).toEqual({
      reconciled: true,
    });
    expectMapping(await onlyMapping(s3), s3, true);
    expectMapping(await onlyMapping(eb), eb, true);

    // Delete with the queue empty: mapping, queue and record gone, the DLQ kept for its retention.
    await change('esm-eb', { desired: 'DELETED' });
    await handler({ destinationId: 'esm-eb' }, context);
    expect(await store.get('esm-eb')).toBeUndefined();
    expect(await findQueueUrl(sqs, queueNames(namePrefix, 'esm-eb').queue)).toBeUndefined();
    expect(await findQueueUrl(sqs, queueNames(namePrefix, 'esm-eb').dlq)).toBeDefined();
    const { EventSourceMappings: left = [] } = await lambda.send(
      new ListEventSourceMappingsCommand({ FunctionName: FUNCTIONS.EVENTBRIDGE }),
    );
    expect(
      left.filter((m) => m.EventSourceArn?.endsWith(`:${queueNames(namePrefix, 'esm-eb').queue}`)),
    ).toEqual([]);
  });

  it('a paused destination keeps its events queued while moto would invoke an enabled mapping', async () => {
    const destination = destinationOf('esm-queued', 'S3');
    await createRecord(destination, { desired: 'PAUSED' });
    const handler = handlerWith();
    await handler({ destinationId: 'esm-queued' }, context);
    expectMapping(await onlyMapping(destination), destination, false);
    const url = (await findQueueUrl(sqs, queueNames(namePrefix, 'esm-queued').queue)) as string;
    const { failed } = await sendBatch(sqs, url, [{ key: 'a', body: '{}', attributes: {} }]);
    expect(failed).toEqual([]);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(Attributes?.ApproximateNumberOfMessages).toBe('1');
  });
});

describe('the mapping adapter', () => {
  it('changes nothing when the mapping is as it should be, and list() answers every mapped destination', async () => {
    const destination = destinationOf('esm-noop', 'S3');
    const names = queueNames(namePrefix, destination.id);
    const dlqUrl = await ensureQueue(sqs, names.dlq, deadLetterQueueAttributes());
    const queueUrl = await ensureQueue(sqs, names.queue, deadLetterQueueAttributes());
    void dlqUrl;
    const queue = { queueUrl, queueArn: await queueArn(sqs, queueUrl) };
    const writes: string[] = [];
    const counted = new LambdaClient({
      endpoint: endpoint(),
      region: REGION,
      maxAttempts: MAPPING_CLIENT_MAX_ATTEMPTS,
    });
    counted.middlewareStack.add(
      (next, ctx) => (args) => {
        if (ctx.commandName !== 'ListEventSourceMappingsCommand') writes.push(ctx.commandName as string);
        return next(args);
      },
      { step: 'initialize' },
    );
    const port = createLambdaMappings({ lambda: counted, functions: FUNCTIONS, namePrefix });
    await port.ensure(destination, queue, true);
    expect(writes).toEqual(['CreateEventSourceMappingCommand']);
    await port.ensure(destination, queue, true);
    expect(writes).toEqual(['CreateEventSourceMappingCommand']);
    await port.ensure(destination, queue, false);
    expect(writes).toEqual(['CreateEventSourceMappingCommand', 'UpdateEventSourceMappingCommand']);

    const listed = await port.list();
    expect(listed).toContain('esm-noop');
    // Right after list(), a converged mapping is not read again (a reconcile of N costs pages, not N reads).
    const reads: string[] = [];
    counted.middlewareStack.add(
      (next, ctx) => (args) => {
        reads.push(ctx.commandName as string);
        return next(args);
      },
      { step: 'initialize', name: 'reads' },
    );
    await port.ensure(destination, queue, false);
    expect(reads).toEqual([]);

    await port.remove('esm-noop');
    await port.remove('esm-noop'); // already gone: done
    expect(await port.list()).not.toContain('esm-noop');
    expect(await mappingsOf(destination)).toEqual([]);
    counted.destroy();
  });

  it('remove finds a mapping it has never seen by scanning the kind functions', async () => {
    const destination = destinationOf('esm-unseen', 'EVENTBRIDGE');
    const queueUrl = await ensureQueue(
      sqs,
      queueNames(namePrefix, destination.id).queue,
      deadLetterQueueAttributes(),
    );
    await lambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: FUNCTIONS.EVENTBRIDGE,
        EventSourceArn: await queueArn(sqs, queueUrl),
        BatchSize: 10,
      }),
    );
    const fresh = createLambdaMappings({ lambda, functions: FUNCTIONS, namePrefix });
    await fresh.remove('esm-unseen');
    expect(await mappingsOf(destination)).toEqual([]);
  });
});

describe('a mapping Lambda is still changing', () => {
  it('leaves the destination PROVISIONING with the reason, not FAILED, and the next run finishes', async () => {
    const destination = destinationOf('esm-busy', 'S3');
    await createRecord(destination);
    const real = createLambdaMappings({ lambda, functions: FUNCTIONS, namePrefix });
    const deps: ProvisionerDeps = {
      store,
      sqs,
      mappings: {
        ...real,
        ensure: async () => {
          throw new MappingInTransitionError('the event source mapping abc of the queue is Updating');
        },
      },
      deleteSecret: secretsManagerDeleter(secrets),
      namePrefix,
      mappingCallsPerSecond: 100,
    };
    await createProvisioner(deps).converge('esm-busy');
    const busy = await store.get('esm-busy');
    expect(busy).toMatchObject({ status: 'PROVISIONING' });
    expect(busy?.statusReason).toContain('Updating');
    expect(busy?.queueUrl).toBeDefined();

    await createProvisioner({ ...deps, mappings: real }).converge('esm-busy');
    const done = await store.get('esm-busy');
    expect(done).toMatchObject({ status: 'ACTIVE' });
    expect(done?.statusReason).toBeUndefined();
    expectMapping(await onlyMapping(destination), destination, true);
  });
});

describe('a provisioner crash after any step converges on the next run, with Lambda mappings', () => {
  it('while creating and while deleting', async () => {
    for (const phase of ['create', 'delete'] as const) {
      const crashes: string[] = [];
      for (let n = 1; ; n += 1) {
        const id = `esm-${phase === 'create' ? 'mk' : 'rm'}-${n}`;
        const destination = destinationOf(id, 'S3');
        await createRecord(destination);
        if (phase === 'delete') {
          await handlerWith()({ destinationId: id }, context);
          await change(id, { desired: 'DELETED' });
        }
        let steps: string[] = [];
        const crashing = handlerWith({
          deps: (base) => {
            const made = crashingDeps(base, n);
            steps = made.steps;
            return made.deps;
          },
        });
        await crashing({ destinationId: id }, context);
        const crashed = steps.length >= n;
        if (crashed) {
          crashes.push(steps[n - 1] as string);
          expect(await handlerWith()({ destinationId: id }, context)).toEqual({
            destinationId: id,
            outcome: 'converged',
          });
        }
        const at = `${phase}: after a crash at ${steps[n - 1] ?? 'none'}`;
        if (phase === 'create') {
          expect(await store.get(id), at).toMatchObject({ status: 'ACTIVE' });
          expectMapping(await onlyMapping(destination), destination, true);
        } else {
          expect(await store.get(id), at).toBeUndefined();
          expect(await findQueueUrl(sqs, queueNames(namePrefix, id).queue), at).toBeUndefined();
          const { EventSourceMappings = [] } = await lambda.send(
            new ListEventSourceMappingsCommand({ FunctionName: FUNCTIONS.S3 }),
          );
          expect(
            EventSourceMappings.filter((m) =>
              m.EventSourceArn?.endsWith(`:${queueNames(namePrefix, id).queue}`),
            ),
            at,
          ).toEqual([]);
        }
        if (!crashed) break;
      }
      expect(crashes, phase).toEqual(
        expect.arrayContaining(
          phase === 'create'
            ? [
                'store.get',
                'sqs.CreateQueueCommand',
                'store.setProvisioning(PROVISIONING)',
                'mappings.ensure(true)',
              ]
            : [
                'store.setProvisioning(DELETING)',
                'mappings.ensure(true)',
                'mappings.remove',
                'sqs.DeleteQueueCommand',
              ],
        ),
      );
    }
  });
});

describe('teardown on the stack’s deletion', () => {
  it('leaves no mapping, no queue and no owned secret of the provisioner behind', async () => {
    const handler = handlerWith({ deps: (base) => ({ ...base, teardownRetry: { rounds: 2, delayMs: 10 } }) });
    // Create and Update do nothing and keep one physical id (a new one would delete the old: a teardown).
    const create = await handler(
      { RequestType: 'Create', StackId: 'arn:stack', LogicalResourceId: 'Teardown', ResourceProperties: {} },
      context,
    );
    expect(create).toEqual({ PhysicalResourceId: `${namePrefix}-provisioner-teardown` });
    expect(
      await handler(
        {
          RequestType: 'Update',
          StackId: 'arn:stack',
          LogicalResourceId: 'Teardown',
          PhysicalResourceId: 'kept',
        },
        context,
      ),
    ).toEqual({ PhysicalResourceId: 'kept' });

    const owned = destinationOf('esm-td-owned', 'S3');
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: `pushrail/${namePrefix}/esm-td-owned`,
        SecretString: '{"accessKeyId":"x"}',
      }),
    );
    // A webhook's signing secrets go too (the teardown does not look at the kind: any record's).
    const signing = await secrets.send(
      new CreateSecretCommand({
        Name: `pushrail/${namePrefix}/esm-td-owned/webhook-signing`,
        SecretString: '{"current":"whsec_x"}',
      }),
    );
    await createRecord(owned, {
      ownedSecretArn: secret.ARN as string,
      signingSecretArn: signing.ARN as string,
    });
    await createRecord(destinationOf('esm-td-paused', 'EVENTBRIDGE'), { desired: 'PAUSED' });
    await handler({ 'detail-type': 'Scheduled Event', source: 'aws.scheduler' }, context);
    // An orphan: a mapping whose destination is no longer in the table.
    const orphanUrl = await ensureQueue(
      sqs,
      queueNames(namePrefix, 'esm-td-orphan').queue,
      deadLetterQueueAttributes(),
    );
    await lambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: FUNCTIONS.S3,
        EventSourceArn: await queueArn(sqs, orphanUrl),
        BatchSize: 10,
      }),
    );
    expect(await ourQueues()).not.toEqual([]);

    const result = await handler(
      {
        RequestType: 'Delete',
        StackId: 'arn:stack',
        LogicalResourceId: 'Teardown',
        PhysicalResourceId: 'kept',
      },
      context,
    );
    expect(result).toMatchObject({ PhysicalResourceId: 'kept', Data: { secretsDeleted: 2 } });
    for (const fn of Object.values(FUNCTIONS)) {
      const { EventSourceMappings = [] } = await lambda.send(
        new ListEventSourceMappingsCommand({ FunctionName: fn }),
      );
      expect(
        EventSourceMappings.filter((m) => m.State !== 'Deleting'),
        fn,
      ).toEqual([]);
    }
    // Every queue the provisioner made is gone, DLQs of destinations deleted earlier too; the ones this
    // file made by hand without the owner tag (the adapter's tests) are not the provisioner's to delete,
    // nor is the local runtime's notifications inbox that provision() makes (the emulator's stand-in
    // for the vendor's default bus rule; a deployed stack has none).
    const left = (await ourQueues()).map((url) => url.slice(url.lastIndexOf('/') + 1));
    expect(left.sort()).toEqual([
      `${namePrefix}-esm-noop`,
      `${namePrefix}-esm-noop-dlq`,
      `${namePrefix}-esm-unseen`,
      `${namePrefix}-notifications`,
    ]);
    expect(
      (await secrets.send(new DescribeSecretCommand({ SecretId: secret.ARN }))).DeletedDate,
    ).toBeDefined();
    expect(
      (await secrets.send(new DescribeSecretCommand({ SecretId: signing.ARN }))).DeletedDate,
    ).toBeDefined();
  });
});
