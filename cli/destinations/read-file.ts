import { readFileSync } from 'node:fs';
import { UsageError } from '../usage-error.js';

/**
 * The one destination of a `create -f`/`update -f` file, as JSON. Not validated here: the API
 * validates with the same schema (and accepts raw keys, which a config file may not hold), and its
 * 400 names the fields. Errors never quote the file: it may hold keys.
 */
export function readDestinationFile(
  path: string,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Record<string, unknown> {
  let text: string;
  try {
    text = read(path);
  } catch (error) {
    throw new UsageError(
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not valid JSON`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new UsageError(`${path} must hold one destination (a JSON object)`);
  const record = body as Record<string, unknown>;
  if (Array.isArray(record.destinations))
    throw new UsageError(
      `${path} is a config file (it has "destinations"): use \`destinations apply -f ${path}\``,
    );
  if (typeof record.id !== 'string' || record.id.length === 0)
    throw new UsageError(`${path}: the destination has no "id"`);
  return record;
}
