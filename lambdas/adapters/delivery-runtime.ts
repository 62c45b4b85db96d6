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

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The environment every destination consumer reads besides its destination (lambdas/core/function-env.ts). */
export const DELIVERY_QUEUE_ENV = {
  [DELIVERY_ENV.attemptsTable]: z.string().min(1),
  [DELIVERY_ENV.sourceQueueUrl]: z.string().url(),
  [DELIVERY_ENV.dlqUrl]: z.string().url(),
  [DELIVERY_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
};

type QueueEnv = z.output<z.ZodObject<typeof DELIVERY_QUEUE_ENV>>;

/** What a destination's delivery gets for one batch besides its events. */
export interface DeliveryBatchContext<C> {
  /** The customer-side client (S3 or EventBridge) with the credentials this batch started with. */
  readonly client: C;
  readonly credentials: CustomerCredentials;
}

/**
 * The part every destination consumer shares: the logger, the attempt log, the customer's clients per
 * batch, and the SQS side (partial batch failures, backoff, DLQ) in runDeliveryBatch. A consumer brings
 * only its delivery: the S3 batcher's parts, the EventBridge sender's entries.
 */
export class DeliveryRuntime<C> {
  public readonly logger: Logger;
  public readonly dynamodb = new DynamoDBClient({});
  public readonly attempts: AttemptLog;
  public readonly retentionSeconds: number;
  private readonly sqs = new SQSClient({});
  private readonly customer: CustomerClients<C>;

  public constructor(
    private readonly destination: Destination,
    serviceName: string,
    private readonly env: QueueEnv,
    createClient: (credentials: CustomerCredentials) => C,
    private readonly options: DeliveryOptions = {},
  ) {
    this.logger = new Logger({ serviceName, persistentKeys: { destinationId: destination.id } });
    this.retentionSeconds = env[DELIVERY_ENV.retentionDays] * DAY_SECONDS;
    this.attempts = new AttemptLog(this.dynamodb, env[DELIVERY_ENV.attemptsTable], this.retentionSeconds);
    this.customer = new CustomerClients(destination.id, destination.auth, createClient, options);
  }

  /** The SQS handler that runs `deliver` on each batch, with the client the batch starts with. */
  public handler(
    deliver: (
      events: readonly QueuedEvent[],
      batch: DeliveryBatchContext<C>,
    ) => Promise<Map<string, DeliveryOutcome>>,
  ): SqsHandler {
    return async (event, context) => {
      this.logger.addContext(context);
      return runDeliveryBatch(
        event,
        async (events) => {
          const outcomes = await deliver(events, await this.customer.forBatch());
          this.customer.afterBatch(outcomes);
          return outcomes;
        },
        {
          destinationId: this.destination.id,
          destinationType: this.destination.type,
          sqs: this.sqs,
          sourceQueueUrl: this.env[DELIVERY_ENV.sourceQueueUrl],
          dlqUrl: this.env[DELIVERY_ENV.dlqUrl],
          attempts: this.attempts,
          logger: this.logger,
          ...(this.options.random ? { random: this.options.random } : {}),
        },
      );
    };
  }
}
