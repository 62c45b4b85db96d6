import type { z } from 'zod';
import type { FieldIssue } from './errors.js';
import { MAX_ERROR_DETAILS, MAX_ERROR_FIELD_LENGTH } from './limits.js';

/** Renders a zod path the way a producer reads it in their own payload: `payload.items[0].sku`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Turns zod issues into field issues. An unknown key is reported at the key itself (zod reports it at
 * the parent), so the producer sees exactly which field to remove.
 */
export function toFieldIssues(error: z.ZodError, index?: number): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          ...(index === undefined ? {} : { index }),
          field: formatPath([...issue.path, key]),
          message: 'unknown field',
        });
      }
      continue;
    }
    out.push({
      ...(index === undefined ? {} : { index }),
      field: formatPath(issue.path),
      message: issue.message,
    });
  }
  return out;
}

/**
 * At most MAX_ERROR_DETAILS issues, each field path at most MAX_ERROR_FIELD_LENGTH characters: the
 * error answer to a hostile body stays small (Lambda cannot return more than 6 MB, and API Gateway
 * would answer a 5xx for it). `omitted` is how many issues were left out.
 */
export function capIssues(issues: readonly FieldIssue[]): { details: FieldIssue[]; omitted: number } {
  const details = issues
    .slice(0, MAX_ERROR_DETAILS)
    .map((issue) =>
      issue.field.length <= MAX_ERROR_FIELD_LENGTH
        ? issue
        : { ...issue, field: `${issue.field.slice(0, MAX_ERROR_FIELD_LENGTH - 3)}...` },
    );
  return { details, omitted: Math.max(0, issues.length - MAX_ERROR_DETAILS) };
}
