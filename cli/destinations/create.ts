import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, oneLine, orApiError, printJson } from './output.js';
import { readDestinationFile } from './read-file.js';

/**
 * `destinations create -f FILE [--json]`: POST /v1/destinations. Prints what the customer needs next:
 * `customerSetup` (the trust and permissions policies for a generated ExternalId) and, for a webhook,
 * the signing secret, which the API returns this once.
 */
export function runCreate(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  const body = readDestinationFile(command.file ?? '');
  return orApiError(
    io,
    async () => {
      const res = await api.send('POST', '/v1/destinations', { body });
      if (command.json) {
        printJson(io, res.body);
        return 0;
      }
      const created = (res.body ?? {}) as Record<string, unknown>;
      io.out(`created ${oneLine(created)}`);
      if (created.customerSetup !== undefined) {
        io.out('customer setup (hand these policies to the customer):');
        io.out(JSON.stringify(created.customerSetup, null, 2));
      }
      const signing = Object.entries(created).find(
        ([, v]) => typeof v === 'string' && v.startsWith('whsec_'),
      );
      if (signing) io.out(`${signing[0]} (returned only this once; store it now): ${String(signing[1])}`);
      return 0;
    },
    `create ${String(body.id)}`,
  );
}
