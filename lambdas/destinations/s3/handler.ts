import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { s3ClientOptions } from '../../adapters/aws-clients.js';
import type { DeliveryOptions } from '../../adapters/customer-clients.js';
import {
  awsCustomerClients,
  type ConsumerHandler,
  DELIVERY_QUEUE_ENV,
  DeliveryRuntime,
  lazyConsumer,
} from '../../adapters/delivery-runtime.js';
import { destinationSourceFromEnv, type SourceOptions } from '../../adapters/destination-source.js';
import { getRecords } from '../../adapters/event-store.js';
import { SealStore } from '../../adapters/seal-store.js';
import { DELIVERY_ENV } from '../../core/function-env.js';
import { readEnv } from '../../core/read-env.js';
import type { Destination } from '../index.js';
import { deliverParts, sendTestPart } from './deliver-parts.js';
import { bucketOwnerAccount, type S3DestinationConfig, S3DestinationSchema } from './schema.js';

const isS3 = (destination: Destination): destination is S3DestinationConfig => destination.type === 'S3';

/**
 * Builds the S3 batcher from an environment: for the one destination it names, or for every S3
 * destination of the destinations table (adapters/destination-source.ts). Lambda builds it once per
 * container (first invocation); the local runtime builds one per S3 destination's poller.
 */
export function createDeliveryHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: DeliveryOptions & SourceOptions = {},
): ConsumerHandler {
  const env = readEnv(
    {
      ...DELIVERY_QUEUE_ENV,
      [DELIVERY_ENV.eventsTable]: z.string().min(1),
      [DELIVERY_ENV.sealsTable]: z.string().min(1),
    },
    source,
  );
  const runtime = new DeliveryRuntime(
    destinationSourceFromEnv(S3DestinationSchema, isS3, source, options),
    'pushrail-s3-batcher',
    env,
    awsCustomerClients(
      (destination: S3DestinationConfig, credentials) =>
        new S3Client({ region: destination.region, credentials, ...s3ClientOptions() }),
      options,
    ),
    options,
  );
  const { dynamodb, attempts } = runtime;
  // Part membership is per destination (invariant 5): one store each, kept across batches.
  const seals = new Map<string, SealStore>();
  const sealsOf = (destinationId: string): SealStore => {
    let store = seals.get(destinationId);
    if (!store) {
      store = new SealStore(
        dynamodb,
        env[DELIVERY_ENV.sealsTable],
        destinationId,
        () => Math.floor(Date.now() / 1000) + runtime.retentionSeconds,
      );
      seals.set(destinationId, store);
    }
    return store;
  };

  return runtime.handler(
    (events, { destination, client: s3, logger }) =>
      deliverParts(events, {
        destination,
        expectedBucketOwner: bucketOwnerAccount(destination),
        seals: sealsOf(destination.id),
        s3,
        readRecords: (ids) => getRecords(dynamodb, env[DELIVERY_ENV.eventsTable], ids),
        attempts,
        credentialsMode: destination.auth.mode,
        logger,
      }),
    (record, { destination, client: s3 }) =>
      sendTestPart(record, { destination, expectedBucketOwner: bucketOwnerAccount(destination), s3 }),
  );
}

/** The Lambda entry point. */
export const handler: ConsumerHandler = lazyConsumer(() => createDeliveryHandler());
