import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, oneLine, orApiError, printJson } from './output.js';

/** `destinations resume ID`: POST /v1/destinations/{id}/resume — delivers again, the backlog first. */
export function runResume(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  const id = command.id ?? '';
  return orApiError(
    io,
    async () => {
      const res = await api.send('POST', `/v1/destinations/${encodeURIComponent(id)}/resume`);
      if (command.json) printJson(io, res.body);
      else
        io.out(
          `resumed ${res.body && typeof res.body === 'object' ? oneLine(res.body as Record<string, unknown>) : id}`,
        );
      return 0;
    },
    `resume ${id}`,
  );
}
