import type { PushrailConfig } from '../lambdas/core/config.js';
import { deliveryEnvironment } from '../lambdas/core/function-env.js';
import { type Destination, deliverySettings } from '../lambdas/destinations/index.js';
import type { Provisioned } from './provision.js';
import { provisionedTable } from './provisioned-table.js';
import type { PollerOptions } from './queue-poller.js';

/**
 * What the local stand-ins for the deployed event source mappings (local/local-mappings.ts, one
 * poller per destination) run with: the batch size, window and timeout the stack gives the kind's
 * delivery function, and its environment with the local names and URLs.
 */

export interface DeliveryPollerContext {
  readonly config: PushrailConfig;
  readonly provisioned: Provisioned;
}

/** The environment the deployed delivery function gets, with the local names and URLs. */
export function localDeliveryEnvironment(
  context: Pick<DeliveryPollerContext, 'config' | 'provisioned'>,
  destination: Destination,
): Record<string, string> {
  const provisioned = context.provisioned.destinations[destination.id];
  if (!provisioned) throw new Error(`destination ${destination.id} was not provisioned`);
  const table = (role: string) => provisionedTable(context.provisioned.tables, role);
  return deliveryEnvironment({
    destination,
    vendor: context.config.vendor,
    eventsTable: table('events'),
    sealsTable: table('seals'),
    attemptsTable: table('attempts'),
    sourceQueueUrl: provisioned.queueUrl,
    dlqUrl: provisioned.dlqUrl,
    retentionDays: context.config.retentionDays,
  });
}

/** The batching a destination's poller runs with: the event source mapping's, from its kind. */
export function pollerBatching(
  destination: Destination,
): Pick<PollerOptions, 'batchSize' | 'windowSeconds' | 'timeoutSeconds'> {
  const settings = deliverySettings(destination);
  return {
    batchSize: settings.batchSize,
    windowSeconds: settings.windowSeconds,
    timeoutSeconds: settings.timeoutSeconds,
  };
}
