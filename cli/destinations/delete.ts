import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, orApiError, printJson } from './output.js';

/**
 * `destinations delete ID [--force]`: DELETE /v1/destinations/{id} (202). Routing stops within the
 * cache bound; the queue is removed once drained, or, with --force, after what is left moved to the DLQ.
 */
export function runDelete(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  const id = command.id ?? '';
  return orApiError(
    io,
    async () => {
      const res = await api.send('DELETE', `/v1/destinations/${encodeURIComponent(id)}`, {
        query: { force: command.force ? 'true' : undefined },
      });
      if (command.json) printJson(io, res.body);
      else
        io.out(
          command.force
            ? `deleting ${id}: routing stops; what is left in its queue moves to the DLQ, then the queue is removed`
            : `deleting ${id}: routing stops; the queue is removed once it has drained`,
        );
      return 0;
    },
    `delete ${id}`,
  );
}
