import { ApiError } from '../api-client.js';
import type { ListedDestination } from './apply-plan.js';

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/**
 * Credential fields the API must never answer (it masks key ids and keeps keys in Secrets Manager):
 * hidden here too, so a faulty answer still never reaches a terminal or a CI log.
 */
const HIDDEN = new Set(['secretAccessKey', 'sessionToken', 'value', 'apiKey']);

/** A copy of an answer with any credential field replaced by "(hidden)". */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      HIDDEN.has(k) && v !== undefined ? '(hidden)' : redact(v),
    ]),
  );
}

export function printJson(io: Io, body: unknown): void {
  io.out(JSON.stringify(redact(body), null, 2));
}

/** An API refusal: status, code, message and each field detail. */
export function printApiError(io: Io, error: ApiError, action?: string): void {
  io.err(`${action ? `${action}: ` : ''}${error.status} ${error.code}: ${error.message}`);
  for (const d of error.details)
    io.err(
      `  - ${d.index !== undefined ? `[${d.index}] ` : ''}${d.field ?? '(request)'}: ${d.message ?? ''}`,
    );
}

/** Runs an API call, printing an ApiError and answering exit code 1 for it. */
export async function orApiError(io: Io, run: () => Promise<number>, action?: string): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    printApiError(io, error, action);
    return 1;
  }
}

/** Columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The destinations of a list answer: `{"destinations": [...]}` or a bare array. */
export function destinationsOf(body: unknown): ListedDestination[] {
  const list = Array.isArray(body) ? body : (body as { destinations?: unknown } | undefined)?.destinations;
  if (!Array.isArray(list)) throw new Error('the API answered a list without "destinations"');
  return list as ListedDestination[];
}

/** One field of a destination answer, at the top level or under `destination`. */
export function field(listed: ListedDestination, name: string): unknown {
  if (listed[name] !== undefined) return listed[name];
  const inner = listed.destination as Record<string, unknown> | undefined;
  return inner && typeof inner === 'object' ? inner[name] : undefined;
}

export const text = (v: unknown): string => (v === undefined || v === null ? '-' : String(v));

/** `id (TYPE): STATUS, version N`: what a change command says it did. */
export function oneLine(listed: ListedDestination): string {
  const reason = field(listed, 'statusReason');
  return `${text(field(listed, 'id'))} (${text(field(listed, 'type'))}): ${text(field(listed, 'status'))}${reason ? ` (${String(reason)})` : ''}, version ${text(field(listed, 'version'))}`;
}
