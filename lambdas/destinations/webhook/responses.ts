import { BACKOFF } from '../../core/backoff.js';
import type { ClassifiedFailure } from '../../core/failure-classification.js';
import { sanitizeReason } from '../../core/failure-classification.js';
import { parseRetryAfter } from '../../core/retry-after.js';

/** How much of a response body the attempt keeps (DESIGN.md "Webhook requests"). */
export const RESPONSE_BODY_BYTES = 1024;

export type ResponseOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly failure: ClassifiedFailure };

/**
 * The outcome of a receiver's answer (DESIGN.md "Webhook requests"): any 2xx is success, whatever the
 * body; 408, 425, 429 and 5xx are transient, 429 and 503 with their `Retry-After` (seconds or an
 * HTTP-date, capped at the backoff's longest delay); 410 is permanent and pauses the destination;
 * 3xx (never followed) and every other 4xx are permanent. The codes are the rows of
 * ./classification.ts.
 */
export function classifyResponse(
  status: number,
  retryAfter: string | undefined,
  body: string,
  target: string,
  now: Date,
): ResponseOutcome {
  if (status >= 200 && status < 300) return { ok: true };
  const snippet = body ? `: ${sanitizeReason(body, 160)}` : '';
  const message = sanitizeReason(`${target} answered HTTP ${status}${snippet}`, 256);
  const failure = (failureClass: ClassifiedFailure['failureClass'], code: string, extra = {}) => ({
    ok: false as const,
    failure: { failureClass, code, message, httpStatus: status, ...extra },
  });
  if (status === 429 || status === 503) {
    const seconds = parseRetryAfter(retryAfter, now, BACKOFF.maxDelaySeconds);
    return failure('transient', `HTTP${status}`, seconds === undefined ? {} : { retryAfterSeconds: seconds });
  }
  if (status === 408 || status === 425) return failure('transient', `HTTP${status}`);
  if (status >= 500) return failure('transient', 'HTTP5xx');
  if (status === 410) return failure('permanent', 'HTTP410');
  if (status >= 300 && status < 400) return failure('permanent', 'HTTP3xx');
  return failure('permanent', 'HTTP4xx');
}

/** The URL as attempts, traces and reasons show it: without its query string (which may carry a token). */
export function targetOf(url: URL | string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
