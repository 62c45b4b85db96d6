import { canonicalJson } from './canonical.js';
import type { FieldIssue } from './errors.js';
import { PayloadTooLargeError, ValidationError } from './errors.js';
import { type CanonicalEvent, EventSchema } from './event.js';
import { capIssues, formatPath, toFieldIssues } from './issues.js';
import { type JsonPath, scanJsonText } from './json-scan.js';
import {
  MAX_ERROR_DETAILS,
  MAX_EVENT_BYTES,
  MAX_EVENT_DEPTH,
  MAX_EVENTS_PER_REQUEST,
  MAX_REQUEST_BYTES,
} from './limits.js';
import {
  checkJsonMediaType,
  contentCodingOf,
  decodeUtf8,
  decompress,
  fromBase64,
  looksCompressed,
} from './request-body.js';

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
  /**
   * The `Content-Encoding` header. API Gateway decompresses gzip and deflate bodies before the
   * function runs but passes the header on, so a body is decompressed here only if it still is.
   */
  readonly contentEncoding?: string | undefined;
  readonly body: string | undefined;
  readonly isBase64Encoded?: boolean;
}

/**
 * Parses and validates a POST /v1/events request, all-or-nothing: it returns every event or throws
 * one error that lists every invalid event's index and field. Nothing here touches storage, so bad
 * input can never reach it (invariant 10); and every way a request can be wrong is an HttpError (a
 * 4xx), never an unclassified throw that the handler would have to answer 503.
 */
