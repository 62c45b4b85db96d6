import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { AttemptLog } from '../adapters/attempt-log.js';
import { credentialsMode } from '../adapters/credentials.js';
import { type ConsumerOptions, CustomerClients } from '../adapters/customer-clients.js';
import { consumeBatch } from '../adapters/destination-consumer.js';
import { EventBusVerifier } from '../adapters/event-bus-verifier.js';
import { EventBridgeDestinationSchema, sourceNamespace } from '../core/config.js';
import { CONSUMER_ENV } from '../core/function-env.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import { DAY_SECONDS } from '../core/resources.js';
import { deliverEntries } from './deliver-entries.js';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * Builds the EventBridge sender for one destination from an environment. Lambda builds it once per
 * container (first invocation); the local runtime builds one per EventBridge destination.
 */
export function createEventBridgeSenderHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: ConsumerOptions = {},
): SqsHandler {
  const env = readEnv(
    {
      [CONSUMER_ENV.destination]: jsonOf(EventBridgeDestinationSchema),
      [CONSUMER_ENV.vendor]: z.string().min(1),
      [CONSUMER_ENV.attemptsTable]: z.string().min(1),
      [CONSUMER_ENV.sourceQueueUrl]: z.string().url(),
      [CONSUMER_ENV.dlqUrl]: z.string().url(),
      [CONSUMER_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
    },
    source,
  );
  const destination = env[CONSUMER_ENV.destination];
  const entrySource = sourceNamespace({ vendor: env[CONSUMER_ENV.vendor] }, destination);
  const logger = new Logger({
    serviceName: 'pushrail-eventbridge-sender',
    persistentKeys: { destinationId: destination.id },
  });
  const sqs = new SQSClient({});

  const attempts = new AttemptLog(
    new DynamoDBClient({}),
    env[CONSUMER_ENV.attemptsTable],
    env[CONSUMER_ENV.retentionDays] * DAY_SECONDS,
  );
  const buses = new EventBusVerifier();

  const customer = new CustomerClients(
    destination.id,
    destination.auth,
    (credentials) => new EventBridgeClient({ region: destination.region, credentials }),
    options,
  );

  return async (event, context) => {
    logger.addContext(context);
    return consumeBatch(
      event,
      async (events) => {
        const { client: eventBridge, credentials: batchCredentials } = await customer.forBatch();
        const outcomes = await deliverEntries(events, {
          destination,
          source: entrySource,
          client: eventBridge,
          verifyBus: () =>
            buses.verify(eventBridge, {
              destinationId: destination.id,
              busArn: destination.busArn,
              credentialsKey: batchCredentials.accessKeyId,
            }),
          attempts,
          credentialsMode: credentialsMode(destination.auth),
          logger,
        });
        customer.afterBatch(outcomes);
        return outcomes;
      },
      {
        destinationId: destination.id,
        destinationType: 'EVENTBRIDGE',
        sqs,
        sourceQueueUrl: env[CONSUMER_ENV.sourceQueueUrl],
        dlqUrl: env[CONSUMER_ENV.dlqUrl],
        attempts,
        logger,
        ...(options.random ? { random: options.random } : {}),
      },
    );
  };
}

let instance: SqsHandler | undefined;

/** The Lambda entry point. */
export const handler: SqsHandler = (event, context) => {
  instance ??= createEventBridgeSenderHandler();
  return instance(event, context);
};
