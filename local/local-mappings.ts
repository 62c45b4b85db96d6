import { SQSClient } from '@aws-sdk/client-sqs';
import type { DeliveryOptions } from '../lambdas/adapters/customer-clients.js';
import type { SourceOptions } from '../lambdas/adapters/destination-source.js';
import type { MappingPort, MappingQueue } from '../lambdas/control/provisioner.js';
import { DELIVERY_ENV, tableDeliveryEnvironment } from '../lambdas/core/function-env.js';
import type { Destination } from '../lambdas/destinations/index.js';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';
import { pollerBatching } from './delivery-pollers.js';
import { loadDeliveryModule } from './kind-modules.js';
import { provisionedTable } from './provisioned-table.js';
import { QueuePoller } from './queue-poller.js';

/**
 * The local runtime's event source mappings (the provisioner's MappingPort): one QueuePoller per
 * destination, running its kind's real delivery handler with the batching the deployed mapping would
 * have, started when the mapping is enabled and stopped (after the batch in hand) when it is disabled
 * or removed.
 *
 * The handlers read their destination from the destinations table, as one consumer per kind does on
 * AWS; each poller still gets a handler of its own, because a Lambda container runs one batch at a time
 * while the pollers of one process run side by side.
 */

export interface LocalMappingsOptions {
  /** The emulator, with Pushrail's region and credentials. */
  readonly target: EmulatorTarget;
  /** The consumers' environment: `localMappingsEnvironment` (the destinations table, not one destination). */
  readonly deliveryEnv: Readonly<Record<string, string>>;
  /** Prefix of the pollers' function names in contexts and logs. */
  readonly namePrefix: string;
  /** Seams of the handlers (tests: the catalog check interval, the backoff's jitter). */
  readonly handlerOptions?: DeliveryOptions & SourceOptions;
  readonly onError?: (destinationId: string, error: unknown) => void;
}

export interface LocalMappings extends MappingPort {
  /** Whether a destination's poller is running (enabled). */
  isEnabled(destinationId: string): boolean;
  /** Stops every poller, waiting for the batches in hand: for shutdown. */
  stopAll(): Promise<void>;
}

/** The consumers' environment on the local runtime: the destinations table and the shared tables. */
export function localMappingsEnvironment(values: {
  readonly tables: Readonly<Record<string, string>>;
  readonly namePrefix: string;
  readonly vendor: string;
  readonly retentionDays: number;
}): Record<string, string> {
  const table = (role: string) => provisionedTable(values.tables, role);
  return {
    ...tableDeliveryEnvironment({
      destinationsTable: table('destinations'),
      namePrefix: values.namePrefix,
      vendor: values.vendor,
      eventsTable: table('events'),
      sealsTable: table('seals'),
      attemptsTable: table('attempts'),
      retentionDays: values.retentionDays,
      ...(values.tables.audit ? { auditTable: values.tables.audit } : {}),
    }),
    // The one switch that tells a consumer it runs locally: the webhook sender may dial loopback.
    [DELIVERY_ENV.localRuntime]: '1',
  };
}

/** Longest a disable waits for a receive under way; short enough for a pause to feel immediate. */
const POLL_WAIT_SECONDS = 5;

interface Mapping {
  /** What the poller was built for: a change (queue, kind, batching) builds a new one. */
  readonly key: string;
  readonly poller: QueuePoller;
  enabled: boolean;
}

export function createLocalMappings(options: LocalMappingsOptions): LocalMappings {
  const sqs = new SQSClient(clientConfig(options.target));
  const mappings = new Map<string, Mapping>();

  async function stop(id: string, graceful = true): Promise<void> {
    const mapping = mappings.get(id);
    if (!mapping) return;
    mappings.delete(id);
    await mapping.poller.stop({ graceful });
  }

  async function build(destination: Destination, queue: MappingQueue, key: string): Promise<Mapping> {
    const { createDeliveryHandler } = await loadDeliveryModule(destination);
    const poller = new QueuePoller({
      sqs,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      region: options.target.region,
      ...pollerBatching(destination),
      // Short long polls: a pause waits for the receive under way (see QueuePoller.stop).
      waitSeconds: POLL_WAIT_SECONDS,
      handler: createDeliveryHandler({ ...process.env, ...options.deliveryEnv }, options.handlerOptions),
      functionName: `${options.namePrefix}-${destination.type.toLowerCase()}-consumer`,
      onError: (error) => options.onError?.(destination.id, error),
    });
    return { key, poller, enabled: false };
  }

  return {
    async ensure(destination, queue, enabled) {
      const key = JSON.stringify([
        destination.type,
        queue.queueUrl,
        queue.queueArn,
        pollerBatching(destination),
      ]);
      let mapping = mappings.get(destination.id);
      if (mapping && mapping.key !== key) {
        // UpdateEventSourceMapping's local form: the batching (or the queue) changed.
        await stop(destination.id);
        mapping = undefined;
      }
      if (!mapping) {
        mapping = await build(destination, queue, key);
        mappings.set(destination.id, mapping);
      }
      if (enabled && !mapping.enabled) {
        mapping.poller.start();
        mapping.enabled = true;
      } else if (!enabled && mapping.enabled) {
        mapping.enabled = false;
        await mapping.poller.stop({ graceful: true });
      }
    },
    remove: (id) => stop(id),
    async list() {
      return [...mappings.keys()];
    },
    isEnabled(destinationId) {
      return mappings.get(destinationId)?.enabled ?? false;
    },
    async stopAll() {
      // Shutdown: receives under way are cut short rather than waited for.
      await Promise.all([...mappings.keys()].map((id) => stop(id, false)));
      sqs.destroy();
    },
  };
}
