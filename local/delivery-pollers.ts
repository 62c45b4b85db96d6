import { SQSClient } from '@aws-sdk/client-sqs';
import type { PushrailConfig } from '../lambdas/core/config.js';
import { deliveryEnvironment } from '../lambdas/core/function-env.js';
import { type Destination, deliverySettings } from '../lambdas/destinations/index.js';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';
import { loadDeliveryModule } from './kind-modules.js';
import type { Provisioned } from './provision.js';
import { type PollerOptions, QueuePoller } from './queue-poller.js';
import { queueArn } from './queues.js';

/**
 * The local stand-ins for the deployed event source mappings: one poller per destination, running its
 * kind's real delivery handler with the batch size, window and timeout the stack gives it. `npm start`
 * starts them after provisioning and before the API opens, and stops them on shutdown, before the
 * emulator.
 */

export interface DeliveryPollerContext {
  readonly config: PushrailConfig;
  readonly namePrefix: string;
  /** The emulator with Pushrail's region and credentials. */
  readonly target: EmulatorTarget;
  readonly provisioned: Provisioned;
}

export interface RunningPollers {
  /** Stops polling and waits for the batches in hand to finish. */
  stop(): Promise<void>;
}

/** The environment the deployed delivery function gets, with the local names and URLs. */
export function localDeliveryEnvironment(
  context: Pick<DeliveryPollerContext, 'config' | 'provisioned'>,
  destination: Destination,
): Record<string, string> {
  const provisioned = context.provisioned.destinations[destination.id];
  if (!provisioned) throw new Error(`destination ${destination.id} was not provisioned`);
  const table = (role: string) => {
    const name = context.provisioned.tables[role];
    if (!name) throw new Error(`table ${role} was not provisioned`);
    return name;
  };
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

export async function startDeliveryPollers(context: DeliveryPollerContext): Promise<RunningPollers> {
  const sqs = new SQSClient(clientConfig(context.target));
  const pollers: QueuePoller[] = [];
  for (const destination of context.config.destinations) {
    const provisioned = context.provisioned.destinations[destination.id];
    if (!provisioned) continue;
    const { createDeliveryHandler } = await loadDeliveryModule(destination);
    const poller = new QueuePoller({
      sqs,
      queueUrl: provisioned.queueUrl,
      queueArn: await queueArn(sqs, provisioned.queueUrl),
      region: context.target.region,
      ...pollerBatching(destination),
      handler: createDeliveryHandler({ ...process.env, ...localDeliveryEnvironment(context, destination) }),
      functionName: `${context.namePrefix}-${destination.id}`,
      onError: (error) => console.error(`delivery ${destination.id}: ${(error as Error).message}`),
    });
    poller.start();
    pollers.push(poller);
  }
  return {
    async stop() {
      await Promise.all(pollers.map((p) => p.stop()));
      sqs.destroy();
    },
  };
}
