import { z } from 'zod';
import type { EventRecord } from './event.js';
import { deriveEventId } from './event-id.js';

/**
 * The test send (DESIGN.md "Management API", `POST /v1/destinations/{id}/test`): one synthetic event
 * through a destination's real delivery path, answered with the attempt. The management function asks
 * the kind's consumer function for it with a `TestSendRequest` instead of an SQS event.
 */

/** The eventType of the synthetic event: a customer's rules and queries can tell it apart. */
export const TEST_EVENT_TYPE = 'pushrail.test';

/** What the management function sends the kind's consumer (Lambda Invoke, RequestResponse). */
export const TestSendRequestSchema = z.strictObject({
  pushrailTest: z.strictObject({ destinationId: z.string().min(1).max(40) }),
});
export type TestSendRequest = z.output<typeof TestSendRequestSchema>;

/** Whether a consumer's event is a test send rather than an SQS batch (which has `Records`). */
export function isTestSendRequest(event: unknown): event is TestSendRequest {
  return event !== null && typeof event === 'object' && 'pushrailTest' in event;
}

/**
 * The attempt a test send answers, with the fields of an attempt in the trace (DESIGN.md "Trace"),
 * plus `failureClass` (whether retrying can help) and the synthetic event's id (to find it on the
 * customer's side). Never a credential: `reason` is sanitized (core/failure-classification.ts).
 */
export const TestAttemptSchema = z.object({
  outcome: z.enum(['delivered', 'failed']),
  latencyMs: z.number().int().min(0),
  eventId: z.string().optional(),
  errorCode: z.string().optional(),
  failureClass: z.enum(['transient', 'permanent']).optional(),
  reason: z.string().optional(),
  /** S3: `s3://bucket/key`; EventBridge: the entry's EventId. */
  target: z.string().optional(),
});
export type TestAttempt = z.output<typeof TestAttemptSchema>;

/**
 * The synthetic event of one test send, for a destination's customer. Its idempotencyKey is unique per
 * send (so is its eventId, derived from it as ingest derives every eventId); it is never stored in the
 * events table, routed, or enqueued.
 */
export function testEventRecord(
  destination: { readonly id: string; readonly customerExternalId: string },
  at: Date,
  nonce: string,
): EventRecord {
  const idempotencyKey = `pushrail-test-${nonce}`;
  const time = at.toISOString();
  return {
    eventType: TEST_EVENT_TYPE,
    occurredAt: time,
    source: 'pushrail',
    customerExternalId: destination.customerExternalId,
    idempotencyKey,
    payload: {
      destinationId: destination.id,
      message: 'Pushrail test send: this destination is set up to receive events. Safe to ignore.',
    },
    eventId: deriveEventId(destination.customerExternalId, idempotencyKey),
    receivedAt: time,
  };
}
