import {
  ALWAYS_TRANSIENT,
  CREDENTIAL_FAILURES,
  type FailureTable,
  MALFORMED_MESSAGE,
} from '../../core/failure-codes.js';

/**
 * Webhook delivery (DESIGN.md "Webhook requests"): which outcomes dead-letter at once, which retry.
 * An answer's status becomes the code `HTTP<status class>` or, where the status decides more than its
 * class does, `HTTP<status>` (./responses.ts `classifyResponse`); errors before an answer keep their
 * own codes. Any 2xx is success, whatever the body: a 200 with an error body is the customer's bug,
 * not ours. The credential rows are the Secrets Manager reads of the signing secret and the API key.
 */
export const WEBHOOK_FAILURES = {
  permanent: [
    ...CREDENTIAL_FAILURES.permanent,
    'HTTP3xx', // redirects are not followed: the URL is the customer's to fix
    'HTTP4xx', // 400, 401, 403, 404, 413, 422... every 4xx not listed as transient
    'HTTP410', // Gone: the destination is also paused, with the reason
    'AddressNotAllowed', // our own: the dialled address is loopback, private, link-local, ...
    'InsecureUrl', // our own: plain http outside the local runtime
    'EventTooLarge', // our own: one event is over batchSizeKb, so no request may carry it
    MALFORMED_MESSAGE,
  ],
  transient: [
    ...CREDENTIAL_FAILURES.transient,
    ...ALWAYS_TRANSIENT,
    'HTTP408',
    'HTTP425',
    'HTTP429', // with Retry-After honoured
    'HTTP503', // with Retry-After honoured
    'HTTP5xx',
    'WebhookTimeout', // our own: no complete answer within timeoutSec
    'DestinationPaused', // our own: a 410 paused the destination before this request was sent
    'ENOTFOUND', // a network error like the others: a DNS change may be on its way
    'EHOSTUNREACH',
    'ENETUNREACH',
  ],
} as const satisfies FailureTable;
