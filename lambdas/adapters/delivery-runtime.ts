import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import type { DestinationAuth } from '../core/config-fields.js';
import type { EventRecord } from '../core/event.js';
import { type ClassifiedFailure, classifyFailure, sanitizeReason } from '../core/failure-classification.js';
import { DELIVERY_ENV } from '../core/function-env.js';
import { DAY_SECONDS } from '../core/resources.js';
import {
  isTestSendRequest,
  type TestAttempt,
  TestSendRequestSchema,
  testEventRecord,
} from '../core/test-send.js';
import type { Destination } from '../destinations/index.js';
import { AttemptLog } from './attempt-log.js';
import type { CustomerCredentials } from './credentials.js';
import { CustomerClients, type DeliveryOptions } from './customer-clients.js';
import { type DeliveryOutcome, type QueuedEvent, runDeliveryBatch } from './delivery-batch.js';
import { withMetricsFlush } from './delivery-metrics.js';
import type { DestinationSource } from './destination-source.js';
import { lazyHandler } from './lazy-handler.js';
import { pushrailLogger } from './log-format.js';
import { TraceLog } from './trace-log.js';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * A destination consumer's entry: an SQS batch from its event source mappings, or a test send
 * (`{"pushrailTest": {"destinationId"}}`, core/test-send.ts) from the management function.
 */
export interface ConsumerHandler extends SqsHandler {
  (
    event: { readonly pushrailTest: { readonly destinationId: string } },
    context: Context,
  ): Promise<TestAttempt>;
}

/** What a kind's test send answers: the outcome of its one delivery call, and where it went. */
export type TestDelivery = DeliveryOutcome & { readonly target?: string };

/** The test send asked for a destination this function does not deliver to (none, another kind, deleted). */
export class TestSendTargetError extends Error {
  public constructor(destinationId: string) {
    super(`no destination "${destinationId}" of this consumer's kind in the destinations table`);
    this.name = 'TestSendTargetError';
  }
}

/** Deliveries' own attempt records are not written for a test send: its one attempt is (`test: true`). */
const NO_ATTEMPTS = { record: async () => undefined };

/**
 * The environment every destination consumer reads besides its destinations (lambdas/core/function-env.ts);
 * where the destinations come from is adapters/destination-source.ts.
 */
