import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditCursorError, AuditLog } from '../../lambdas/adapters/audit-log.js';

/** The audit query's paging: a filtered page that finds more than fits stops after the last entry answered. */

const dynamodb = mockClient(DynamoDBClient);
afterEach(() => dynamodb.reset());

const item = (n: number) =>
  marshall({
    pk: 'audit',
    sk: `2026-12-01T10:00:0${n}.000Z#id${n}`,
    at: `2026-12-01T10:00:0${n}.000Z`,
    who: 'AKIATEST',
    action: 'destination.updated',
    destinationId: 'd1',
    customerExternalId: 'c1',
  });

describe('AuditLog.query', () => {
  it('cuts a filtered page at the page size and continues from the last entry answered', async () => {
    dynamodb.on(QueryCommand).resolves({
      Items: [item(5), item(4), item(3)],
      ScannedCount: 9,
      LastEvaluatedKey: marshall({ pk: 'audit', sk: '2026-12-01T10:00:00.000Z#id0' }),
    });
    const log = new AuditLog(new DynamoDBClient({ region: 'us-east-1' }), 'audit', { pageSize: 2 });
    const page = await log.query({ destinationId: 'd1', from: '2026-12-01T00:00:00.000Z' });
    expect(page.entries.map((e) => e.at)).toEqual(['2026-12-01T10:00:05.000Z', '2026-12-01T10:00:04.000Z']);
    const cursor = JSON.parse(Buffer.from(page.cursor as string, 'base64url').toString());
    expect(cursor).toEqual({ pk: 'audit', sk: '2026-12-01T10:00:04.000Z#id4' });
    const input = dynamodb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      ScanIndexForward: false,
      FilterExpression: '#destinationId = :destinationId',
    });

    await log.query({ destinationId: 'd1', cursor: page.cursor as string });
    expect(dynamodb.commandCalls(QueryCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual(
      marshall({ pk: 'audit', sk: '2026-12-01T10:00:04.000Z#id4' }),
    );
  });

  it('refuses a cursor it did not hand out', async () => {
    const log = new AuditLog(new DynamoDBClient({ region: 'us-east-1' }), 'audit');
    const forged = Buffer.from(JSON.stringify({ pk: 'other', sk: 'x' })).toString('base64url');
    await expect(log.query({ cursor: forged })).rejects.toBeInstanceOf(AuditCursorError);
    expect(dynamodb.commandCalls(QueryCommand)).toHaveLength(0);
  });
});
