import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
  ResourceNotFound,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { cloudWatchQueueAlarms } from '../../lambdas/adapters/queue-alarms.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { allowedAgeSeconds, queueAgeAlarm } from '../../lambdas/core/queue-age-alarm.js';
import type { Destination } from '../../lambdas/destinations/index.js';

const cw = mockClient(CloudWatchClient);

function destination(flushIntervalSec: number, type: 'S3' | 'EVENTBRIDGE' = 'S3'): Destination {
  const common = {
    id: 'acme-raw',
    name: 'raw',
    customerExternalId: 'acct_1',
    region: 'us-east-1',
    auth: { mode: 'ASSUME_ROLE', roleArn: 'arn:aws:iam::123456789012:role/W', externalId: 'ext-1234-abcd' },
  };
  const config = parseConfig({
    vendor: 'acme',
    destinations: [
      type === 'S3'
        ? { ...common, type, bucket: 'acme-raw-bucket', flushIntervalSec, maxEvents: 10 }
        : { ...common, type, busArn: 'arn:aws:events:us-east-1:123456789012:event-bus/b' },
    ],
  });
  return config.destinations[0] as Destination;
}

beforeEach(() => cw.reset());

describe('the queue-age alarm', () => {
  it('allows one window plus one visibility timeout, and grows with the window', () => {
    expect(allowedAgeSeconds(destination(300))).toBeGreaterThan(allowedAgeSeconds(destination(10)));
    expect(allowedAgeSeconds(destination(300)) - allowedAgeSeconds(destination(10))).toBeGreaterThanOrEqual(
      290,
    );
    const spec = queueAgeAlarm('Pushrail', destination(0, 'EVENTBRIDGE'), ['arn:aws:sns:us-east-1:1:t']);
    expect(spec).toMatchObject({
      AlarmName: 'Pushrail-acme-raw-queue-age',
      Dimensions: [{ Name: 'QueueName', Value: 'Pushrail-acme-raw' }],
      AlarmActions: ['arn:aws:sns:us-east-1:1:t'],
    });
    expect(spec.AlarmDescription).toContain('npx pushrail health --destination acme-raw');
  });

  it('is put once while its settings stay the same, and again when they change', async () => {
    cw.on(PutMetricAlarmCommand).resolves({});
    const alarms = cloudWatchQueueAlarms({
      cloudwatch: new CloudWatchClient({}),
      namePrefix: 'Pushrail',
      callsPerSecond: 1000,
    });
    await alarms.ensure(destination(10));
    await alarms.ensure(destination(10));
    expect(cw.commandCalls(PutMetricAlarmCommand)).toHaveLength(1);
    await alarms.ensure(destination(20));
    expect(cw.commandCalls(PutMetricAlarmCommand)).toHaveLength(2);
  });

  it('deletes one by one when a name of the batch is missing, a missing one counting as deleted', async () => {
    const missing = new ResourceNotFound({ message: 'not found', $metadata: {} });
    cw.on(DeleteAlarmsCommand).callsFake((input: { AlarmNames: string[] }) => {
      if (input.AlarmNames.includes('Pushrail-gone-queue-age')) throw missing;
      return {};
    });
    const alarms = cloudWatchQueueAlarms({
      cloudwatch: new CloudWatchClient({}),
      namePrefix: 'Pushrail',
      callsPerSecond: 1000,
    });
    await expect(alarms.remove(['a', 'gone', 'b'])).resolves.toBeUndefined();
    const calls = cw.commandCalls(DeleteAlarmsCommand).map((c) => c.args[0].input.AlarmNames);
    expect(calls).toEqual([
      ['Pushrail-a-queue-age', 'Pushrail-gone-queue-age', 'Pushrail-b-queue-age'],
      ['Pushrail-a-queue-age'],
      ['Pushrail-gone-queue-age'],
      ['Pushrail-b-queue-age'],
    ]);
  });

  it('passes any other error on', async () => {
    cw.on(DeleteAlarmsCommand).rejects(Object.assign(new Error('slow down'), { name: 'Throttling' }));
    const alarms = cloudWatchQueueAlarms({
      cloudwatch: new CloudWatchClient({}),
      namePrefix: 'Pushrail',
      callsPerSecond: 1000,
    });
    await expect(alarms.remove(['a'])).rejects.toThrow('slow down');
  });
});
