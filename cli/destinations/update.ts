import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, oneLine, orApiError, printJson } from './output.js';
import { readDestinationFile } from './read-file.js';

/**
 * `destinations update -f FILE [--if-match VERSION] [--json]`: PUT /v1/destinations/{id} with the
 * file's destination. With --if-match a change made since that version is a 412, not overwritten.
 */
export function runUpdate(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  const body = readDestinationFile(command.file ?? '');
  const id = String(body.id);
  return orApiError(
    io,
    async () => {
      const res = await api.send('PUT', `/v1/destinations/${encodeURIComponent(id)}`, {
        body,
        ...(command.ifMatch !== undefined ? { ifMatch: command.ifMatch } : {}),
      });
      if (command.json) printJson(io, res.body);
      else io.out(`updated ${oneLine((res.body ?? {}) as Record<string, unknown>)}`);
      return 0;
    },
    `update ${id}`,
  );
}
