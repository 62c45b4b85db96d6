import type { FieldIssue } from './errors.js';

/**
 * A `from`/`to` query parameter as an ISO instant, for the read routes (audit, deliveries). It must name
 * its offset or Z, like occurredAt: a local time would mean another instant on each server. A bad value
 * is recorded in `issues`, named by its field, and answers undefined.
 */
export function queryInstant(
  field: string,
  value: string | undefined,
  issues: FieldIssue[],
): string | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time) || !/(Z|[+-]\d{2}:\d{2})$/i.test(value)) {
    issues.push({ field, message: 'must be an ISO-8601 time with an offset or Z' });
    return undefined;
  }
  return new Date(time).toISOString();
}
