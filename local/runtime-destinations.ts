import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { AuditLog } from '../lambdas/adapters/audit-log.js';
import { DestinationStore } from '../lambdas/adapters/destination-store.js';
import { healthAdapters } from '../lambdas/adapters/health-deps.js';
import { OwnedSecrets } from '../lambdas/adapters/owned-secrets.js';
import { secretsManagerDeleter } from '../lambdas/adapters/secret-deleter.js';
import { createDestinationUseCases } from '../lambdas/control/destinations.js';
import { createManagementHandler } from '../lambdas/control/handler.js';
import { createProvisioner, type MappingPort, type Provisioner } from '../lambdas/control/provisioner.js';
import type { PushrailConfig } from '../lambdas/core/config.js';
import { MANAGEMENT_ENV } from '../lambdas/core/function-env.js';
import type { Destination, ProvisionedDestination } from '../lambdas/destinations/index.js';
import { evaluateHealth, healthTargetOfRecord } from '../lambdas/observe/health.js';
import type { ProxyHandler } from './api-server.js';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';
import { customerAccess } from './customer-credentials.js';
import { accountMismatch, ensureAccessKeySecret } from './customer-resources.js';
import { loadCustomerSideModule } from './kind-modules.js';
import {
  createLocalMappings,
  type LocalMappings,
  type LocalMappingsOptions,
  localMappingsEnvironment,
} from './local-mappings.js';
import { localTestSender } from './local-test-sender.js';
import { provisionedTable } from './provisioned-table.js';

/**
 * Destinations at runtime on the local runtime (DESIGN.md "Local runtime", "Management API"): the
 * management handler, the provisioner over local mappings (a poller per destination), the customer
 * side of every destination created at runtime, and the config file applied at start.
 *
 * What is local here, and only here: the mappings are pollers rather than event source mappings, and
 * each destination's customer side (bucket, bus with inbox, the secret of an ACCESS_KEY destination
 * that names one) is created in the emulator before its poller starts, as a real customer would
 * already have it.
 */

/** How often the provisioner reconciles every destination (drift, drained deletes, failed steps). */
const RECONCILE_INTERVAL_MS = 5_000;
/**
 * How often health is evaluated (and changes announced to the notifications inbox) when nobody reads
 * it: the deployed stack's provisioner does it every 5 minutes; locally sooner, to see it happen.
 */
const HEALTH_INTERVAL_MS = 30_000;

export interface RuntimeDestinationsOptions {
  readonly config: PushrailConfig;
  readonly namePrefix: string;
  readonly target: EmulatorTarget;
  readonly tables: Readonly<Record<string, string>>;
  readonly accountId: string;
  /** Called after every change to what `local.json` lists, with the destinations by id. */
  readonly onChange: (destinations: Readonly<Record<string, ProvisionedDestination>>) => void;
  /** @default console.warn */
  readonly warn?: (message: string) => void;
  /** Seams of the consumers' handlers (tests: the backoff's jitter). @default none */
  readonly handlerOptions?: LocalMappingsOptions['handlerOptions'];
}

export interface RuntimeDestinations {
  /** The management API's handler, with `inboxQueueUrl` added to EventBridge destinations. */
  readonly managementHandler: ProxyHandler;
  readonly provisioner: Provisioner;
  /** What `.pushrail/local.json` lists under `destinations`. */
  destinations(): Readonly<Record<string, ProvisionedDestination>>;
  /** Applies the config file like `destinations apply` without prune, then reconciles everything. */
  applyConfig(source: string): Promise<void>;
  stop(): Promise<void>;
}

