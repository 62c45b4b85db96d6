import { randomUUID } from 'node:crypto';
import { CloudWatchClient, DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { cloudWatchQueueAlarms } from '../../lambdas/adapters/queue-alarms.js';
import { secretsManagerDeleter } from '../../lambdas/adapters/secret-deleter.js';
import { createProvisioner, type MappingPort } from '../../lambdas/control/provisioner.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import { allowedAgeSeconds, queueAgeAlarmName } from '../../lambdas/core/queue-age-alarm.js';
import { queueNames } from '../../lambdas/core/resources.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { provision } from '../../local/provision.js';

/**
 * The provisioner's per-destination queue-age alarm on moto's CloudWatch: put with the queue (its
 * threshold from the destination's window), updated when the window changes, deleted with the
 * destination and by the stack's teardown.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

const RUN = randomUUID().slice(0, 8);
const REGION = 'us-east-1';
const TOPIC = `arn:aws:sns:${REGION}:123456789012:alarms-${RUN}`;
const namePrefix = `it-alarm-${RUN}`;
const endpoint = () => inject('awsEndpoint');

let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let cloudwatch: CloudWatchClient;
let secrets: SecretsManagerClient;
let store: DestinationStore;

function s3Destination(id: string, flushIntervalSec: number): Destination {
  const config = parseConfig({
    vendor: 'acme',
    destinations: [
      {
        id,
        type: 'S3',
        name: id,
        customerExternalId: `acct_${id}`,
        bucket: `alarm-${id}-${RUN}`,
        region: REGION,
        flushIntervalSec,
        maxEvents: 10,
        auth: {
          mode: 'ASSUME_ROLE',
          roleArn: 'arn:aws:iam::123456789012:role/Writer',
          externalId: `ext-${id}-7Pq2`,
        },
      },
    ],
  });
  return config.destinations[0] as Destination;
}

function recordOf(destination: Destination, version = 1): DestinationRecord {
  const at = new Date().toISOString();
  return {
    destination,
    version,
    desired: 'ACTIVE',
    status: 'PROVISIONING',
    createdAt: at,
    updatedAt: at,
    updatedBy: 'AKIATEST',
  };
}

const noMappings: MappingPort = {
  ensure: async () => undefined,
  remove: async () => undefined,
  list: async () => [],
};

function provisioner() {
  return createProvisioner({
    store,
    sqs,
    mappings: noMappings,
    deleteSecret: secretsManagerDeleter(secrets),
    namePrefix,
    mappingCallsPerSecond: 1000,
    alarms: cloudWatchQueueAlarms({ cloudwatch, namePrefix, actions: [TOPIC], callsPerSecond: 1000 }),
    teardownRetry: { rounds: 1, delayMs: 0 },
  });
}

async function alarmOf(id: string): Promise<MetricAlarm | undefined> {
  const { MetricAlarms = [] } = await cloudwatch.send(
    new DescribeAlarmsCommand({ AlarmNames: [queueAgeAlarmName(namePrefix, id)] }),
  );
  return MetricAlarms[0];
}

beforeAll(async () => {
  sqs = new SQSClient({ endpoint: endpoint(), region: REGION });
  dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION });
  cloudwatch = new CloudWatchClient({ endpoint: endpoint(), region: REGION });
  secrets = new SecretsManagerClient({ endpoint: endpoint(), region: REGION });
  const provisioned = await provision({
    config: { ...parseConfig({ vendor: 'acme' }), destinations: [] },
    namePrefix,
    target: { endpoint: endpoint(), region: REGION },
  });
  store = new DestinationStore(dynamodb, provisioned.tables.destinations as string);
});

afterAll(() => {
  for (const client of [sqs, dynamodb, cloudwatch, secrets]) client?.destroy();
});

describe("the provisioner's queue-age alarm", () => {
  it("is put with the queue, on the queue's age, at the destination's window plus one attempt", async () => {
    const destination = s3Destination('age-a', 30);
    await store.create(recordOf(destination));
    await provisioner().converge(destination.id);

    const alarm = await alarmOf(destination.id);
    expect(alarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: queueNames(namePrefix, destination.id).queue }],
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: allowedAgeSeconds(destination),
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
    });
    // 30 s window + the visibility timeout: above the window itself, far below the 24 h retry horizon.
    expect(alarm?.Threshold).toBeGreaterThan(30);
    expect(alarm?.Threshold).toBeLessThan(3600);
  });

  it('follows a change of window, and goes with the destination', async () => {
    const before = s3Destination('age-b', 10);
    await store.create(recordOf(before));
    await provisioner().converge(before.id);
    const first = (await alarmOf(before.id))?.Threshold;

    const after = s3Destination('age-b', 120);
    await store.replace(recordOf(after, 2), 1);
    await provisioner().converge(after.id);
    const second = (await alarmOf(after.id))?.Threshold;
    expect(second).toBe(allowedAgeSeconds(after));
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(110);

    const current = await store.get(after.id);
    await store.replace({ ...(current as DestinationRecord), desired: 'DELETED', version: 3 }, 2);
    await provisioner().converge(after.id);
    expect(await store.get(after.id)).toBeUndefined();
    expect(await alarmOf(after.id)).toBeUndefined();
  });

  it('is deleted by the teardown, and deleting an alarm already gone is done', async () => {
    const destination = s3Destination('age-c', 5);
    await store.create(recordOf(destination));
    await provisioner().converge(destination.id);
    expect(await alarmOf(destination.id)).toBeDefined();

    await provisioner().teardownAll();
    expect(await alarmOf(destination.id)).toBeUndefined();
    await expect(
      cloudWatchQueueAlarms({ cloudwatch, namePrefix }).remove([destination.id, 'never-was']),
    ).resolves.toBeUndefined();
  });
});
