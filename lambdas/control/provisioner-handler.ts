import type { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { DestinationStore } from '../adapters/destination-store.js';
import { healthAdapters } from '../adapters/health-deps.js';
import {
  createLambdaMappings,
  type DeliveryFunctions,
  MAPPING_CLIENT_MAX_ATTEMPTS,
} from '../adapters/lambda-mappings.js';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { pushrailLogger } from '../adapters/log-format.js';
import { cloudWatchQueueAlarms } from '../adapters/queue-alarms.js';
import { secretsManagerDeleter } from '../adapters/secret-deleter.js';
import { PROVISIONER_ENV } from '../core/function-env.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import { MAX_NAME_PREFIX } from '../core/resources.js';
import { createTokenBucket } from '../core/token-bucket.js';
import { DESTINATION_TYPES } from '../destinations/index.js';
import { evaluateHealth, healthTargetOfRecord } from '../observe/health.js';
import {
  createProvisioner,
  type Provisioner,
  type ProvisionerDeps,
  type TeardownReport,
} from './provisioner.js';

/**
 * The provisioner's Lambda entry (DESIGN.md "Management API"): converges the destinations' queues and
 * event source mappings to the destinations table. It runs with reserved concurrency 1, so its pacing
 * of the Lambda control plane holds across invocations. Three events:
 *
 * - `{ "destinationId": "<id>" }`, invoked asynchronously by the management function after a change
 *   (adapters/provisioner-trigger.ts): converges that destination;
 * - a scheduled event (an EventBridge rule's `Scheduled Event`, or EventBridge Scheduler with that
 *   input): reconciles every destination, which also repairs drift and finishes what an earlier run
 *   left (a failed step, a mapping Lambda was still changing, a delete still draining);
 * - a CDK custom-resource Provider `onEvent`: Delete removes everything the provisioner created
 *   (Provisioner.teardownAll), so `cdk destroy` leaves nothing behind; Create and Update do nothing.
 */

/** The ids the schema allows (config-fields.ts `id`). */
const DESTINATION_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

const DestinationEventSchema = z.strictObject({ destinationId: z.string().regex(DESTINATION_ID) });
const ScheduledEventSchema = z.looseObject({
  'detail-type': z.literal('Scheduled Event'),
  source: z.enum(['aws.events', 'aws.scheduler']),
});
const CustomResourceEventSchema = z.looseObject({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  StackId: z.string(),
  LogicalResourceId: z.string(),
  PhysicalResourceId: z.string().optional(),
});

export type ProvisionerEvent =
  | z.infer<typeof DestinationEventSchema>
  | z.infer<typeof ScheduledEventSchema>
  | z.infer<typeof CustomResourceEventSchema>;

export type ProvisionerResult =
  | { readonly destinationId: string; readonly outcome: 'converged' | 'failed' }
  | { readonly reconciled: true }
  /** What the custom-resource Provider framework reads from onEvent. */
  | { readonly PhysicalResourceId: string; readonly Data?: TeardownReport };

export type ProvisionerHandler = (event: unknown, context: Context) => Promise<ProvisionerResult>;

/** An event that is none of the three shapes: a wiring mistake, never retried into success. */
export class UnknownProvisionerEventError extends Error {
  public constructor(event: unknown) {
    const keys =
      event && typeof event === 'object'
        ? Object.keys(event).slice(0, 10).join(', ') || 'none'
        : typeof event;
    super(
      'the provisioner accepts {"destinationId": "<id>"}, a scheduled event ("detail-type": "Scheduled Event") ' +
        `or a custom-resource event (RequestType Create, Update or Delete); it received one with keys: ${keys}`,
    );
    this.name = 'UnknownProvisionerEventError';
  }
}

export interface ProvisionerHandlerOptions {
  /** @default a Powertools Logger, service `pushrail-provisioner` */
  readonly logger?: Logger;
  /**
   * Changes the provisioner's dependencies before it is built (tests: a crash injected between steps,
   * a faster teardown retry).
   */
  readonly deps?: (deps: ProvisionerDeps) => ProvisionerDeps;
  /** Stands in for the provisioner (unit tests of the event dispatch). @default createProvisioner */
  readonly provisioner?: (deps: ProvisionerDeps) => Provisioner;
}

/**
 * Builds the provisioner function from an environment (PROVISIONER_ENV), validated at the first event.
 * Its SDK clients take `AWS_REGION` and `AWS_ENDPOINT_URL` from `source`, so tests point it at moto.
 */
export function createProvisionerHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: ProvisionerHandlerOptions = {},
): ProvisionerHandler {
  const env = readEnv(
    {
      [PROVISIONER_ENV.destinationsTable]: z.string().min(1),
      [PROVISIONER_ENV.namePrefix]: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .max(MAX_NAME_PREFIX),
      [PROVISIONER_ENV.deliveryFunctions]: jsonOf(
        z
          .partialRecord(z.enum(DESTINATION_TYPES), z.string().min(1))
          .refine((r) => Object.keys(r).length > 0, {
            message: 'must name at least one kind',
          }),
      ),
      [PROVISIONER_ENV.mappingCallsPerSecond]: z.coerce.number().gt(0).max(15).default(10),
      [PROVISIONER_ENV.alarmTopicArn]: z.string().startsWith('arn:').optional(),
      [PROVISIONER_ENV.attemptsTable]: z.string().min(1).optional(),
    },
    source,
  );
  const clientConfig = {
    ...(source.AWS_REGION ? { region: source.AWS_REGION } : {}),
    ...(source.AWS_ENDPOINT_URL ? { endpoint: source.AWS_ENDPOINT_URL } : {}),
  };
  const logger = options.logger ?? pushrailLogger('pushrail-provisioner');
  const namePrefix = env[PROVISIONER_ENV.namePrefix];
  const rate = env[PROVISIONER_ENV.mappingCallsPerSecond];
  const alarmTopicArn = env[PROVISIONER_ENV.alarmTopicArn];
  // Every Lambda control-plane call takes a token, reads included (they share the account's ~15/s).
  const lambdaCalls = createTokenBucket({ ratePerSecond: rate });
  const base: ProvisionerDeps = {
    store: new DestinationStore(new DynamoDBClient(clientConfig), env[PROVISIONER_ENV.destinationsTable]),
    sqs: new SQSClient(clientConfig),
    mappings: createLambdaMappings({
      lambda: new LambdaClient({ ...clientConfig, maxAttempts: MAPPING_CLIENT_MAX_ATTEMPTS }),
      functions: env[PROVISIONER_ENV.deliveryFunctions] as DeliveryFunctions,
      namePrefix,
      pace: () => lambdaCalls.take(),
    }),
    deleteSecret: secretsManagerDeleter(new SecretsManagerClient(clientConfig)),
    namePrefix,
    ...(alarmTopicArn
      ? {
          alarms: cloudWatchQueueAlarms({
            cloudwatch: new CloudWatchClient(clientConfig),
            namePrefix,
            actions: [alarmTopicArn],
          }),
        }
      : {}),
    mappingCallsPerSecond: rate,
    // The handler's logger, so the provisioner's lines carry the invocation's context.
    logger: {
      info: (message, extra) => logger.info(message, extra ?? {}),
      warn: (message, extra) => logger.warn(message, extra ?? {}),
      error: (message, extra) => logger.error(message, extra ?? {}),
    },
  };
  const deps = options.deps ? options.deps(base) : base;
  const provisioner: Provisioner = (options.provisioner ?? createProvisioner)(deps);

  // Health is evaluated on the same 5-minute schedule, so a change is announced even when nobody reads it.
  const attemptsTable = env[PROVISIONER_ENV.attemptsTable];
  const dynamodb = new DynamoDBClient(clientConfig);
  const health = attemptsTable
    ? { ...healthAdapters(dynamodb, attemptsTable, clientConfig), logger }
    : undefined;
  const evaluateAllHealth = async (): Promise<void> => {
    if (!health) return;
    try {
      const records = (await deps.store.list()).filter((r) => r.desired !== 'DELETED');
      await evaluateHealth(records.map(healthTargetOfRecord), health);
    } catch (error) {
      logger.warn('scheduled health evaluation failed', { error });
    }
  };

  return async (event, context) => {
    logger.addContext(context);
    const destination = DestinationEventSchema.safeParse(event);
    if (destination.success) {
      const { destinationId } = destination.data;
      try {
        await provisioner.converge(destinationId);
        return { destinationId, outcome: 'converged' };
      } catch {
        // Recorded on the destination (FAILED, with the reason) and logged by the provisioner; the
        // scheduled reconcile retries it. A throw would only add Lambda's async retries on top.
        return { destinationId, outcome: 'failed' };
      }
    }
    if (ScheduledEventSchema.safeParse(event).success) {
      await provisioner.reconcileAll();
      await evaluateAllHealth();
      return { reconciled: true };
    }
    const custom = CustomResourceEventSchema.safeParse(event);
    if (custom.success) {
      // Update must answer the same id: a new one makes CloudFormation delete the old resource, which
      // would be a teardown of every destination.
      const PhysicalResourceId = custom.data.PhysicalResourceId ?? `${namePrefix}-provisioner-teardown`;
      if (custom.data.RequestType !== 'Delete') return { PhysicalResourceId };
      logger.info('stack deletion: tearing down every destination');
      const Data = await provisioner.teardownAll();
      return { PhysicalResourceId, Data };
    }
    throw new UnknownProvisionerEventError(event);
  };
}

/** The Lambda entry point. */
export const handler: ProvisionerHandler = lazyHandler(() => createProvisionerHandler());