export function startRuntimeDestinations(options: RuntimeDestinationsOptions): RuntimeDestinations {
  const { config, namePrefix, target, tables } = options;
  const warn = options.warn ?? ((message: string) => console.warn(`warning: ${message}`));
  const table = (role: string) => provisionedTable(tables, role);
  const aws = clientConfig(target);
  const dynamodb = new DynamoDBClient(aws);
  const sqs = new SQSClient(aws);
  const secretsManager = new SecretsManagerClient(aws);
  const store = new DestinationStore(dynamodb, table('destinations'));
  const listed = new Map<string, ProvisionedDestination>();
  const customerSides = new Map<string, Readonly<Record<string, string>>>();

  const deliveryEnv = localMappingsEnvironment({
    tables,
    namePrefix,
    vendor: config.vendor,
    retentionDays: config.retentionDays,
  });
  const pollers: LocalMappings = createLocalMappings({
    target,
    deliveryEnv,
    namePrefix,
    ...(options.handlerOptions ? { handlerOptions: options.handlerOptions } : {}),
    onError: (id, error) => console.error(`delivery ${id}: ${(error as Error).message}`),
  });

  // The customer side first, then the poller: a destination created through the API gets a bucket
  // or bus to deliver to, exactly as one from the config file does.
  const mappings: MappingPort = {
    async ensure(destination, queue, enabled) {
      // Once per destination and process: the provisioner ensures every few seconds, and a bucket the
      // customer deleted must stay deleted (deliveries then fail, and dead-letter, as they would in AWS).
      const fields =
        customerSides.get(destination.id) ?? (await provisionCustomerSide(destination, target, warn));
      customerSides.set(destination.id, fields);
      listed.set(destination.id, {
        type: destination.type,
        queueUrl: queue.queueUrl,
        dlqUrl: dlqUrlOf(queue.queueUrl),
        ...fields,
      } as ProvisionedDestination);
      options.onChange(Object.fromEntries(listed));
      await pollers.ensure(destination, queue, enabled);
    },
    async remove(destinationId) {
      await pollers.remove(destinationId);
      customerSides.delete(destinationId);
      if (listed.delete(destinationId)) options.onChange(Object.fromEntries(listed));
    },
    list: () => pollers.list(),
  };

  const provisioner = createProvisioner({
    store,
    sqs,
    mappings,
    deleteSecret: secretsManagerDeleter(secretsManager),
    namePrefix,
    // No control-plane quota to respect: the pollers are in this process.
    mappingCallsPerSecond: 1_000,
  });

  const management = createManagementHandler(
    {
      ...process.env,
      ...localManagementEnvironment({ tables, namePrefix, accountId: options.accountId, target }),
    },
    {
      notify: (id) => provisioner.notify(id),
      testSend: localTestSender({
        deliveryEnv,
        namePrefix,
        region: target.region,
        accountId: options.accountId,
        onError: (id, error) => console.error(`test send ${id}: ${(error as Error).message}`),
      }),
    },
  );

  let timer: NodeJS.Timeout | undefined;
  let healthTimer: NodeJS.Timeout | undefined;
  let evaluating: Promise<void> | undefined;
  const health = {
    ...healthAdapters(dynamodb, table('attempts'), aws),
    logger: { info: () => undefined, warn: (m: string) => warn(m) },
  };
  const evaluate = () => {
    evaluating ??= store
      .list()
      .then((records) =>
        evaluateHealth(records.filter((r) => r.desired !== 'DELETED').map(healthTargetOfRecord), health),
      )
      .then(() => undefined)
      .catch((error: unknown) => warn(`health evaluation failed: ${(error as Error).message}`))
      .finally(() => {
        evaluating = undefined;
      });
    return evaluating;
  };
  let reconciling: Promise<void> | undefined;
  const reconcile = () => {
    reconciling ??= provisioner
      .reconcileAll()
      .catch((error: unknown) => warn(`reconcile failed: ${(error as Error).message}`))
      .finally(() => {
        reconciling = undefined;
      });
    return reconciling;
  };

  return {
    managementHandler: async (event, context) => withInboxQueueUrls(await management(event, context), listed),
    provisioner,
    destinations: () => Object.fromEntries(listed),
    async applyConfig(source) {
      const useCases = createDestinationUseCases({
        store,
        audit: new AuditLog(dynamodb, table('audit')),
        secrets: new OwnedSecrets(secretsManager, namePrefix),
        notify: () => undefined,
        vendorAccountId: options.accountId,
        allowPlainHttp: true,
        logger: { info: () => undefined, warn: (message) => warn(String(message)) },
      });
      const existing = new Set((await store.list()).map((r) => r.destination.id));
      for (const destination of config.destinations) {
        // An unchanged destination is no change: no new version, no audit entry.
        if (existing.has(destination.id)) await useCases.update(destination.id, destination, source);
        else await useCases.create(destination, source);
      }
      await reconcile();
      timer = setInterval(() => void reconcile(), RECONCILE_INTERVAL_MS);
      timer.unref();
      healthTimer = setInterval(() => void evaluate(), HEALTH_INTERVAL_MS);
      healthTimer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (healthTimer) clearInterval(healthTimer);
      await reconciling;
      await evaluating;
      // A change made just before the stop is still converging: let it finish while moto is up.
      await provisioner.settle();
      await pollers.stopAll();
      dynamodb.destroy();
      sqs.destroy();
      secretsManager.destroy();
    },
  };
}

