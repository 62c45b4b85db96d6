import { type Destination, deliverySettings } from '../destinations/index.js';
import { QUEUE_SETTINGS } from './resources.js';

/**
 * A destination's queue and DLQ attributes: the one description the CDK stack's queues are checked
 * against (test/infra/kind-parity.test.ts), and what the local runtime and the provisioner create.
 */

/** A destination queue's attributes, as the stack's DestinationQueue sets them. */
export function destinationQueueAttributes(destination: Destination, dlqArn: string): Record<string, string> {
  return {
    MessageRetentionPeriod: String(QUEUE_SETTINGS.retentionSeconds),
    VisibilityTimeout: String(deliverySettings(destination).visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount,
    }),
  };
}

/** A destination DLQ's attributes: kept 14 days, SQS's maximum, for replay. */
export function deadLetterQueueAttributes(): Record<string, string> {
  return { MessageRetentionPeriod: String(QUEUE_SETTINGS.dlqRetentionSeconds) };
}
