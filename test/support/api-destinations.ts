import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DestinationStore } from '../../lambdas/adapters/destination-store.js';
import { secretsManagerDeleter } from '../../lambdas/adapters/secret-deleter.js';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import {
  createProvisioner,
  type MappingPort,
  type MappingQueue,
  type Provisioner,
} from '../../lambdas/control/provisioner.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import type { EmulatorTarget } from '../../local/aws-clients.js';
import { provisionedTable } from '../../local/provisioned-table.js';
import { localManagementEnvironment, provisionCustomerSide } from '../../local/runtime-destinations.js';
import type { Handler } from './management.js';

/**
 * Destinations created the way a vendor's backend creates them (DESIGN.md "Management API"): POSTed
 * to the real management handler, converged by the real provisioner, with a MappingPort that hands
 * each destination's queue to the test instead of starting a consumer, so the test runs the
 * consumers itself (the fault suite's crash-wrapped pollers).
 *
 * What is the local runtime's, as on `npm start`: each destination's customer side (bucket, bus with
 * inbox, role in the customer's account) is created in the emulator when its mapping is first ensured
 * (local/runtime-destinations.ts provisionCustomerSide).
 */

/** What the provisioner handed the mapping port for one destination. */
export interface Mapped {
  readonly destination: Destination;
  readonly queue: MappingQueue;
  readonly enabled: boolean;
  /** The kind's local customer-side fields (`bucket`, `busArn`, `inboxQueueUrl`, ...). */
  readonly customer: Readonly<Record<string, string>>;
}

export interface ApiDestinations {
  readonly management: Handler;
  readonly provisioner: Provisioner;
  /** The destinations whose mapping the provisioner ensured, by id. */
  readonly mapped: ReadonlyMap<string, Mapped>;
  /** Ids the management API asked the provisioner to converge, in order, not yet taken. */
  takeNotified(): string[];
  /** Warnings of the customer-side provisioning (account mismatches, missing secrets). */
  readonly warnings: readonly string[];
  stop(): void;
}

export function apiDestinations(options: {
  /** The emulator (moto) itself: the management handler, the store and the customer side use it. */
  readonly target: EmulatorTarget;
  readonly tables: Readonly<Record<string, string>>;
  readonly namePrefix: string;
  readonly accountId: string;
  /**
   * The provisioner's SQS client. Its answers' queue URLs are what the provisioner writes on the
   * record, so what the consumers use (a test that proxies the consumers' calls passes a client whose
   * answers name the proxy).
   * @default a client of `target`
   */
  readonly sqs?: SQSClient;
  /** @default no customer side (a test that only routes needs none) */
  readonly customerSide?: boolean;
  /** Destinations reconcileAll converges at once. @default the provisioner's */
  readonly concurrency?: number;
}): ApiDestinations {
  const { target, tables, namePrefix } = options;
  const table = (role: string) => provisionedTable(tables, role);
  const aws = { endpoint: target.endpoint, region: target.region };
  const dynamodb = new DynamoDBClient(aws);
  const sqs = options.sqs ?? new SQSClient(aws);
  const secretsManager = new SecretsManagerClient(aws);
  const warnings: string[] = [];
  const mapped = new Map<string, Mapped>();
  const notified: string[] = [];

  const mappings: MappingPort = {
    async ensure(destination, queue, enabled) {
      const customer =
        mapped.get(destination.id)?.customer ??
        (options.customerSide
          ? await provisionCustomerSide(destination, target, (message) => warnings.push(message))
          : {});
      mapped.set(destination.id, { destination, queue, enabled, customer });
    },
    async remove(destinationId) {
      mapped.delete(destinationId);
    },
    list: async () => [...mapped.keys()],
  };

  const provisioner = createProvisioner({
    store: new DestinationStore(dynamodb, table('destinations')),
    sqs,
    mappings,
    deleteSecret: secretsManagerDeleter(secretsManager),
    namePrefix,
    // The mappings are in this process: no control-plane quota to pace for.
    mappingCallsPerSecond: 1_000_000,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });

  const management = createManagementHandler(
    localManagementEnvironment({
      tables: options.tables,
      namePrefix,
      accountId: options.accountId,
      target,
    }),
    { notify: (id) => void notified.push(id) },
  );

  return {
    management,
    provisioner,
    mapped,
    warnings,
    takeNotified: () => notified.splice(0),
    stop() {
      dynamodb.destroy();
      if (!options.sqs) sqs.destroy();
      secretsManager.destroy();
    },
  };
}

/**
 * An SQS client of `target` whose answers name `via` instead of `target` in their queue URLs: the
 * URLs the provisioner stores for the consumers then go through a proxy at `via` (the SDK sends a
 * queue's calls to its URL's host), as their other calls do.
 */
export function sqsAnsweringVia(target: EmulatorTarget, via: string): SQSClient {
  const client = new SQSClient({ endpoint: target.endpoint, region: target.region });
  const from = target.endpoint.replace(/\/+$/, '');
  const to = via.replace(/\/+$/, '');
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const output = result.output as { QueueUrl?: unknown };
      if (typeof output.QueueUrl === 'string' && output.QueueUrl.startsWith(from))
        output.QueueUrl = to + output.QueueUrl.slice(from.length);
      return result;
    },
    { step: 'initialize', name: 'queueUrlsVia' },
  );
  return client;
}
