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
