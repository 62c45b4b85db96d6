import { defineKind } from '../kind.js';
import { EVENTBRIDGE_FAILURES } from './classification.js';
import { EventBridgeDestinationSchema } from './schema.js';

/**
 * The EventBridge kind: the EventBridge sender delivers within about a second, in batches of 100 that
 * PutEvents splits by 10, builds its entries from the queued messages alone (no stored-event reads),
 * and runs at most `maxConcurrency` invocations, so one customer's PutEvents quota is never flooded
 * however deep the queue gets.
 */
/** The sender's batches: what arrived within a second, at most 100 (PutEvents then splits by 10). */
export const EVENTBRIDGE_BATCHING = { batchSize: 100, windowSeconds: 1 } as const;

export const eventBridgeKind = defineKind({
  title: 'EventBridge',
  schema: EventBridgeDestinationSchema,
  customerPermissions: (d) => [
    {
      Sid: 'PushrailPutEvents',
      Effect: 'Allow',
      // DescribeEventBus: EventBridge answers success for a bus that does not exist, so delivery checks it.
      Action: ['events:PutEvents', 'events:DescribeEventBus'],
      Resource: d.busArn,
    },
  ],
  classification: EVENTBRIDGE_FAILURES,
  delivery: {
    label: 'EventBridge sender',
    functionId: 'EventBridgeSender',
    serviceName: 'pushrail-eventbridge-sender',
    entry: 'lambdas/destinations/eventbridge/handler.ts',
    timeoutSeconds: 60,
    memoryMb: 512,
    readsStoredEvents: false,
    customerAccess: 'AWS',
    usesSeals: false,
    eventSource: (d) => ({ ...EVENTBRIDGE_BATCHING, maxConcurrency: d.maxConcurrency }),
    describe: (d) => `Pushrail EventBridge sender: destination ${d.id}`,
  },
  local: {
    fields: ['busArn', 'inboxQueueUrl'],
    customerSide: 'lambdas/destinations/eventbridge/local-customer.ts',
  },
});
