import { canonicalJson } from './canonical.js';
import type { FieldIssue } from './errors.js';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from './errors.js';
import { type CanonicalEvent, EventSchema } from './event.js';
import { toFieldIssues } from './issues.js';
import { MAX_EVENT_BYTES, MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES } from './limits.js';

/** An event that passed validation, with its canonical JSON (what its size is measured on). */
export interface ValidEvent {
  readonly event: CanonicalEvent;
  readonly canonical: string;
}

export interface ParsedIngestRequest {
  /** True for `{"events": [...]}`: the response is then `{"results": [...]}`. */
  readonly batch: boolean;
  readonly events: readonly ValidEvent[];
}

export interface RawRequest {
  readonly contentType: string | undefined;
  readonly body: string | undefined;
  readonly isBase64Encoded?: boolean;
}

/**
 * Parses and validates a POST /v1/events request, all-or-nothing: it returns every event or throws
 * one error that lists every invalid event's index and field. Nothing here touches storage, so bad
 * input can never reach it (invariant 10).
 */
export function parseIngestRequest(request: RawRequest): ParsedIngestRequest {
  const mediaType = request.contentType?.split(';')[0]?.trim().toLowerCase();
  if (
    mediaType !== 'application/json' &&
    !(mediaType?.startsWith('application/') && mediaType.endsWith('+json'))
  ) {
    throw new UnsupportedMediaTypeError(request.contentType);
  }
  const bodyBytes = request.isBase64Encoded
    ? Buffer.from(request.body ?? '', 'base64')
    : Buffer.from(request.body ?? '', 'utf8');
  if (bodyBytes.byteLength > MAX_REQUEST_BYTES) {
    throw new PayloadTooLargeError(
      `request body is ${bodyBytes.byteLength} bytes; the limit is ${MAX_REQUEST_BYTES} bytes (5 MiB)`,
      [{ field: '(body)', message: `at most ${MAX_REQUEST_BYTES} bytes` }],
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bodyBytes.toString('utf8'));
  } catch (cause) {
    throw new ValidationError(`request body is not valid JSON: ${(cause as Error).message}`, [], { cause });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ValidationError('request body must be one event object or {"events": [...]}', [
      { field: '(root)', message: 'must be a JSON object' },
    ]);
  }

  const batch = 'events' in raw;
  let candidates: unknown[];
  if (batch) {
    const { events, ...rest } = raw as { events: unknown };
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      throw new ValidationError(
        'a batch body has only the field "events"',
        extra.map((field) => ({ field, message: 'unknown field' })),
      );
    }
    if (!Array.isArray(events) || events.length === 0 || events.length > MAX_EVENTS_PER_REQUEST) {
      throw new ValidationError(`events must be an array of 1 to ${MAX_EVENTS_PER_REQUEST} events`, [
        {
          field: 'events',
          message: Array.isArray(events)
            ? `has ${events.length} events; allowed 1 to ${MAX_EVENTS_PER_REQUEST}`
            : 'must be an array',
        },
      ]);
    }
    candidates = events;
  } else {
    candidates = [raw];
  }

  const valid: ValidEvent[] = [];
  const invalid: FieldIssue[] = [];
  const oversized: FieldIssue[] = [];
  candidates.forEach((candidate, i) => {
    const index = batch ? i : undefined;
    const result = EventSchema.safeParse(candidate);
    if (!result.success) {
      invalid.push(...toFieldIssues(result.error, index));
      return;
    }
    const canonical = canonicalJson(result.data);
    const size = Buffer.byteLength(canonical, 'utf8');
    if (size > MAX_EVENT_BYTES) {
      oversized.push({
        ...(index === undefined ? {} : { index }),
        field: '(event)',
        message: `event is ${size} bytes serialized; the limit is ${MAX_EVENT_BYTES} bytes (256 KiB)`,
      });
      return;
    }
    valid.push({ event: result.data, canonical });
  });

  // An oversized event is a 413 even when others are invalid: the caller must split, not just fix.
  if (oversized.length > 0) {
    throw new PayloadTooLargeError(`${oversized.length} event(s) exceed ${MAX_EVENT_BYTES} bytes`, [
      ...oversized,
      ...invalid,
    ]);
  }
  if (invalid.length > 0) {
    const count = new Set(invalid.map((i) => i.index ?? 0)).size;
    throw new ValidationError(`${count} invalid event(s); nothing was accepted`, invalid);
  }
  return { batch, events: valid };
}