/**
 * The management handler's environment on the emulator: the local runtime's tables and prefix, the
 * emulator's account for `customerSetup`, and its endpoint for the handler's SDK clients.
 */
export function localManagementEnvironment(values: {
  readonly tables: Readonly<Record<string, string>>;
  readonly namePrefix: string;
  readonly accountId: string;
  readonly target: EmulatorTarget;
}): Record<string, string> {
  const table = (role: string) => provisionedTable(values.tables, role);
  return {
    [MANAGEMENT_ENV.destinationsTable]: table('destinations'),
    [MANAGEMENT_ENV.auditTable]: table('audit'),
    [MANAGEMENT_ENV.eventsTable]: table('events'),
    [MANAGEMENT_ENV.attemptsTable]: table('attempts'),
    [MANAGEMENT_ENV.namePrefix]: values.namePrefix,
    [MANAGEMENT_ENV.vendorAccountId]: values.accountId,
    [MANAGEMENT_ENV.localRuntime]: '1',
    AWS_REGION: values.target.region,
    AWS_ENDPOINT_URL: values.target.endpoint,
  };
}

/** The DLQ of a queue: the same name with `-dlq` (core/resources.ts queueNames). */
function dlqUrlOf(queueUrl: string): string {
  return `${queueUrl}-dlq`;
}

/**
 * The customer side of one destination on the emulator (its secret, bucket or bus with inbox), as a
 * real customer would already have it; answers the kind's `local.fields`. Exported for the tests that
 * create destinations through the API and run their own consumers (the fault suite).
 */
export async function provisionCustomerSide(
  destination: Destination,
  target: EmulatorTarget,
  warn: (message: string) => void,
): Promise<Readonly<Record<string, string>>> {
  if (destination.auth?.mode === 'ACCESS_KEY') {
    // Best effort, as at start: the secret matters only once delivery reads it.
    const { secretArn } = destination.auth;
    await ensureAccessKeySecret(secretArn, target).catch((error: unknown) =>
      warn(`destination ${destination.id}: no local secret for ${secretArn}: ${(error as Error).message}`),
    );
  }
  const customer = await customerAccess(destination, target);
  if (destination.auth?.mode === 'ASSUME_ROLE') {
    const mismatch = accountMismatch(destination.id, destination.auth.roleArn, customer);
    if (mismatch) warn(mismatch);
  }
  const { provisionCustomerSide: provision } = await loadCustomerSideModule(destination);
  return provision(destination, { customer, target, warn });
}

/**
 * The local runtime's `GET /v1/destinations` lists each destination with the fields of `local.json`
 * (DESIGN.md "Local runtime"): the API's own answer has all but the EventBridge inbox, which only the
 * local runtime has.
 */
function withInboxQueueUrls(
  result: APIGatewayProxyResult,
  listed: ReadonlyMap<string, ProvisionedDestination>,
): APIGatewayProxyResult {
  if (result.statusCode >= 300 || !result.body) return result;
  const add = (view: { id?: unknown }) => {
    const local = typeof view.id === 'string' ? listed.get(view.id) : undefined;
    return local && 'inboxQueueUrl' in local ? { ...view, inboxQueueUrl: local.inboxQueueUrl } : view;
  };
  try {
    const body = JSON.parse(result.body) as { destinations?: { id?: unknown }[]; id?: unknown };
    const decorated = Array.isArray(body.destinations)
      ? { ...body, destinations: body.destinations.map(add) }
      : add(body);
    return { ...result, body: JSON.stringify(decorated) };
  } catch {
    return result;
  }
}