export const DELIVERY_QUEUE_ENV = {
  [DELIVERY_ENV.attemptsTable]: z.string().min(1),
  [DELIVERY_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
};

type QueueEnv = z.output<z.ZodObject<typeof DELIVERY_QUEUE_ENV>>;

/** What a destination's delivery gets for one batch besides its events. */
export interface DeliveryBatchContext<D extends Destination, C, K = CustomerCredentials> {
  /** The destination as it stood when the batch started: an update meanwhile applies to the next one. */
  readonly destination: D;
  /** The customer-side client (S3 or EventBridge) with the credentials this batch started with. */
  readonly client: C;
  readonly credentials: K;
  /** The consumer's logger, with the destination's id on every line. */
  readonly logger: Logger;
}

/** What a kind's test send gets: a batch's context, and where its delivery code records attempts. */
export interface TestBatchContext<D extends Destination, C, K = CustomerCredentials>
  extends DeliveryBatchContext<D, C, K> {
  readonly attempts: Pick<AttemptLog, 'record'>;
}

/**
 * Credentials could not be had: the reason says which call failed, so a wrong ExternalId reads as an
 * AssumeRole refusal and a bad secret as a Secrets Manager one, not as a bare AccessDenied.
 */
class CredentialsFailure extends Error {
  public readonly failure: ClassifiedFailure;

  public constructor(call: string, failure: ClassifiedFailure) {
    super(`${call} failed`);
    this.name = 'CredentialsFailure';
    this.failure = { ...failure, message: sanitizeReason(`${call} failed: ${failure.message}`, 512) };
  }
}

/**
 * How a kind reaches one destination's customer side, batch by batch: the AWS kinds through a client
 * with the customer's credentials (`awsCustomerClients`), the webhook sender through an HTTP agent and
 * the signing secrets. Each batch asks once, at its start, and keeps what it got to the end.
 */
export interface BatchConnection<C, K> {
  forBatch(): Promise<{ client: C; credentials: K }>;
  /** After a batch: e.g. credentials the customer side called expired are dropped. */
  afterBatch(outcomes: ReadonlyMap<string, DeliveryOutcome>): void;
  /** The call that reads the credentials, for a test send's reason when it fails. */
  readonly credentialsCall: string;
}

/** A kind's way of connecting to one destination (called again when its auth, region or revision changes). */
export type Connect<D extends Destination, C, K> = (destination: D) => BatchConnection<C, K>;

/** The customer-side connection of the AWS kinds: a client with credentials from AssumeRole or a secret. */
export function awsCustomerClients<D extends Extract<Destination, { auth: DestinationAuth }>, C>(
  createClient: (destination: D, credentials: CustomerCredentials) => C,
  options: DeliveryOptions = {},
): Connect<D, C, CustomerCredentials> {
  return (destination) => {
    const customer = new CustomerClients(
      destination.id,
      destination.auth,
      (credentials) => createClient(destination, credentials),
      options,
    );
    return {
      forBatch: () => customer.forBatch(),
      afterBatch: (outcomes) => customer.afterBatch(outcomes),
      credentialsCall:
        destination.auth.mode === 'ASSUME_ROLE'
          ? `sts:AssumeRole on ${destination.auth.roleArn} (with the destination's ExternalId)`
          : `secretsmanager:GetSecretValue on ${destination.auth.secretArn}`,
    };
  };
}

/** What the runtime keeps per destination id: its clients and logger, rebuilt when its auth or region changes. */
interface PerDestination<C, K> {
  readonly clientKey: string;
  readonly customer: BatchConnection<C, K>;
  readonly logger: Logger;
}

/**
 * The part every destination consumer shares: the logger, the attempt log, the customer's clients per
 * destination and batch, and the SQS side (partial batch failures, backoff, DLQ) in runDeliveryBatch.
 * A consumer brings only its delivery: the S3 batcher's parts, the EventBridge sender's entries.
 *
 * Each batch asks its DestinationSource once, at its start, for the destination of the queue it came
 * from, and keeps the answer and its credentials to the end.
 */
export class DeliveryRuntime<D extends Destination, C, K = CustomerCredentials> {
  public readonly logger: Logger;
  public readonly dynamodb = new DynamoDBClient({});
  public readonly attempts: AttemptLog;
  public readonly trace: TraceLog;
  public readonly retentionSeconds: number;
  private readonly sqs = new SQSClient({});
  private readonly destinations = new Map<string, PerDestination<C, K>>();
  /** The customer of each destination a batch or test send ran for, stamped on its attempt records. */
  private readonly customers = new Map<string, string>();
  /** The eventType of each event of the batches in flight, for their attempt records (the feed). */
  private readonly eventTypes = new Map<string, string>();

  public constructor(
    private readonly source: DestinationSource<D>,
    serviceName: string,
    env: QueueEnv,
    private readonly connect: Connect<D, C, K>,
    private readonly options: DeliveryOptions = {},
  ) {
    this.logger = pushrailLogger(serviceName);
    this.retentionSeconds = env[DELIVERY_ENV.retentionDays] * DAY_SECONDS;
    // Attempt items and rollups once per invocation, flushed with the metrics (below).
    this.attempts = new AttemptLog(this.dynamodb, env[DELIVERY_ENV.attemptsTable], this.retentionSeconds, {
      customerOf: (id) => this.customers.get(id),
      eventTypeOf: (id) => this.eventTypes.get(id),
      buffered: true,
    });
    this.trace = new TraceLog(this.dynamodb, env[DELIVERY_ENV.attemptsTable], this.retentionSeconds);
  }

  /**
   * The consumer's handler: `deliver` on each SQS batch, with the destination and client the batch
   * starts with; `sendTest` for a test send (see `testSend`).
   */
  public handler(
    deliver: (
      events: readonly QueuedEvent[],
      batch: DeliveryBatchContext<D, C, K>,
    ) => Promise<Map<string, DeliveryOutcome>>,
    sendTest: (record: EventRecord, batch: TestBatchContext<D, C, K>) => Promise<TestDelivery>,
  ): ConsumerHandler {
    const sqsHandler: SqsHandler = async (event, context) => {
      const first = event.Records[0];
      if (!first) return { batchItemFailures: [] };
      const target = await this.source.forQueue(first.eventSourceARN);
      if (!target) {
        // No destination (any more, or not provisioned yet): leave every message on the queue. A
        // forced delete moves them to the DLQ; a normal delete waits for the queue to drain.
        this.logger.warn('no destination for this queue; messages left on it', {
          eventSourceARN: first.eventSourceARN,
          messages: event.Records.length,
        });
        return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
      }
      const { destination } = target;
      this.customers.set(destination.id, destination.customerExternalId);
      const state = this.stateFor(destination, target.revision);
      state.logger.addContext(context);
      const typed: string[] = [];
      return runDeliveryBatch(
        event,
        async (events) => {
          for (const q of events) {
            this.eventTypes.set(q.record.eventId, q.record.eventType);
            typed.push(q.record.eventId);
          }
          const { client, credentials } = await state.customer.forBatch();
          const outcomes = await deliver(events, { destination, client, credentials, logger: state.logger });
          state.customer.afterBatch(outcomes);
          return outcomes;
        },
        {
          destinationId: destination.id,
          destinationType: destination.type,
          sqs: this.sqs,
          sourceQueueUrl: target.queueUrl,
          dlqUrl: target.dlqUrl,
          attempts: this.attempts,
          trace: this.trace,
          logger: state.logger,
          ...(this.options.random ? { random: this.options.random } : {}),
        },
      ).finally(() => {
        for (const id of typed) this.eventTypes.delete(id);
      });
    };
    // One cast: a function whose answer depends on which event it got is an overload TypeScript
    // cannot check against its implementation.
    // Metrics are flushed once per invocation (one EMF line per dimension set), not per attempt.
    return (async (event: unknown, context: Context) =>
      withMetricsFlush<unknown>(async () => {
        try {
          return await (isTestSendRequest(event)
            ? this.testSend(event, sendTest)
            : sqsHandler(event as SQSEvent, context));
        } finally {
          await this.attempts
            .flush()
            .catch((error: unknown) =>
              this.logger.warn('could not write attempt records or health rollups', { error }),
            );
        }
      })) as ConsumerHandler;
  }

  /**
   * A test send: the destination read from its source now, credentials obtained afresh through the
   * real credentials path (a new CustomerClients: a cached AssumeRole would hide a trust policy broken
   * since), then the kind's own delivery of one synthetic event, classified by the kind's table. Once:
   * no backoff, no DLQ, nothing enqueued or stored in the events table. The attempt is recorded in the
   * attempts table with `test: true`, so health and trace readers can tell it from real traffic.
   */
  private async testSend(
    event: unknown,
    sendTest: (record: EventRecord, batch: TestBatchContext<D, C, K>) => Promise<TestDelivery>,
  ): Promise<TestAttempt> {
    const { destinationId } = TestSendRequestSchema.parse(event).pushrailTest;
    const destination = await this.source.byId(destinationId);
    if (!destination) throw new TestSendTargetError(destinationId);
    this.customers.set(destination.id, destination.customerExternalId);
    const logger = this.logger.createChild({ persistentKeys: { destinationId, test: true } });
    const started = Date.now();
    const record = testEventRecord(destination, new Date(started), randomUUID());
    let delivery: TestDelivery;
    try {
      const customer = this.connect(destination);
      let batch: { client: C; credentials: K };
      try {
        batch = await customer.forBatch();
      } catch (error) {
        throw new CredentialsFailure(customer.credentialsCall, classifyFailure(destination.type, error));
      }
      delivery = await sendTest(record, { destination, ...batch, logger, attempts: NO_ATTEMPTS });
    } catch (error) {
      delivery = {
        ok: false,
        failure:
          error instanceof CredentialsFailure ? error.failure : classifyFailure(destination.type, error),
      };
    }
    const latencyMs = Date.now() - started;
    await this.attempts
      .record({
        destinationId,
        destinationType: destination.type,
        eventIds: [record.eventId],
        outcome: delivery.ok ? 'delivered' : 'failed',
        latencyMs,
        ...(destination.auth?.mode === 'ASSUME_ROLE' || destination.auth?.mode === 'ACCESS_KEY'
          ? { credentialsMode: destination.auth.mode }
          : {}),
        test: true,
        ...(delivery.target ? { target: delivery.target } : {}),
        ...(delivery.ok
          ? {}
          : {
              failureClass: delivery.failure.failureClass,
              errorCode: delivery.failure.code,
              errorMessage: delivery.failure.message,
            }),
      })
      .catch((error: unknown) => logger.warn('could not record the test attempt', { error }));
    logger.info('test send', {
      outcome: delivery.ok ? 'delivered' : 'failed',
      latencyMs,
      ...(delivery.ok ? {} : { errorCode: delivery.failure.code }),
    });
    return {
      outcome: delivery.ok ? 'delivered' : 'failed',
      latencyMs,
      eventId: record.eventId,
      ...(delivery.ok
        ? {}
        : {
            errorCode: delivery.failure.code,
            failureClass: delivery.failure.failureClass,
            reason: delivery.failure.message,
          }),
      ...(delivery.target ? { target: delivery.target } : {}),
    };
  }

  /**
   * A destination's clients, kept across batches (credential caches) and rebuilt when its auth, its
   * region or its record's revision changed (a rotation of posted keys keeps the secret's ARN): new
   * credentials reach the next batch, while the batch in flight holds its own.
   */
  private stateFor(destination: D, revision: number | undefined): PerDestination<C, K> {
    const region = 'region' in destination ? destination.region : null;
    const clientKey = JSON.stringify([destination.auth ?? null, region, revision ?? null]);
    const existing = this.destinations.get(destination.id);
    if (existing?.clientKey === clientKey) return existing;
    const state: PerDestination<C, K> = {
      clientKey,
      customer: this.connect(destination),
      logger:
        existing?.logger ?? this.logger.createChild({ persistentKeys: { destinationId: destination.id } }),
    };
    this.destinations.set(destination.id, state);
    return state;
  }
}

/** A consumer's Lambda entry point, built at its first invocation (adapters/lazy-handler.ts). */
export function lazyConsumer(create: () => ConsumerHandler): ConsumerHandler {
  return lazyHandler<unknown, unknown>(
    create as () => (event: unknown, context: Context) => Promise<unknown>,
  ) as ConsumerHandler;
}
