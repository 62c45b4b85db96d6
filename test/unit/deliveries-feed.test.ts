import { describe, expect, it } from 'vitest';
import {
  bucketInWindow,
  decodeFeedCursor,
  deliveryOf,
  encodeFeedCursor,
  FEED_INDEX,
  feedBucket,
  feedQueryInput,
  firstBucket,
  parseFeedQuery,
  previousBucket,
} from '../../lambdas/core/deliveries-feed.js';

const NOW = new Date('2026-05-26T14:37:12.345Z');

function parsed(params: Parameters<typeof parseFeedQuery>[0]) {
  const result = parseFeedQuery(params, NOW);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.query;
}

function issues(params: Parameters<typeof parseFeedQuery>[0]) {
  const result = parseFeedQuery(params, NOW);
  return result.ok ? [] : result.issues.map((i) => i.field);
}

describe('deliveries feed query', () => {
  it('defaults to the last day, 50 deliveries, no filter', () => {
    expect(parsed({})).toEqual({
      from: '2026-05-25T14:37:12.345Z',
      to: '2026-05-26T14:37:12.345Z',
      limit: 50,
    });
  });

  it('bounds limit to 1..200 and names the field beyond it', () => {
    expect(parsed({ limit: '200' }).limit).toBe(200);
    expect(parsed({ limit: '1' }).limit).toBe(1);
    for (const limit of ['0', '201', '-1', '1.5', 'ten', '']) expect(issues({ limit })).toEqual(['limit']);
  });

  it('refuses bad from, to, outcome, destinationId and cursor, naming each field', () => {
    expect(issues({ from: 'yesterday' })).toEqual(['from']);
    expect(issues({ to: '2026-05-26T14:00:00' })).toEqual(['to']);
    expect(issues({ from: '2026-05-26T15:00:00Z', to: '2026-05-26T14:00:00Z' })).toEqual(['from']);
    expect(issues({ outcome: 'ok' })).toEqual(['outcome']);
    expect(issues({ destinationId: 'Not_An_Id' })).toEqual(['destinationId']);
    expect(issues({ cursor: 'bm90LWEtY3Vyc29y' })).toEqual(['cursor']);
    expect(issues({ cursor: '!!!' })).toEqual(['cursor']);
    expect(issues({ outcome: 'x', limit: '0', from: 'x' }).sort()).toEqual(['from', 'limit', 'outcome']);
  });

  it('accepts every outcome an attempt record has', () => {
    for (const outcome of ['delivered', 'failed', 'dead-lettered', 'retry-scheduled', 'replayed'])
      expect(parsed({ outcome }).outcome).toBe(outcome);
  });

  it('takes times with an offset as the same instant in UTC', () => {
    expect(parsed({ from: '2026-05-26T16:00:00+02:00' }).from).toBe('2026-05-26T14:00:00.000Z');
  });
});

describe('deliveries feed cursor', () => {
  it('round-trips both kinds as base64url', () => {
    const onIndex = {
      b: 'feed#2026-05-26T14:30',
      k: { feed: 'feed#2026-05-26T14:30', destinationId: 'acme-s3', sk: '2026-05-26T14:31:00.000Z#x' },
    };
    const text = encodeFeedCursor(onIndex);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeFeedCursor(text)).toEqual(onIndex);
    const onDestination = { d: { destinationId: 'acme-s3', sk: '2026-05-26T14:31:00.000Z#x' } };
    expect(decodeFeedCursor(encodeFeedCursor(onDestination))).toEqual(onDestination);
  });

  it('refuses a cursor with other fields or keys, and one made for the other kind of query', () => {
    const forged = Buffer.from(JSON.stringify({ d: { destinationId: 'a', sk: 'x', extra: 1 } })).toString(
      'base64url',
    );
    expect(decodeFeedCursor(forged)).toBeUndefined();
    const badBucket = Buffer.from(JSON.stringify({ b: 'rcpt#x' })).toString('base64url');
    expect(decodeFeedCursor(badBucket)).toBeUndefined();
    const indexCursor = encodeFeedCursor({ b: 'feed#2026-05-26T14:30' });
    expect(issues({ cursor: indexCursor, destinationId: 'acme-s3' })).toEqual(['cursor']);
    expect(parsed({ cursor: indexCursor }).cursor).toEqual({ b: 'feed#2026-05-26T14:30' });
  });
});

