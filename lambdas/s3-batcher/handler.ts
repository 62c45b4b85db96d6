import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { AttemptLog } from '../adapters/attempt-log.js';
import { s3ClientOptions } from '../adapters/aws-clients.js';
import { type ConsumerOptions, CustomerClients } from '../adapters/customer-clients.js';
import { consumeBatch } from '../adapters/destination-consumer.js';
import { getRecords } from '../adapters/event-store.js';
import { SealStore } from '../adapters/seal-store.js';
import { bucketOwnerAccount, S3DestinationSchema } from '../core/config.js';
import { CONSUMER_ENV } from '../core/function-env.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import { DAY_SECONDS } from '../core/resources.js';
import { deliverParts } from './deliver-parts.js';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * Builds the S3 batcher for one destination from an environment. Lambda builds it once per
 * container (first invocation); the local runtime builds one per S3 destination.
 */
export function createS3BatcherHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: ConsumerOptions = {},
): SqsHandler {
  const env = readEnv(
    {
      [CONSUMER_ENV.destination]: jsonOf(S3DestinationSchema),
      [CONSUMER_ENV.eventsTable]: z.string().min(1),
      [CONSUMER_ENV.sealsTable]: z.string().min(1),
      [CONSUMER_ENV.attemptsTable]: z.string().min(1),
      [CONSUMER_ENV.sourceQueueUrl]: z.string().url(),
      [CONSUMER_ENV.dlqUrl]: z.string().url(),
      [CONSUMER_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
    },
    source,
  );
  const destination = env[CONSUMER_ENV.destination];
  const retentionSeconds = env[CONSUMER_ENV.retentionDays] * DAY_SECONDS;
  const logger = new Logger({
    serviceName: 'pushrail-s3-batcher',
    persistentKeys: { destinationId: destination.id },
  });
  const dynamodb = new DynamoDBClient({});
  const sqs = new SQSClient({});

  const attempts = new AttemptLog(dynamodb, env[CONSUMER_ENV.attemptsTable], retentionSeconds);
  const seals = new SealStore(
    dynamodb,
    env[CONSUMER_ENV.sealsTable],
    destination.id,
    () => Math.floor(Date.now() / 1000) + retentionSeconds,
  );
  const expectedBucketOwner = bucketOwnerAccount(destination);

  const customer = new CustomerClients(
    destination.id,
    destination.auth,
    (credentials) => new S3Client({ region: destination.region, credentials, ...s3ClientOptions() }),
    options,
  );

  return async (event, context) => {
    logger.addContext(context);
    return consumeBatch(
      event,
      async (events) => {
        const { client: s3 } = await customer.forBatch();
        const outcomes = await deliverParts(events, {
          destination,
          expectedBucketOwner,
          seals,
          s3,
          readRecords: (ids) => getRecords(dynamodb, env[CONSUMER_ENV.eventsTable], ids),
          attempts,
          credentialsMode: destination.auth.mode,
          logger,
        });
        customer.afterBatch(outcomes);
        return outcomes;
      },
      {
        destinationId: destination.id,
        destinationType: 'S3',
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
  instance ??= createS3BatcherHandler();
  return instance(event, context);
};
