import { z } from 'zod';
import { MAX_EVENT_TYPE_LENGTH, MAX_ID_LENGTH } from './limits.js';

/** No control characters: these strings end up in DynamoDB keys, log lines and EventBridge resources. */
const printable = /^[^\p{Cc}]+$/u;

const idString = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(MAX_ID_LENGTH, `${what} must be at most ${MAX_ID_LENGTH} characters`)
    .regex(printable, `${what} must not contain control characters`);

const jsonObject = (what: string) =>
  z.record(z.string(), z.unknown(), { error: `${what} must be a JSON object` });

/**
 * The canonical event a producer POSTs (DESIGN.md "Canonical event"). Strict: unknown top-level
 * fields are rejected, so a typo is an error rather than silently dropped data.
 */
export const EventSchema = z.strictObject({
  eventType: z
    .string({ error: 'eventType must be a string' })
    .max(MAX_EVENT_TYPE_LENGTH, `eventType must be at most ${MAX_EVENT_TYPE_LENGTH} characters`)
    // It becomes the S3 partition value `event_type=<eventType>`: letters, digits, `.`, `_`, `-`.
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
      'eventType must start with a letter or digit and contain only letters, digits, ".", "_" and "-"',
    ),
  occurredAt: z
    .string({ error: 'occurredAt must be a string' })
    .pipe(
      z.iso.datetime({ offset: true, error: 'occurredAt must be an ISO-8601 date-time with an offset or Z' }),
    )
    .refine((value) => isRealInstant(value), 'occurredAt is not a real calendar date-time'),
  source: idString('source'),
  customerExternalId: idString('customerExternalId'),
  idempotencyKey: idString('idempotencyKey'),
  correlationId: idString('correlationId').optional(),
  payload: jsonObject('payload'),
  metadata: jsonObject('metadata').optional(),
});

export type CanonicalEvent = z.infer<typeof EventSchema>;

/**
 * What Pushrail stores, enqueues and delivers: the canonical event plus the id and time Pushrail gave
 * it. S3 lines and EventBridge details are this record as RFC 8785 canonical JSON.
 */
export interface EventRecord extends CanonicalEvent {
  readonly eventId: string;
  readonly receivedAt: string;
}

/** Rejects dates the regex lets through but the calendar does not have (2026-02-30). */
function isRealInstant(value: string): boolean {
  const millis = Date.parse(value);
  if (Number.isNaN(millis)) return false;
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!match) return false;
  const [, y, m, d] = match;
  const probe = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return (
    probe.getUTCFullYear() === Number(y) &&
    probe.getUTCMonth() === Number(m) - 1 &&
    probe.getUTCDate() === Number(d)
  );
}
