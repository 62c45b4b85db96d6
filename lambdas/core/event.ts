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

/**
 * A JSON object, kept exactly as parsed. Not `z.record`: it copies keys one by one, and a copied
 * `__proto__` key sets the copy's prototype instead of a field, silently dropping producer data.
 */
const jsonObject = (what: string) =>
  z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), {
    error: `${what} must be a JSON object`,
  });

/** A UTF-16 surrogate without its pair cannot be encoded as UTF-8 (nor canonicalized, RFC 8785). */
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * U+FFFE and U+FFFF are outside what an SQS message may hold (XML's characters): SQS refuses the
 * message, or in its newer documented behaviour stores U+FFFD instead. Either would break the event:
 * an endless 503, or data the producer never sent. JSON.stringify does not escape them.
 */
const NOT_IN_SQS = /[\uFFFE\uFFFF]/;

function hasUnstorableText(s: string): boolean {
  return NOT_IN_SQS.test(s) || LONE_SURROGATE.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''));
}

/** Path of the first key or string holding a lone surrogate, U+FFFE or U+FFFF, anywhere in a JSON value. */
function loneSurrogatePath(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'string') return hasUnstorableText(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = loneSurrogatePath(value[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (hasUnstorableText(k)) return [...path, k];
      const found = loneSurrogatePath(v, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * The canonical event a producer POSTs (DESIGN.md "Canonical event"). Strict: unknown top-level
 * fields are rejected, so a typo is an error rather than silently dropped data.
 */
export const EventSchema = z
  .strictObject({
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
        z.iso.datetime({
          offset: true,
          error: 'occurredAt must be an ISO-8601 date-time with an offset or Z',
          abort: true,
        }),
      )
      .refine((value) => isRealInstant(value), 'occurredAt is not a real calendar date-time'),
    source: idString('source'),
    customerExternalId: idString('customerExternalId'),
    idempotencyKey: idString('idempotencyKey'),
    correlationId: idString('correlationId').optional(),
    payload: jsonObject('payload'),
    metadata: jsonObject('metadata').optional(),
  })
  .check((ctx) => {
    const path = loneSurrogatePath(ctx.value, []);
    if (path) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path,
        message:
          'contains an unpaired UTF-16 surrogate (not valid Unicode text), or U+FFFE/U+FFFF (which queues cannot carry)',
      });
    }
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
  const probe = new Date(0);
  probe.setUTCFullYear(Number(y), Number(m) - 1, Number(d)); // Date.UTC would map years 0-99 to 1900-1999
  return (
    probe.getUTCFullYear() === Number(y) &&
    probe.getUTCMonth() === Number(m) - 1 &&
    probe.getUTCDate() === Number(d)
  );
}

/** A queue message body: an EventRecord as enqueued by ingest. Checked again at every consumer. */
export const EventRecordSchema = EventSchema.extend({
  eventId: z.string().regex(/^evt_[0-9a-z]{26}$/, 'eventId must be a Pushrail event id'),
  receivedAt: z.iso.datetime({ offset: true }),
});
