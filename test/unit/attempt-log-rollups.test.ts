import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import { addDelta, latencyBucket } from '../../lambdas/core/health-rollup.js';

/**
 * Health rollups once per delivery batch (adapters/attempt-log.ts `bufferRollups`): an EventBridge
 * batch of 100 events makes 10 PutEvents calls, hence 10 attempt records, but one rollup write.
 */

const dynamodb = mockClient(DynamoDBClient);
afterEach(() => dynamodb.reset());

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `evt_${from + i}`);
const AT = new Date('2026-12-01T10:00:10.000Z');
const LATER = new Date('2026-12-01T10:00:40.000Z');
const NEXT_MINUTE = new Date('2026-12-01T10:01:05.000Z');

describe('buffered health rollups', () => {
  it('writes every attempt record at once and one rollup per destination and minute at the flush', async () => {
    dynamodb.on(PutItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({});
    const log = new AttemptLog(new DynamoDBClient({}), 'attempts', 3600, { bufferRollups: true });
    const call = (n: number, at: Date, latencyMs: number, extra = {}) =>
      log.record(
        {
          destinationId: 'bus',
          destinationType: 'EVENTBRIDGE',
          eventIds: ids(10, n * 10),
          outcome: 'delivered',
          latencyMs,
          ...extra,
        },
        at,
      );
    await call(0, AT, 40);
    await call(1, AT, 45);
    await call(2, LATER, 300, {
      outcome: 'failed',
      errorCode: 'ThrottlingException',
      errorMessage: 'slow down',
    });
    await call(3, NEXT_MINUTE, 12);
    expect(dynamodb.commandCalls(PutItemCommand)).toHaveLength(4);
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(0);

    await log.flushRollups();
    const updates = dynamodb.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    expect(updates).toHaveLength(2);
    const first = updates[0];
    expect(unmarshall(first?.Key ?? {})).toEqual({ destinationId: 'health#bus', sk: 'm#2026-12-01T10:00' });
    const values = unmarshall(first?.ExpressionAttributeValues ?? {});
    expect(values).toMatchObject({
      ':delivered': 20,
      ':failed': 10,
      [`:l${latencyBucket(40)}`]: 2,
      [`:l${latencyBucket(300)}`]: 1,
      ':errCode': 'ThrottlingException',
    });
    expect(unmarshall(updates[1]?.Key ?? {}).sk).toBe('m#2026-12-01T10:01');

    // Flushed means gone: a second flush writes nothing.
    await log.flushRollups();
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(2);
  });

  it('keeps the latest error of the attempts it merges', () => {
    const early = { at: '2026-12-01T10:00:01.000Z', errorCode: 'A', reason: 'a' };
    const late = { at: '2026-12-01T10:00:09.000Z', errorCode: 'B', reason: 'b' };
    const zero = { delivered: 0, failed: 1, deadLettered: 0, replayed: 0 };
    const merged = addDelta(addDelta(undefined, { ...zero, lastError: late }), { ...zero, lastError: early });
    expect(merged).toMatchObject({ failed: 2, lastError: late });
  });

  it('writes the rollup with the record when not buffering', async () => {
    dynamodb.on(PutItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({});
    const log = new AttemptLog(new DynamoDBClient({}), 'attempts', 3600);
    await log.record(
      { destinationId: 's3', destinationType: 'S3', eventIds: ids(3), outcome: 'delivered', latencyMs: 9 },
      AT,
    );
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(1);
  });
});
