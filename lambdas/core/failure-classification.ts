import { type DestinationType, failureTable } from '../destinations/index.js';

/**
 * Failure classification: whether an error is worth retrying (transient) or goes to the DLQ on the
 * first failure (permanent). Each destination kind's table (lambdas/destinations/<kind>/
 * classification.ts) is the one place that decides its codes; the README's table is checked against
 * them by a test.
 */
export type FailureClass = 'transient' | 'permanent';

export interface ClassifiedFailure {
  readonly failureClass: FailureClass;
  /** The AWS error code or our own (`EventBusNotFound`, `MalformedMessage`, `EntryTooLarge`...). */
  readonly code: string;
  /** Safe to store and show: sanitized, never a credential. */
  readonly message: string;
  readonly httpStatus?: number;
  /** The receiver's `Retry-After` (webhooks), in seconds: the backoff waits at least this long. */
  readonly retryAfterSeconds?: number;
}

/**
 * Classifies an error thrown by the SDK (or built by us). A code in the table decides; otherwise the
 * HTTP status does (5xx, 408 and 429 transient, other 4xx permanent), and an error with neither — a
 * socket reset, a DNS failure — is a network failure, so transient.
 */
export function classifyFailure(destinationType: DestinationType, error: unknown): ClassifiedFailure {
  const code = errorCode(error);
  const httpStatus = httpStatusOf(error);
  const message = sanitizeReason(error instanceof Error ? error.message : String(error));
  const table = failureTable(destinationType);
  const base = { code, message, ...(httpStatus === undefined ? {} : { httpStatus }) };
  if (table.permanent.includes(code)) return { failureClass: 'permanent', ...base };
  if (table.transient.includes(code)) return { failureClass: 'transient', ...base };
  if (httpStatus !== undefined) {
    const transient = httpStatus >= 500 || httpStatus === 408 || httpStatus === 429;
    return { failureClass: transient ? 'transient' : 'permanent', ...base };
  }
  return { failureClass: 'transient', ...base };
}

/** Classifies an EventBridge per-entry ErrorCode (PutEvents' FailedEntryCount entries). */
export function classifyEntryError(errorCode: string, errorMessage: string | undefined): ClassifiedFailure {
  const transient = errorCode === 'InternalFailure' || errorCode === 'ThrottlingException';
  return {
    failureClass: transient ? 'transient' : 'permanent',
    code: errorCode,
    message: sanitizeReason(errorMessage ?? errorCode),
  };
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; Code?: unknown; code?: unknown };
    if (typeof e.Code === 'string') return e.Code;
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code; // Node socket errors
    if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
    if (typeof e.code === 'string') return e.code;
  }
  return 'Unknown';
}

function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata
    ?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, '[access-key-id]'],
  [
    /(X-Amz-Security-Token|X-Amz-Signature|X-Amz-Credential|Signature|SessionToken|sessionToken|secretAccessKey|SecretAccessKey)(["'=:\s]+)[^\s"'&,]+/g,
    '$1$2[redacted]',
  ],
  // The shape of a secret access key: exactly 40 base64 characters. Not `\b…\b`: a key may start or
  // end with `/` or `+`, where there is no word boundary, and would then slip through.
  [/(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/g, '[redacted]'],
];

/**
 * Makes an error message safe to store in the audit trail and DLQ attributes: no credentials, one
 * line, bounded length (invariant 9).
 */
export function sanitizeReason(message: string, maxLength = 256): string {
  let out = message.replace(/\s+/g, ' ').trim();
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out.length > maxLength ? `${out.slice(0, maxLength - 1)}…` : out;
}
