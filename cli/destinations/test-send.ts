import type { ManagementApi } from '../api-client.js';
import type { DestinationsCommand } from './args.js';
import { type Io, orApiError, printJson, text } from './output.js';

/**
 * `destinations test ID [--json]`: POST /v1/destinations/{id}/test — one synthetic `pushrail.test`
 * event through the real delivery path. Exit code 1 unless it was delivered, so a script checking a
 * customer's setup (a wrong ExternalId, a missing permission) stops there.
 */
export function runTest(command: DestinationsCommand, api: ManagementApi, io: Io): Promise<number> {
  const id = command.id ?? '';
  return orApiError(
    io,
    async () => {
      const res = await api.send('POST', `/v1/destinations/${encodeURIComponent(id)}/test`);
      const attempt = (res.body ?? {}) as Record<string, unknown>;
      const delivered = attempt.outcome === 'delivered';
      if (command.json) printJson(io, res.body);
      else {
        const parts = [`test ${id}: ${text(attempt.outcome)}`];
        if (attempt.latencyMs !== undefined) parts.push(`in ${text(attempt.latencyMs)} ms`);
        if (attempt.target !== undefined) parts.push(`→ ${text(attempt.target)}`);
        io.out(parts.join(' '));
        if (attempt.errorCode !== undefined || attempt.reason !== undefined)
          io.out(`  ${text(attempt.errorCode)}: ${text(attempt.reason)}`);
      }
      return delivered ? 0 : 1;
    },
    `test ${id}`,
  );
}
