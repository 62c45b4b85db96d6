import { z } from 'zod';
import { type Destination, DestinationSchema } from '../destinations/index.js';

/**
 * A destination as the destinations table keeps it (DESIGN.md "Management API"): the validated
 * config entry, what the operator asked for, and what the provisioner has made of it.
 *
 * `version` is the ETag: it starts at 1 and goes up by one with every change an operator makes
 * (create, update, pause, resume, delete). The provisioner's own writes (`status`, `statusReason`,
 * the queue URLs) leave it alone, so an `If-Match` taken before provisioning finished still holds.
 */

export const DESTINATION_STATUSES = ['PROVISIONING', 'ACTIVE', 'PAUSED', 'DELETING', 'FAILED'] as const;
export type DestinationStatus = (typeof DESTINATION_STATUSES)[number];

/** What the operator asked for; the provisioner converges the real resources to it. */
export const DESIRED_STATES = ['ACTIVE', 'PAUSED', 'DELETED'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

export interface DestinationRecord {
  /** The validated destination, exactly as the config file would hold it (secrets only by ARN). */
  readonly destination: Destination;
  readonly version: number;
  readonly desired: DesiredState;
  /** With `desired: DELETED`: move what is left in the queue to the DLQ instead of waiting for it to drain. */
  readonly forceDelete?: boolean;
  readonly status: DestinationStatus;
  /** Why the status is what it is (the AWS error of a failing step, the reason of a pause). */
  readonly statusReason?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The principal ARN (AWS) or access key id (local runtime) of the last operator change. */
  readonly updatedBy: string;
  /** Set by the provisioner once the queues exist. */
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
  /**
   * The Secrets Manager secret Pushrail created for keys posted to the API (ACCESS_KEY with raw keys):
   * Pushrail owns it and deletes it with the destination. A secretArn the caller gave is not ours.
   */
  readonly ownedSecretArn?: string;
  /**
   * The access key id of the keys in `ownedSecretArn`, masked (`AKIA…WXYZ`), so answers can show which
   * key is in use without reading the secret. Never the whole id.
   */
  readonly maskedAccessKeyId?: string;
  /**
   * Why Pushrail itself paused the destination (a webhook's 410, control/auto-pause.ts): kept as the
   * statusReason while it stays paused, dropped by a resume.
   */
  readonly pauseReason?: string;
  /** A WEBHOOK's Standard Webhooks signing secrets, which Pushrail owns and deletes with it. */
  readonly signingSecretArn?: string;
}

/** Parses a stored item; a record that no longer parses is a bug or a manual edit, never user input. */
export const DestinationRecordSchema = z.object({
  destination: DestinationSchema,
  version: z.number().int().min(1),
  desired: z.enum(DESIRED_STATES),
  forceDelete: z.boolean().optional(),
  status: z.enum(DESTINATION_STATUSES),
  statusReason: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
  queueUrl: z.string().optional(),
  dlqUrl: z.string().optional(),
  ownedSecretArn: z.string().optional(),
  maskedAccessKeyId: z.string().optional(),
  pauseReason: z.string().optional(),
  signingSecretArn: z.string().optional(),
});

/**
 * Whether ingest routes new events to the destination: once the provisioner has made its queue (the
 * record has `queueUrl`), in every state but a requested delete. Routing before the queue exists
 * could only fail the producer's request with a 503 until it does; an event posted before that
 * moment is not one this destination was set up to receive.
 */
export function isRouted(record: Pick<DestinationRecord, 'desired' | 'queueUrl'>): boolean {
  return record.desired !== 'DELETED' && record.queueUrl !== undefined;
}
