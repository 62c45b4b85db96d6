/**
 * The changed fields between two versions of a destination, as the audit trail records them
 * (DESIGN.md "Trace, health, audit": `changes: [{field, from, to}]`). Pure: no AWS, no I/O.
 *
 * Secrets never appear as values (invariant 9): a sensitive field that changed is recorded with
 * `"(changed)"` in place of each value it had, and `null` where it was absent, so the entry says
 * that it changed (and whether it was added or removed) and nothing else.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface AuditChange {
  /** Dotted path of the field, `auth.roleArn`; arrays are one field (`eventTypes`). */
  readonly field: string;
  /** The old value; `null` when the field was absent. */
  readonly from: JsonValue;
  /** The new value; `null` when the field is now absent. */
  readonly to: JsonValue;
}

/** What a secret is shown as in the audit trail. */
export const SECRET_MARK = '(changed)';

/**
 * The fields under `auth` whose values are secret. `secretArn` names where a secret is kept and is not
 * one; `externalId` is treated as sensitive because it is the shared proof in the customer's trust
 * policy (AWS calls it not a secret, but nobody reading the audit trail needs it).
 */
const SENSITIVE_AUTH_FIELDS = new Set([
  'externalId',
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  'value',
  'signingSecret',
]);

/** Whether a dotted field path holds a secret. */
export function isSensitiveField(field: string): boolean {
  const segments = field.split('.');
  return (
    segments.length >= 2 && segments[0] === 'auth' && SENSITIVE_AUTH_FIELDS.has(segments.at(-1) as string)
  );
}

/**
 * The changes from `before` to `after` (each a destination as JSON, or undefined for "did not
 * exist"), sorted by field. Unchanged fields are left out.
 */
export function auditDiff(before: unknown, after: unknown): AuditChange[] {
  const from = flatten(before);
  const to = flatten(after);
  const fields = [...new Set([...from.keys(), ...to.keys()])].sort();
  const changes: AuditChange[] = [];
  for (const field of fields) {
    const a = from.get(field);
    const b = to.get(field);
    if (sameJson(a, b)) continue;
    changes.push(
      isSensitiveField(field)
        ? { field, from: a === undefined ? null : SECRET_MARK, to: b === undefined ? null : SECRET_MARK }
        : { field, from: a ?? null, to: b ?? null },
    );
  }
  return changes;
}

/**
 * A change to a secret the destination itself does not hold (keys posted to the API and kept in
 * Secrets Manager under the same secret): the diff of the destinations cannot see it.
 */
export function secretChange(field: string): AuditChange {
  return { field, from: SECRET_MARK, to: SECRET_MARK };
}

/** Leaves of an object by dotted path; arrays and scalars are leaves, `undefined` fields are absent. */
function flatten(value: unknown, prefix = '', out = new Map<string, JsonValue>()): Map<string, JsonValue> {
  if (value === undefined) return out;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, out);
    return out;
  }
  if (prefix !== '') out.set(prefix, value as JsonValue);
  return out;
}

function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