export function parseIngestRequest(request: RawRequest): ParsedIngestRequest {
  checkJsonMediaType(request.contentType);
  const { text, invalidUtf8 } = bodyText(request);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw notJson(cause, request, invalidUtf8);
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
        capIssues(extra.map((field) => ({ field, message: 'unknown field' }))).details,
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

  // Before the schema: an event nested too deep must not reach any recursive walk.
  const textIssues = textIssuesByEvent(text, batch, invalidUtf8);

  const valid: ValidEvent[] = [];
  const invalid: FieldIssue[] = [];
  const oversized: FieldIssue[] = [];
  candidates.forEach((candidate, i) => {
    const index = batch ? i : undefined;
    const found = textIssues.get(index);
    if (found) {
      invalid.push(...found);
      return;
    }
    const result = EventSchema.safeParse(candidate);
    if (!result.success) {
      invalid.push(...toFieldIssues(result.error, index));
      return;
    }
    let canonical: string;
    try {
      canonical = canonicalJson(result.data);
    } catch {
      // Unreachable once the scan and the schema passed; kept so that a gap there is a 400, not a 503.
      invalid.push({
        ...(index === undefined ? {} : { index }),
        field: '(event)',
        message: 'cannot be written as canonical JSON (RFC 8785)',
      });
      return;
    }
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

  // Findings outside any event (none are expected in a batch, whose only field is events) still reject.
  if (batch) invalid.push(...(textIssues.get(undefined) ?? []));

  // An oversized event is a 413 even when others are invalid: the caller must split, not just fix.
  if (oversized.length > 0) {
    const { details, omitted } = capIssues([...oversized, ...invalid]);
    throw new PayloadTooLargeError(
      `${oversized.length} event(s) exceed ${MAX_EVENT_BYTES} bytes${omittedNote(omitted)}`,
      details,
    );
  }
  if (invalid.length > 0) {
    const count = new Set(invalid.map((i) => i.index ?? 0)).size;
    const { details, omitted } = capIssues(invalid);
    throw new ValidationError(
      `${count} invalid event(s); nothing was accepted${omittedNote(omitted)}`,
      details,
    );
  }
  return { batch, events: valid };
}

function omittedNote(omitted: number): string {
  return omitted > 0 ? ` (the first ${MAX_ERROR_DETAILS} problems are listed, ${omitted} more are not)` : '';
}

function tooLarge(bytes: number, as: string): PayloadTooLargeError {
  return new PayloadTooLargeError(
    `request body is ${bytes} bytes ${as}; the limit is ${MAX_REQUEST_BYTES} bytes (5 MiB)`,
    [{ field: '(body)', message: `at most ${MAX_REQUEST_BYTES} bytes` }],
  );
}

interface BodyText {
  readonly text: string;
  /** Where invalid UTF-8 was replaced: byte offsets in the (decompressed) body, indexes in `text`. */
  readonly invalidUtf8: readonly { readonly byteOffset: number; readonly charIndex: number }[];
}

/**
 * The body as text, with the size limit applied to the body as sent and, once decompressed, to
 * that too. A text body (not base64) is already a string: using it as is keeps every character
 * JSON.parse will see, where a round trip through UTF-8 bytes would turn lone surrogates into U+FFFD.
 */
function bodyText(request: RawRequest): BodyText {
  const coding = contentCodingOf(request.contentEncoding);
  const body = request.body ?? '';
  if (!request.isBase64Encoded) {
    const size = Buffer.byteLength(body, 'utf8');
    if (size > MAX_REQUEST_BYTES) throw tooLarge(size, 'as sent');
    return { text: body, invalidUtf8: [] };
  }
  let bytes: Uint8Array = fromBase64(body);
  if (bytes.byteLength > MAX_REQUEST_BYTES) throw tooLarge(bytes.byteLength, 'as sent');
  // Not still compressed: API Gateway decompressed it already (and kept the header).
  if (coding && looksCompressed(bytes, coding)) bytes = decompress(bytes, coding, MAX_REQUEST_BYTES);
  const { text, invalid } = decodeUtf8(bytes);
  return { text, invalidUtf8: invalid };
}

function notJson(cause: unknown, request: RawRequest, invalidUtf8: BodyText['invalidUtf8']): ValidationError {
  const first = invalidUtf8[0];
  if (first) {
    return new ValidationError(
      `request body is not valid UTF-8 (the first invalid byte is at offset ${first.byteOffset})`,
      [{ field: '(body)', message: `invalid UTF-8 at byte ${first.byteOffset}` }],
      { cause },
    );
  }
  const coding = contentCodingOf(request.contentEncoding);
  if (coding) {
    return new ValidationError(
      `content-encoding is ${coding}, but the body is neither ${coding} data nor JSON`,
      [{ field: 'content-encoding', message: `the body is not ${coding} data` }],
      { cause },
    );
  }
  return new ValidationError(`request body is not valid JSON: ${(cause as Error).message}`, [], { cause });
}

/**
 * What only the text shows (nesting depth, inexact numbers, invalid UTF-8), as field issues keyed by
 * event index (undefined for a single event). One pass over the text, no recursion.
 */
function textIssuesByEvent(
  text: string,
  batch: boolean,
  invalidUtf8: BodyText['invalidUtf8'],
): Map<number | undefined, FieldIssue[]> {
  const findings = scanJsonText(text, {
    baseDepth: batch ? 2 : 0,
    maxDepth: MAX_EVENT_DEPTH,
    invalidUtf8At: invalidUtf8.map((i) => i.charIndex),
    maxFindings: MAX_ERROR_DETAILS + 1,
  });
  const byEvent = new Map<number | undefined, FieldIssue[]>();
  for (const { path, message } of findings) {
    const { index, field } = eventPath(path, batch);
    const issue: FieldIssue = {
      ...(index === undefined ? {} : { index }),
      field: formatPath(field),
      message,
    };
    byEvent.set(index, [...(byEvent.get(index) ?? []), issue]);
  }
  return byEvent;
}

/** `events[3].payload.x` in a batch is event 3's `payload.x`. */
function eventPath(path: JsonPath, batch: boolean): { index: number | undefined; field: JsonPath } {
  if (batch && path[0] === 'events' && typeof path[1] === 'number') {
    return { index: path[1], field: path.slice(2) };
  }
  return { index: undefined, field: path };
}
