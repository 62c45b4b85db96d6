import { canonicalJson } from '../../lambdas/core/canonical.js';
import { type Destination, DestinationSchema, KINDS } from '../../lambdas/destinations/index.js';

/**
 * The diff `destinations apply` makes between a config file and the destinations the API lists: pure,
 * so what it would do is tested without an API, and `--dry-run` prints exactly what a run does.
 */

/** A destination as GET /v1/destinations lists it: its config fields plus status, version and the rest. */
export type ListedDestination = Readonly<Record<string, unknown>>;

export interface FieldChange {
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface ApplyPlan {
  readonly creates: readonly Destination[];
  readonly updates: readonly {
    readonly destination: Destination;
    /** The listed version: sent as If-Match, so a change made meanwhile is not overwritten. */
    readonly version?: number;
    readonly changes: readonly FieldChange[];
  }[];
  readonly deletes: readonly {
    readonly id: string;
    readonly type?: string;
    readonly customerExternalId?: string;
  }[];
  readonly unchanged: readonly string[];
  /** In the API but not the file, left alone without --prune. */
  readonly kept: readonly string[];
  /** What the API cannot do as asked; apply changes nothing while any is left. */
  readonly blocked: readonly { readonly id: string; readonly reason: string }[];
}

/** The config fields of a listed destination: those its kind's schema has (not status, version, queues…). */
export function configFieldsOf(listed: ListedDestination): Record<string, unknown> {
  // Either the destination's fields at the top level beside status and version, or under `destination`.
  const inner = listed.destination;
  const source =
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? (inner as Record<string, unknown>)
      : listed;
  const fields = schemaKeys(source.type);
  const picked = Object.fromEntries(
    Object.entries(source).filter(([k, v]) => v !== undefined && (fields ? fields.has(k) : !METADATA.has(k))),
  );
  // With the schema's defaults, as the file's side has them: an answer that leaves a default out is
  // not a change. One that does not parse (a masked key id instead of a secretArn) compares as it is.
  const parsed = DestinationSchema.safeParse(picked);
  return parsed.success ? (parsed.data as Record<string, unknown>) : picked;
}

/** Fields the API adds to a destination; used only for a type this CLI does not know. */
const METADATA = new Set([
  'status',
  'statusReason',
  'version',
  'createdAt',
  'updatedAt',
  'updatedBy',
  'queueUrl',
  'dlqUrl',
  'inboxQueueUrl',
  'customerSetup',
  'desired',
  'forceDelete',
  'ownedSecretArn',
]);

function schemaKeys(type: unknown): Set<string> | undefined {
  if (typeof type !== 'string' || !Object.hasOwn(KINDS, type)) return undefined;
  const schema = KINDS[type as keyof typeof KINDS].schema as unknown as { shape?: Record<string, unknown> };
  return schema.shape ? new Set(Object.keys(schema.shape)) : undefined;
}

/** Top-level fields that differ; nested objects (auth) compare whole. Absent and undefined are the same. */
export function changedFields(
  current: Record<string, unknown>,
  desired: Record<string, unknown>,
): FieldChange[] {
  const keys = [...new Set([...Object.keys(current), ...Object.keys(desired)])].sort();
  const same = (a: unknown, b: unknown) =>
    a === undefined || b === undefined ? a === b : canonicalJson(a) === canonicalJson(b);
  return keys
    .filter((k) => !same(current[k], desired[k]))
    .map((field) => ({ field, from: current[field], to: desired[field] }));
}

const beingDeleted = (listed: ListedDestination) =>
  listed.status === 'DELETING' || listed.desired === 'DELETED';

/** What apply does to make `current` (the API's list) match `desired` (the file's destinations). */
export function planApply(
  desired: readonly Destination[],
  current: readonly ListedDestination[],
  options: { readonly prune: boolean },
): ApplyPlan {
  const byId = new Map<string, ListedDestination>();
  for (const listed of current) {
    const id = configFieldsOf(listed).id;
    if (typeof id === 'string') byId.set(id, listed);
  }
  const plan = {
    creates: [] as Destination[],
    updates: [] as { destination: Destination; version?: number; changes: FieldChange[] }[],
    deletes: [] as { id: string; type?: string; customerExternalId?: string }[],
    unchanged: [] as string[],
    kept: [] as string[],
    blocked: [] as { id: string; reason: string }[],
  };
  const wanted = new Set<string>();
  for (const destination of [...desired].sort(byDestinationId)) {
    wanted.add(destination.id);
    const listed = byId.get(destination.id);
    if (!listed) {
      plan.creates.push(destination);
      continue;
    }
    const fields = configFieldsOf(listed);
    if (beingDeleted(listed)) {
      plan.blocked.push({ id: destination.id, reason: 'is being deleted; apply again once it is gone' });
    } else if (fields.type !== destination.type) {
      plan.blocked.push({
        id: destination.id,
        reason: `is ${String(fields.type)} in the API and ${destination.type} in the file; the type cannot change: delete it, and apply once it is gone`,
      });
    } else {
      const changes = changedFields(fields, destination as unknown as Record<string, unknown>);
      if (changes.length === 0) plan.unchanged.push(destination.id);
      else {
        const version = typeof listed.version === 'number' ? listed.version : undefined;
        plan.updates.push({ destination, ...(version !== undefined ? { version } : {}), changes });
      }
    }
  }
  for (const [id, listed] of [...byId].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (wanted.has(id) || beingDeleted(listed)) continue;
    if (!options.prune) {
      plan.kept.push(id);
      continue;
    }
    const fields = configFieldsOf(listed);
    plan.deletes.push({
      id,
      ...(typeof fields.type === 'string' ? { type: fields.type } : {}),
      ...(typeof fields.customerExternalId === 'string'
        ? { customerExternalId: fields.customerExternalId }
        : {}),
    });
  }
  return plan;
}

function byDestinationId(a: Destination, b: Destination): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Fields whose values the diff does not print: credentials (`auth`: role ARNs and external ids are not
 * keys, but an operator's terminal and CI logs are no place for them either) and static headers.
 */
const UNPRINTED = new Set(['auth', 'headers']);

/** The diff as people read it: `+` create, `~` update (with the changed fields), `-` delete. */
export function formatPlan(plan: ApplyPlan): string[] {
  const lines: string[] = [];
  const value = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
  for (const d of plan.creates) lines.push(`+ create ${d.id} (${d.type}, customer ${d.customerExternalId})`);
  for (const u of plan.updates) {
    lines.push(`~ update ${u.destination.id}`);
    for (const c of u.changes)
      lines.push(
        UNPRINTED.has(c.field)
          ? `    ${c.field}: (changed)`
          : `    ${c.field}: ${value(c.from)} → ${value(c.to)}`,
      );
  }
  for (const d of plan.deletes)
    lines.push(
      `- delete ${d.id}${d.type ? ` (${d.type}${d.customerExternalId ? `, customer ${d.customerExternalId}` : ''})` : ''}`,
    );
  for (const b of plan.blocked) lines.push(`! ${b.id} ${b.reason}`);
  const summary = [`${plan.unchanged.length} unchanged`];
  if (plan.kept.length > 0)
    summary.push(`${plan.kept.length} not in the file kept (${plan.kept.join(', ')}; --prune deletes them)`);
  lines.push(summary.join('; '));
  return lines;
}
