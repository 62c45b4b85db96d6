import type { CanonicalEvent } from '../../lambdas/core/event.js';

/**
 * The seeds' example event, exactly as a producer POSTs it. Treat it as read-only: copy it
 * (`structuredClone(seedEvent)` or a spread) before changing a field.
 */
export const seedEvent = {
  eventType: 'order.completed',
  occurredAt: '2026-05-26T14:21:08.493Z',
  source: 'billing-service',
  customerExternalId: 'acct_8K2zRq',
  idempotencyKey: 'order_38a91f-completed',
  correlationId: 'req_4f30b2',
  payload: {
    orderId: 'ord_38a91f',
    amount: 12900,
    currency: 'USD',
    items: [{ sku: 'PR-PRO-MONTHLY', qty: 1, price: 12900 }],
  },
  metadata: { tier: 'pro', region: 'us-east-1' },
} as const satisfies CanonicalEvent;
