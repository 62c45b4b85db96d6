import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { AttemptLog } from '../adapters/attempt-log.js';
import {
  CredentialProvider,
  type CustomerCredentials,
  credentialsMode,
  secretsClientsByRegion,
} from '../adapters/credentials.js';
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
export function createEventBridgeSenderHandler(source: NodeJS.ProcessEnv = process.env): SqsHandler {
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
  const credentials = new CredentialProvider(
    new STSClient({}),
    secretsClientsByRegion((region) => new SecretsManagerClient(region ? { region } : {})),
  );
  const attempts = new AttemptLog(
    new DynamoDBClient({}),
    env[CONSUMER_ENV.attemptsTable],
    env[CONSUMER_ENV.retentionDays] * DAY_SECONDS,
  );
  const buses = new EventBusVerifier();

  // One client per set of credentials: a rotation gets a new client, a batch keeps the one it started with.
  let client: { credentials: CustomerCredentials; events: EventBridgeClient } | undefined;
  const eventsFor = (c: CustomerCredentials): EventBridgeClient => {
    if (client?.credentials !== c) {
      client = {
        credentials: c,
        events: new EventBridgeClient({ region: destination.region, credentials: c }),
      };
    }
    return client.events;
  };

  return async (event, context) => {
    logger.addContext(context);
    return consumeBatch(
      event,
      async (events) => {
        const batchCredentials = await credentials.forDestination(destination.id, destination.auth);
        const eventBridge = eventsFor(batchCredentials);
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
        if ([...outcomes.values()].some((o) => !o.ok && o.failure.code.startsWith('ExpiredToken'))) {
          credentials.invalidate(destination.id);
        }
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
