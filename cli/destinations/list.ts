import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { destinationsOf, field, type Io, orApiError, printJson, table, text } from './output.js';

/** `destinations list [--customer ID] [--json]`: GET /v1/destinations, as a table. */
export function runList(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  return orApiError(io, async () => {
    const res = await api.send('GET', '/v1/destinations', {
      query: { customerExternalId: command.customer },
    });
    if (command.json) {
      printJson(io, res.body);
      return 0;
    }
    const listed = destinationsOf(res.body);
    if (listed.length === 0) {
      io.out(command.customer ? `no destinations for customer ${command.customer}` : 'no destinations');
      return 0;
    }
    const rows = listed.map((d) =>
      ['id', 'type', 'customerExternalId', 'status', 'version', 'updatedAt'].map((k) => text(field(d, k))),
    );
    rows.sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1));
    for (const line of table([['ID', 'TYPE', 'CUSTOMER', 'STATUS', 'VERSION', 'UPDATED'], ...rows]))
      io.out(line);
    return 0;
  });
}
