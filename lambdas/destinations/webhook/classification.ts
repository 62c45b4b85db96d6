import { type FailureTable, MALFORMED_MESSAGE } from '../../core/failure-codes.js';

/**
 * Webhook delivery (DESIGN.md "Webhook requests"): which outcomes dead-letter at once, which retry.
 * An answer's status becomes the code `HTTP<status class>` or, where the status decides more than its
 * class does, `HTTP<status>` (webhook/responses.ts `classifyResponse`); errors before an answer keep
 * their own codes. Any 2xx is success, whatever the body: a 200 with an error body is the customer's
 * bug, not ours.
 */
export const WEBHOOK_FAILURES = {
  permanent: [
    'HTTP3xx', // redirects are not followed: the URL is the customer's to fix
    'HTTP4xx', // 400, 401, 403, 404, 413, 422... everything not listed as transient
    'HTTP410', // Gone: the destination is paused with the reason
    'AddressNotAllowed', // our own: the dialled address is loopback, private, link-local, ...
    'InsecureUrl', // our own: plain http outside the local runtime
    'EventTooLarge', // our own: one event is over batchSizeKb, so no request may carry it
    'InvalidSecret', // our own: the API key or signing secret in Secrets Manager is not usable
    'AccessDeniedException', // Secrets Manager: no permission to read the secret
    'ResourceNotFoundException', // Secrets Manager: the secret does not exist
    'DecryptionFailure',
    MALFORMED_MESSAGE,
  ],
  transient: [
    'HTTP408',
    'HTTP425',
    'HTTP429', // with Retry-After honoured
    'HTTP503', // with Retry-After honoured
    'HTTP5xx',
    'WebhookTimeout', // our own: no complete answer within timeoutSec
    'DestinationPaused', // our own: a 410 paused the destination before this request was sent
    'ECONNRESET',
    'ECONNREFUSED',
    'ETIMEDOUT',
    'EPIPE',
    'EAI_AGAIN',
    'ENOTFOUND', // a network error like the others: a DNS change may be on its way
    'EHOSTUNREACH',
    'ENETUNREACH',
    'UND_ERR_SOCKET',
    'ThrottlingException', // Secrets Manager
    'InternalServiceError',
  ],
} as const satisfies FailureTable;
