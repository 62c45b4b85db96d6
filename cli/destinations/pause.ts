import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, oneLine, orApiError, printJson } from './output.js';

/** `destinations pause ID`: POST /v1/destinations/{id}/pause — stops delivery; events keep queueing (invariant 11). */
export function runPause(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  const id = command.id ?? '';
  return orApiError(
    io,
    async () => {
      const res = await api.send('POST', `/v1/destinations/${encodeURIComponent(id)}/pause`);
      if (command.json) printJson(io, res.body);
      else
        io.out(
          `paused ${res.body && typeof res.body === 'object' ? oneLine(res.body as Record<string, unknown>) : id}`,
        );
      return 0;
    },
    `pause ${id}`,
  );
}
