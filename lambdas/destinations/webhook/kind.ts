import { defineKind } from '../kind.js';
import { WEBHOOK_FAILURES } from './classification.js';
import { WebhookDestinationSchema } from './schema.js';

/**
 * The webhook kind: the webhook sender takes what the event source mapping gathered within
 * `flushIntervalSec`, at most `maxEvents`, and posts it in signed requests of at most `maxEvents`
 * events and `batchSizeKb` bytes, with at most `maxConcurrency` invocations at once (the mapping's
 * MaximumConcurrency), so a customer's endpoint sees a bounded number of requests in flight. It needs
 * nothing in the customer's AWS account, and builds its requests from the queued messages alone.
 */
export const webhookKind = defineKind({
  title: 'Webhook',
  schema: WebhookDestinationSchema,
  // No AWS access in the customer's account: the customer's side is an HTTPS endpoint.
  customerPermissions: () => [],
  classification: WEBHOOK_FAILURES,
  delivery: {
    label: 'webhook sender',
    functionId: 'WebhookSender',
    serviceName: 'pushrail-webhook-sender',
    entry: 'lambdas/destinations/webhook/handler.ts',
    // A batch of up to 1,000 events may take several requests of up to 30 s each, one at a time.
    timeoutSeconds: 300,
    memoryMb: 512,
    readsStoredEvents: false,
    usesSeals: false,
    customerAccess: 'HTTPS',
    eventSource: (d) => ({
      batchSize: d.maxEvents,
      windowSeconds: d.flushIntervalSec,
      maxConcurrency: d.maxConcurrency,
    }),
    describe: (d) => `Pushrail webhook sender: destination ${d.id}`,
  },
  local: {
    fields: [],
    customerSide: 'lambdas/destinations/webhook/local-customer.ts',
  },
});
