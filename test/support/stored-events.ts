import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { type StoredEvent, storedEventOf } from '../../lambdas/adapters/event-store.js';

/**
 * Every event in an events table, read back as the event store reads it (the record inflated, the
 * fields it holds read from it), so tests filter on what a reader sees rather than on the item's layout.
 */
export async function scanStoredEvents(client: DynamoDBClient, tableName: string): Promise<StoredEvent[]> {
  const items: StoredEvent[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []).map(storedEventOf));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}
