/**
 * The limits of the ingest contract and of the AWS services Pushrail calls, in one place, so that
 * validation, error messages, the README and the tests all quote the same number. The ranges of the
 * destinations config are not here: each lives with its field, in lambdas/core/config-fields.ts and
 * in its kind's schema (lambdas/destinations/<kind>/schema.ts), where its error message names it.
 */
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** One event, serialized as canonical JSON (DESIGN.md "Canonical event"). */
export const MAX_EVENT_BYTES = 256 * KiB;
/** Events in one `{"events": [...]}` request. */
export const MAX_EVENTS_PER_REQUEST = 500;
/**
 * One request body. Lambda's synchronous payload limit is 6 MB including API Gateway's envelope, so
 * 5 MiB leaves room for headers and the request context.
 */
export const MAX_REQUEST_BYTES = 5 * MiB;

/**
 * How deep objects and arrays may nest in one event, the event object itself being level 1 (so
 * `payload` is level 2). 64 is the safe default of common JSON parsers (Python's and Ruby's stop
 * near there, serde_json at 128): deeper input is hostile or a bug, and every recursive walk
 * downstream (schema checks, canonicalization, customers' own parsers) stays far from a stack limit.
 * Counted per event, so the `{"events": [...]}` wrapper does not use up two levels.
 */
export const MAX_EVENT_DEPTH = 64;

/**
 * Content codings a request body may arrive in (`Content-Encoding`): the ones API Gateway decodes.
 * The decompressed body is held to MAX_REQUEST_BYTES as well as the body as sent.
 */
export const REQUEST_CONTENT_CODINGS = ['gzip', 'deflate', 'identity'] as const;

/**
 * At most this many field issues in one error response, and at most this many characters of a
 * field path: a hostile body (200,000 unknown keys, a 4 MiB key) must not produce an answer larger
 * than Lambda can return (6 MB), which API Gateway would turn into a 5xx.
 */
export const MAX_ERROR_DETAILS = 100;
export const MAX_ERROR_FIELD_LENGTH = 256;

/** SQS: a message and a SendMessageBatch request are both at most 1 MiB (raised 2026-01-29). */
export const SQS_MAX_MESSAGE_BYTES = 1 * MiB;
export const SQS_MAX_BATCH_BYTES = 1 * MiB;
export const SQS_MAX_BATCH_ENTRIES = 10;

/** Length limits of the event's string fields. */
export const MAX_EVENT_TYPE_LENGTH = 128;
export const MAX_ID_LENGTH = 256;

/** PutEvents: entries per call, and the request size measured with AWS's entry-size formula (1 MiB since 2026-01-29). */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_REQUEST_BYTES = 1 * MiB;
