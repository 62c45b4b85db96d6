import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, orApiError, printJson, redact, table } from './output.js';

/** `destinations get ID [--json]`: GET /v1/destinations/{id}, one field a line. */
export function runGet(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  return orApiError(io, async () => {
    const res = await api.send('GET', `/v1/destinations/${encodeURIComponent(command.id ?? '')}`);
    if (command.json) {
      printJson(io, res.body);
      return 0;
    }
    for (const line of table(flatten(redact(res.body)))) io.out(line);
    return 0;
  });
}

/** `auth.mode  ASSUME_ROLE`: nested fields as dotted paths, arrays as JSON. */
export function flatten(value: unknown, prefix = ''): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return [[prefix || '(value)', typeof value === 'string' ? value : JSON.stringify(value)]];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    v === undefined ? [] : flatten(v, prefix ? `${prefix}.${k}` : k),
  );
}
