import type { PushrailConfig } from '../lambdas/core/config.js';
import { REPLAY_ENV } from '../lambdas/core/function-env.js';
import { createReplayHandler, type ReplayHandler } from '../lambdas/replay/handler.js';
import type { Provisioned } from './provision.js';
import { provisionedTable } from './provisioned-table.js';

/** The replay function's timeout, as deployed (Lambda's maximum: long DLQ moves checkpoint and resume). */
export const REPLAY_TIMEOUT_MS = 15 * 60 * 1000;

/** The deployed replay handler with the local names, reachable through the local Lambda Invoke API. */
export function replayFunction(settings: {
  readonly config: PushrailConfig;
  readonly namePrefix: string;
  readonly provisioned: Provisioned;
}): { name: string; handler: ReplayHandler; timeoutMs: number } {
  const { config, namePrefix, provisioned } = settings;
  const table = (role: string) => provisionedTable(provisioned.tables, role);
  const env = {
    [REPLAY_ENV.eventsTable]: table('events'),
    [REPLAY_ENV.attemptsTable]: table('attempts'),
    [REPLAY_ENV.queueUrlBase]: provisioned.queueUrlBase,
    [REPLAY_ENV.namePrefix]: namePrefix,
    // Destinations at runtime: the function finds them in the table, as the management API keeps it.
    [REPLAY_ENV.destinationsTable]: table('destinations'),
    [REPLAY_ENV.auditTable]: table('audit'),
    [REPLAY_ENV.retentionDays]: String(config.retentionDays),
  };
  return {
    name: `${namePrefix}-replay`,
    handler: createReplayHandler({ ...process.env, ...env }),
    timeoutMs: REPLAY_TIMEOUT_MS,
  };
}