describe('deliveries feed buckets', () => {
  it('puts an instant in its 10-minute partition, and walks back one at a time', () => {
    expect(feedBucket(NOW)).toBe('feed#2026-05-26T14:30');
    expect(previousBucket('feed#2026-05-26T14:30')).toBe('feed#2026-05-26T14:20');
    expect(previousBucket('feed#2026-05-27T00:00')).toBe('feed#2026-05-26T23:50');
  });

  it('starts at the bucket of `to` (or the cursor) and stops once a bucket ends before `from`', () => {
    const query = parsed({ from: '2026-05-26T14:05:00Z', to: '2026-05-26T14:37:00Z' });
    expect(firstBucket(query)).toBe('feed#2026-05-26T14:30');
    expect(bucketInWindow('feed#2026-05-26T14:00', query)).toBe(true);
    expect(bucketInWindow('feed#2026-05-26T13:50', query)).toBe(false);
    expect(firstBucket({ ...query, cursor: { b: 'feed#2026-05-26T14:10' } })).toBe('feed#2026-05-26T14:10');
  });
});

describe('deliveries feed queries', () => {
  it('reads one destination from its own partition, the window on the sort key, newest first', () => {
    const query = parsed({
      destinationId: 'acme-s3',
      from: '2026-05-26T14:00:00Z',
      to: '2026-05-26T14:10:00Z',
    });
    expect(feedQueryInput(query, { destinationId: 'acme-s3' })).toEqual({
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': 'destinationId', '#sk': 'sk' },
      ExpressionAttributeValues: {
        ':pk': 'acme-s3',
        ':from': '2026-05-26T14:00:00.000Z',
        ':to': '2026-05-26T14:10:00.000Z#\uffff',
      },
      ScanIndexForward: false,
    });
  });

  it('reads every destination from a bucket of the feed index, customer and outcome as filters', () => {
    const query = parsed({ customerExternalId: 'acme', outcome: 'dead-lettered' });
    const input = feedQueryInput(
      query,
      { bucket: 'feed#2026-05-26T14:30' },
      { destinationId: 'a', sk: 's', feed: 'f' },
    );
    expect(input.IndexName).toBe(FEED_INDEX.name);
    expect(input.ExpressionAttributeNames['#pk']).toBe('feed');
    expect(input.ExpressionAttributeValues[':pk']).toBe('feed#2026-05-26T14:30');
    expect(input.FilterExpression).toBe('#customerExternalId = :customerExternalId AND #outcome = :outcome');
    expect(input.ExpressionAttributeValues[':customerExternalId']).toBe('acme');
    expect(input.ExpressionAttributeValues[':outcome']).toBe('dead-lettered');
    expect(input.ExclusiveStartKey).toEqual({ destinationId: 'a', sk: 's', feed: 'f' });
  });

  it('answers an attempt record in the contract shape, and skips items that are not one', () => {
    expect(
      deliveryOf({
        destinationId: 'acme-s3',
        sk: '2026-05-26T14:31:00.000Z#u',
        feed: 'feed#2026-05-26T14:30',
        attemptedAt: '2026-05-26T14:31:00.000Z',
        destinationType: 'S3',
        customerExternalId: 'acme',
        feedEventIds: ['evt_1'],
        eventCount: 12,
        outcome: 'failed',
        errorCode: 'NoSuchBucket',
        errorMessage: 'bucket gone',
        test: true,
      }),
    ).toEqual({
      at: '2026-05-26T14:31:00.000Z',
      destinationId: 'acme-s3',
      type: 'S3',
      customerExternalId: 'acme',
      eventIds: ['evt_1'],
      eventCount: 12,
      outcome: 'failed',
      errorCode: 'NoSuchBucket',
      reason: 'bucket gone',
      test: true,
    });
    expect(deliveryOf({ destinationId: 'health#acme-s3', sk: 'x', n: 3 })).toBeUndefined();
  });
});
