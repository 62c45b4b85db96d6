import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, inject, it } from 'vitest';

/**
 * The scale test's moto rolls a cancelled transaction back item by item instead of copying whole
 * tables (test/support/moto_server_item_rollback.py). This proves the rollback still undoes every
 * write of a cancelled transaction: an update, a put of a new item and a delete, in a table with a
 * sort key and one without.
 */
describe('moto with item-level transaction rollback', () => {
  const client = new DynamoDBClient({ endpoint: inject('awsEndpoint'), region: 'us-east-1' });

  it('leaves every item as it was when a transaction is cancelled', async () => {
    const table = `rollback-${Date.now()}`;
    const ranged = `${table}-ranged`;
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      }),
    );
    await client.send(
      new CreateTableCommand({
        TableName: ranged,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
      }),
    );
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'a' }, n: { N: '1' } } }));
    await client.send(
      new PutItemCommand({ TableName: ranged, Item: { pk: { S: 'r' }, sk: { S: '1' }, n: { N: '1' } } }),
    );

    const cancelled = client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName: table,
              Key: { pk: { S: 'a' } },
              UpdateExpression: 'SET n = :n',
              ExpressionAttributeValues: { ':n': { N: '2' } },
            },
          },
          { Put: { TableName: table, Item: { pk: { S: 'new' } } } },
          { Delete: { TableName: ranged, Key: { pk: { S: 'r' }, sk: { S: '1' } } } },
          { Put: { TableName: ranged, Item: { pk: { S: 'r' }, sk: { S: '2' } } } },
          {
            ConditionCheck: {
              TableName: table,
              Key: { pk: { S: 'absent' } },
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    );
    await expect(cancelled).rejects.toBeInstanceOf(TransactionCanceledException);

    const get = async (name: string, key: Record<string, { S: string }>) =>
      (await client.send(new GetItemCommand({ TableName: name, Key: key, ConsistentRead: true }))).Item;
    expect(await get(table, { pk: { S: 'a' } })).toEqual({ pk: { S: 'a' }, n: { N: '1' } });
    expect(await get(table, { pk: { S: 'new' } })).toBeUndefined();
    expect(await get(ranged, { pk: { S: 'r' }, sk: { S: '1' } })).toEqual({
      pk: { S: 'r' },
      sk: { S: '1' },
      n: { N: '1' },
    });
    expect(await get(ranged, { pk: { S: 'r' }, sk: { S: '2' } })).toBeUndefined();
  });
});
