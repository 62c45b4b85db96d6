import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import { addDelta, latencyBucket } from '../../lambdas/core/health-rollup.js';

/**
 * Attempt items and health rollups once per delivery batch (adapters/attempt-log.ts `buffered`): an
 * EventBridge batch of 100 events makes 10 PutEvents calls, hence 10 attempt records, but one item per
 * outcome and one rollup write per minute.
 */

const dynamodb = mockClient(DynamoDBClient);
afterEach(() => dynamodb.reset());

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `evt_${from + i}`);
const AT = new Date('2026-12-01T10:00:10.000Z');
const LATER = new Date('2026-12-01T10:00:40.000Z');
const NEXT_MINUTE = new Date('2026-12-01T10:01:05.000Z');

describe('buffered attempt records and health rollups', () => {
  it('writes one item per outcome and one rollup per destination and minute, at the flush', async () => {
    dynamodb.on(PutItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({});
    const log = new AttemptLog(new DynamoDBClient({}), 'attempts', 3600, { buffered: true });
    const call = (n: number, at: Date, latencyMs: number, extra = {}) =>
      log.record(
        {
          destinationId: 'bus',
          destinationType: 'EVENTBRIDGE',
          eventIds: ids(10, n * 10),
          outcome: 'delivered',
          latencyMs,
          target: 'arn:aws:events:us-east-1:111122223333:event-bus/orders',
          joinsBatch: true,
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
    expect(dynamodb.commandCalls(PutItemCommand)).toHaveLength(0);
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(0);

    await log.flush();
    const items = dynamodb.commandCalls(PutItemCommand).map((c) => unmarshall(c.args[0].input.Item ?? {}));
    expect(items).toHaveLength(2);
    const delivered = items.find((i) => i.outcome === 'delivered');
    // Three calls, 30 events: the first 10 named, all counted, the slowest call's latency.
    expect(delivered).toMatchObject({
      destinationId: 'bus',
      eventIds: ids(10),
      feedEventIds: ids(10),
      eventCount: 30,
      calls: 3,
      latencyMs: 45,
      target: 'arn:aws:events:us-east-1:111122223333:event-bus/orders',
      attemptedAt: AT.toISOString(),
    });
    expect(items.find((i) => i.outcome === 'failed')).toMatchObject({
      eventIds: ids(10, 20),
      eventCount: 10,
      calls: 1,
      errorCode: 'ThrottlingException',
      attemptedAt: LATER.toISOString(),
    });
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
    await log.flush();
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(2);
    expect(dynamodb.commandCalls(PutItemCommand)).toHaveLength(2);
  });

  it('keeps an item per S3 part and per webhook POST, and every event id of a record of trouble', async () => {
    dynamodb.on(PutItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({});
    const log = new AttemptLog(new DynamoDBClient({}), 'attempts', 3600, { buffered: true });
    for (const part of ['part-a', 'part-b'])
      await log.record(
        {
          destinationId: 's3',
          destinationType: 'S3',
          eventIds: ids(500),
          outcome: 'delivered',
          target: part,
        },
        AT,
      );
    for (const n of [1, 2])
      await log.record(
        {
          destinationId: 'hook',
          destinationType: 'WEBHOOK',
          eventIds: ids(5, n * 5),
          outcome: 'delivered',
          target: 'https://hooks.example.com/in',
          httpStatus: 200,
        },
        AT,
      );
    await log.record(
      {
        destinationId: 's3',
        destinationType: 'S3',
        eventIds: ids(40),
        outcome: 'dead-lettered',
        target: 'dlq',
      },
      AT,
    );
    await log.flush();
    const items = dynamodb.commandCalls(PutItemCommand).map((c) => unmarshall(c.args[0].input.Item ?? {}));
    expect(items.map((i) => [i.destinationId, i.target, i.eventCount, i.eventIds.length])).toEqual([
      ['s3', 'part-a', 500, 10],
      ['s3', 'part-b', 500, 10],
      ['hook', 'https://hooks.example.com/in', 5, 5],
      ['hook', 'https://hooks.example.com/in', 5, 5],
      ['s3', 'dlq', 40, 40],
    ]);
    // The index projects the first ten of any list.
    expect(items[4]?.feedEventIds).toEqual(ids(10));
  });

  it('keeps the latest error of the attempts it merges', () => {
    const early = { at: '2026-12-01T10:00:01.000Z', errorCode: 'A', reason: 'a' };
    const late = { at: '2026-12-01T10:00:09.000Z', errorCode: 'B', reason: 'b' };
    const zero = { delivered: 0, failed: 1, deadLettered: 0, replayed: 0 };
    const merged = addDelta(addDelta(undefined, { ...zero, lastError: late }), { ...zero, lastError: early });
    expect(merged).toMatchObject({ failed: 2, lastError: late });
  });

  it('writes the item and the rollup with the record when not buffering, naming 10 events of 1,000', async () => {
    dynamodb.on(PutItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({});
    const log = new AttemptLog(new DynamoDBClient({}), 'attempts', 3600);
    await log.record(
      { destinationId: 's3', destinationType: 'S3', eventIds: ids(1000), outcome: 'delivered', latencyMs: 9 },
      AT,
    );
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(1);
    const [put] = dynamodb.commandCalls(PutItemCommand);
    const item = unmarshall(put?.args[0].input.Item ?? {});
    expect(item).toMatchObject({ eventIds: ids(10), eventCount: 1000, calls: 1 });
    // About one write unit whatever the part's size (it was 36 for a 1,000-event part).
    expect(JSON.stringify(item).length).toBeLessThan(1024);
  });
});
