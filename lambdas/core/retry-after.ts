/**
 * `Retry-After` (RFC 9110 §10.2.3) as a webhook receiver answers it with a 429 or a 503: either a
 * number of seconds or an HTTP-date. Pure, so the sender and its tests share it. The answer is a
 * delay in whole seconds from `now`, never negative, capped at `maxSeconds` (the backoff's longest
 * delay: a receiver cannot park a message past what SQS allows, nor past the 24 h horizon, which
 * core/backoff.ts `decideRetry` enforces on top). Anything else (a negative number, a fraction, junk,
 * a date that does not parse) is ignored: the ordinary backoff applies.
 */
export function parseRetryAfter(
  value: string | undefined | null,
  now: Date,
  maxSeconds: number,
): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (/^[A-Za-z]{3},? /.test(text) || /GMT$/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.ceil((at - now.getTime()) / 1000);
  } else return undefined;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(Math.max(seconds, 0), maxSeconds);
}
