import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { DELIVERY_ENV } from '../core/function-env.js';
import { DAY_SECONDS } from '../core/resources.js';
import type { Destination } from '../destinations/index.js';
import { AttemptLog } from './attempt-log.js';
import type { CustomerCredentials } from './credentials.js';
import { CustomerClients, type DeliveryOptions } from './customer-clients.js';
import { type DeliveryOutcome, type QueuedEvent, runDeliveryBatch } from './delivery-batch.js';
import type { DestinationSource } from './destination-source.js';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

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
export interface DeliveryBatchContext<D extends Destination, C> {
  /** The destination as it stood when the batch started: an update meanwhile applies to the next one. */
  readonly destination: D;
  /** The customer-side client (S3 or EventBridge) with the credentials this batch started with. */
  readonly client: C;
  readonly credentials: CustomerCredentials;
  /** The consumer's logger, with the destination's id on every line. */
  readonly logger: Logger;
}

/** What the runtime keeps per destination id: its clients and logger, rebuilt when its auth or region changes. */
interface PerDestination<C> {
  readonly clientKey: string;
  readonly customer: CustomerClients<C>;
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
export class DeliveryRuntime<D extends Destination, C> {
  public readonly logger: Logger;
  public readonly dynamodb = new DynamoDBClient({});
  public readonly attempts: AttemptLog;
  public readonly retentionSeconds: number;
  private readonly sqs = new SQSClient({});
  private readonly destinations = new Map<string, PerDestination<C>>();

  public constructor(
    private readonly source: DestinationSource<D>,
    serviceName: string,
    env: QueueEnv,
    private readonly createClient: (destination: D, credentials: CustomerCredentials) => C,
    private readonly options: DeliveryOptions = {},
  ) {
    this.logger = new Logger({ serviceName });
    this.retentionSeconds = env[DELIVERY_ENV.retentionDays] * DAY_SECONDS;
    this.attempts = new AttemptLog(this.dynamodb, env[DELIVERY_ENV.attemptsTable], this.retentionSeconds);
  }

  /** The SQS handler that runs `deliver` on each batch, with the destination and client the batch starts with. */
  public handler(
    deliver: (
      events: readonly QueuedEvent[],
      batch: DeliveryBatchContext<D, C>,
    ) => Promise<Map<string, DeliveryOutcome>>,
  ): SqsHandler {
    return async (event, context) => {
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
      const state = this.stateFor(destination, target.revision);
      state.logger.addContext(context);
      return runDeliveryBatch(
        event,
        async (events) => {
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
          logger: state.logger,
          ...(this.options.random ? { random: this.options.random } : {}),
        },
      );
    };
  }

  /**
   * A destination's clients, kept across batches (credential caches) and rebuilt when its auth, its
   * region or its record's revision changed (a rotation of posted keys keeps the secret's ARN): new
   * credentials reach the next batch, while the batch in flight holds its own.
   */
  private stateFor(destination: D, revision: number | undefined): PerDestination<C> {
    const clientKey = JSON.stringify([destination.auth, destination.region, revision ?? null]);
    const existing = this.destinations.get(destination.id);
    if (existing?.clientKey === clientKey) return existing;
    const state: PerDestination<C> = {
      clientKey,
      customer: new CustomerClients(
        destination.id,
        destination.auth,
        (credentials) => this.createClient(destination, credentials),
        this.options,
      ),
      logger:
        existing?.logger ?? this.logger.createChild({ persistentKeys: { destinationId: destination.id } }),
    };
    this.destinations.set(destination.id, state);
    return state;
  }
}
