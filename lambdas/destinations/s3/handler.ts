import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { s3ClientOptions } from '../../adapters/aws-clients.js';
import type { DeliveryOptions } from '../../adapters/customer-clients.js';
import { DELIVERY_QUEUE_ENV, DeliveryRuntime, type SqsHandler } from '../../adapters/delivery-runtime.js';
import { getRecords } from '../../adapters/event-store.js';
import { lazyHandler } from '../../adapters/lazy-handler.js';
import { SealStore } from '../../adapters/seal-store.js';
import { DELIVERY_ENV } from '../../core/function-env.js';
import { jsonOf, readEnv } from '../../core/read-env.js';
import { deliverParts } from './deliver-parts.js';
import { bucketOwnerAccount, S3DestinationSchema } from './schema.js';

/**
 * Builds the S3 batcher for one destination from an environment. Lambda builds it once per
 * container (first invocation); the local runtime builds one per S3 destination.
 */
export function createDeliveryHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: DeliveryOptions = {},
): SqsHandler {
  const env = readEnv(
    {
      ...DELIVERY_QUEUE_ENV,
      [DELIVERY_ENV.destination]: jsonOf(S3DestinationSchema),
      [DELIVERY_ENV.eventsTable]: z.string().min(1),
      [DELIVERY_ENV.sealsTable]: z.string().min(1),
    },
    source,
  );
  const destination = env[DELIVERY_ENV.destination];
  const runtime = new DeliveryRuntime(
    destination,
    'pushrail-s3-batcher',
    env,
    (credentials) => new S3Client({ region: destination.region, credentials, ...s3ClientOptions() }),
    options,
  );
  const { dynamodb, attempts, logger } = runtime;
  const seals = new SealStore(
    dynamodb,
    env[DELIVERY_ENV.sealsTable],
    destination.id,
    () => Math.floor(Date.now() / 1000) + runtime.retentionSeconds,
  );
  const expectedBucketOwner = bucketOwnerAccount(destination);

  return runtime.handler((events, { client: s3 }) =>
    deliverParts(events, {
      destination,
      expectedBucketOwner,
      seals,
      s3,
      readRecords: (ids) => getRecords(dynamodb, env[DELIVERY_ENV.eventsTable], ids),
      attempts,
      credentialsMode: destination.auth.mode,
      logger,
    }),
  );
}

/** The Lambda entry point. */
export const handler: SqsHandler = lazyHandler(() => createDeliveryHandler());
