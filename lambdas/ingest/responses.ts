import type { APIGatewayProxyResult } from 'aws-lambda';
import type { HttpError } from '../core/errors.js';
import type { AcceptedEvent, EventOutcome } from './accept-events.js';

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

export function json(statusCode: number, body: unknown, requestId: string): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, 'x-request-id': requestId }, body: JSON.stringify(body) };
}

export function errorResponse(error: HttpError, requestId: string): APIGatewayProxyResult {
  const response = json(error.statusCode, error.toBody(), requestId);
  if (error.statusCode === 503) response.headers = { ...response.headers, 'retry-after': '1' };
  return response;
}

/**
 * Maps per-event outcomes to one response: 202 when every event was accepted; otherwise 409 if any
 * event reused a key with another body (retrying cannot help those), else 503 (retry with the same
 * keys; the accepted ones then come back `duplicate: true`). A batch's body always carries `results`,
 * one per event in request order, so the producer sees which events were accepted.
 */
export function outcomesResponse(
  batch: boolean,
  outcomes: readonly EventOutcome[],
  requestId: string,
): APIGatewayProxyResult {
  const failures = outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
  if (!batch) {
    const only = outcomes[0] as EventOutcome;
    return only.ok ? json(202, only.result, requestId) : errorResponse(only.error, requestId);
  }
  const results = outcomes.map((o): AcceptedEvent | { error: { code: string; message: string } } =>
    o.ok ? o.result : { error: { code: o.error.code, message: o.error.message } },
  );
  if (failures.length === 0) return json(202, { results }, requestId);
  const conflict = failures.find((e) => e.statusCode === 409);
  const headline =
    conflict ??
    (failures.find((e) => e.statusCode >= 500) as HttpError | undefined) ??
    (failures[0] as HttpError);
  const response = json(
    headline.statusCode,
    {
      error: {
        code: headline.code,
        message: `${failures.length} of ${outcomes.length} events were not accepted`,
        details: failures.flatMap((e) => e.details),
      },
      results,
    },
    requestId,
  );
  if (headline.statusCode === 503) response.headers = { ...response.headers, 'retry-after': '1' };
  return response;
}
