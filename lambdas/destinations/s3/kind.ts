import { defineKind } from '../kind.js';
import { S3_FAILURES } from './classification.js';
import { S3DestinationSchema } from './schema.js';

/**
 * The S3 kind: the S3 batcher takes up to `maxEvents` queued events, or what arrived within
 * `flushIntervalSec`, seals them into parts and writes each part to the customer's bucket. It reads
 * stored events (to rebuild a sealed part whose members are not all in the batch at hand) and owns
 * the seals table (invariant 5).
 */
export const s3Kind = defineKind({
  title: 'S3',
  schema: S3DestinationSchema,
  customerPermissions: (d, partition) => [
    {
      Sid: 'PushrailWriteObjects',
      Effect: 'Allow',
      Action: 's3:PutObject',
      // keyPrefix is normalized to end in "/" (or be ""), so this covers its folder and nothing beside it.
      Resource: `arn:${partition}:s3:::${d.bucket}/${d.keyPrefix}*`,
    },
  ],
  classification: S3_FAILURES,
  delivery: {
    label: 'S3 batcher',
    functionId: 'S3Batcher',
    serviceName: 'pushrail-s3-batcher',
    entry: 'lambdas/destinations/s3/handler.ts',
    timeoutSeconds: 120,
    // GB-seconds are memory × duration, and the batcher mostly waits (seals, PutObject): at 512 MB its
    // CPU share halves, so its CPU time costs the same and its waiting half as much. A 6 MB batch (the
    // event source mapping's payload limit) and its parts fit many times over.
    memoryMb: 512,
    readsStoredEvents: true,
    customerAccess: 'AWS',
    usesSeals: true,
    eventSource: (d) => ({ batchSize: d.maxEvents, windowSeconds: d.flushIntervalSec }),
    describe: (d) => `Pushrail S3 batcher: destination ${d.id} (bucket ${d.bucket})`,
  },
  local: {
    fields: ['bucket', 'keyPrefix'],
    customerSide: 'lambdas/destinations/s3/local-customer.ts',
  },
});
