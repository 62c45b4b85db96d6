import type { SQSClient } from '@aws-sdk/client-sqs';
import { expect } from 'vitest';
import { type EventStore, storedEventFor } from '../../lambdas/adapters/event-store.js';
import { sendBatch } from '../../lambdas/adapters/sqs-queue.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { toMessage } from '../../lambdas/core/queue-message.js';

/** Stores accepted events for one destination and puts them on its queue, as ingest does. */
export async function storeAndEnqueue(
  stores: { readonly events: EventStore; readonly sqs: SQSClient },
  queueUrl: string,
  destinationId: string,
  records: readonly EventRecord[],
): Promise<void> {
  for (const record of records) {
    await stores.events.putIfAbsent(
      storedEventFor(record, {
        bodyHash: 'test',
        destinations: [destinationId],
        expiresAt: Math.floor(Date.now() / 1000) + 3600,
      }),
    );
  }
  const { failed } = await sendBatch(
    stores.sqs,
    queueUrl,
    records.map((r) => ({ key: r.eventId, ...toMessage(r) })),
  );
  expect(failed).toEqual([]);
}
