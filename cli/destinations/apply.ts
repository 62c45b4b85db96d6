import { readFileSync } from 'node:fs';
import pMap from 'p-map';
import { type PushrailConfig, parseConfigText } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { ApiError, type ManagementApi } from '../api-client.js';
import { UsageError } from '../usage-error.js';
import { formatPlan, type ListedDestination, planApply } from './apply-plan.js';
import type { DestinationsCommand } from './args.js';
import { destinationsOf, type Io, orApiError, printApiError } from './output.js';

/** Changes in flight at once: enough for 1,000 destinations in reasonable time, gentle on the API. */
const CONCURRENCY = 4;

/**
 * `destinations apply -f FILE [--prune] [--dry-run]`: validates the config file as `npm start` and
 * `cdk synth` do (exit 2 with the field errors), diffs its destinations against the API's list,
 * prints the diff, then creates the missing, updates the changed (If-Match the listed version) and,
 * with --prune, deletes the ones the file does not have. A dry run stops after the diff.
 */
export async function runApply(
  command: DestinationsCommand,
  api: ManagementApi,
  io: Io,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Promise<number> {
  const path = command.file ?? '';
  let config: PushrailConfig;
  try {
    let text: string;
    try {
      text = read(path);
    } catch (error) {
      throw new UsageError(
        `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    config = parseConfigText(text, path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The messages name fields and rules, never a value (a raw key is reported by where it is).
    io.err(error.message);
    return 2;
  }

  return orApiError(io, async () => {
    const current = await listAll(api);
    const plan = planApply(config.destinations, current, { prune: command.prune });
    for (const line of formatPlan(plan)) io.out(line);
    if (plan.blocked.length > 0) {
      io.err('nothing changed: resolve the destinations marked "!" first');
      return 1;
    }
    if (command.dryRun) {
      io.out('dry run: nothing changed');
      return 0;
    }
    const steps = [
      ...plan.creates.map((d) => ({
        action: `create ${d.id}`,
        run: () => api.send('POST', '/v1/destinations', { body: d }),
      })),
      ...plan.updates.map((u) => ({
        action: `update ${u.destination.id}`,
        run: () =>
          api.send('PUT', `/v1/destinations/${encodeURIComponent(u.destination.id)}`, {
            body: u.destination,
            ...(u.version !== undefined ? { ifMatch: u.version } : {}),
          }),
      })),
      ...plan.deletes.map((d) => ({
        action: `delete ${d.id}`,
        run: () => api.send('DELETE', `/v1/destinations/${encodeURIComponent(d.id)}`),
      })),
    ];
    if (steps.length === 0) {
      io.out(`nothing to change on ${api.target.where}`);
      return 0;
    }
    const failed = await pMap(
      steps,
      async (step) => {
        try {
          await step.run();
          return false;
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          printApiError(io, error, step.action);
          return true;
        }
      },
      { concurrency: CONCURRENCY },
    );
    const failures = failed.filter(Boolean).length;
    io.out(
      `applied on ${api.target.where}: ${plan.creates.length} to create, ${plan.updates.length} to update, ` +
        `${plan.deletes.length} to delete; ${steps.length - failures} done, ${failures} failed`,
    );
    return failures > 0 ? 1 : 0;
  });
}

/** Every destination the API lists, following `cursor` if it pages. */
async function listAll(api: ManagementApi): Promise<ListedDestination[]> {
  const all: ListedDestination[] = [];
  let cursor: string | undefined;
  do {
    const res = await api.send('GET', '/v1/destinations', { query: { cursor } });
    all.push(...destinationsOf(res.body));
    const next = (res.body as { cursor?: unknown } | undefined)?.cursor;
    cursor = typeof next === 'string' && next.length > 0 && next !== cursor ? next : undefined;
  } while (cursor);
  return all;
}
