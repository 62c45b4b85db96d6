import { Duration } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { S3Destination as S3DestinationConfig } from '../lambdas/core/config.js';
import { CONSUMER_FUNCTIONS, consumerVisibilityTimeoutSeconds } from '../lambdas/core/resources.js';
import { DeliveryFunction, type DeliveryFunctionResources } from './delivery-function.js';

export interface S3DestinationProps extends DeliveryFunctionResources {
  /** The validated config entry of the S3 destination. */
  readonly destination: S3DestinationConfig;
}

/**
 * The S3 batcher of one S3 destination (lambdas/s3-batcher): it takes up to `maxEvents` queued
 * events, or what arrived within `flushIntervalSec`, seals them into parts and writes each part to
 * the customer's bucket with credentials of the customer's account.
 *
 * The role may seal (seals table), record attempts, read stored events, consume its own queue, send
 * to its own DLQ and obtain the destination's credentials — and nothing on S3: the bucket is written
 * with the assumed role or the stored access key, never with the function's own role.
 */
export class S3Destination extends DeliveryFunction {
  /**
   * The visibility timeout an S3 destination's queue needs: derived from the batcher's timeout and
   * the destination's batching window (`consumerVisibilityTimeoutSeconds`).
   */
  public static queueVisibilityTimeout(destination: S3DestinationConfig): Duration {
    return Duration.seconds(
      consumerVisibilityTimeoutSeconds(CONSUMER_FUNCTIONS.s3.timeoutSeconds, destination.flushIntervalSec),
    );
  }

  public constructor(scope: Construct, id: string, props: S3DestinationProps) {
    const { destination } = props;
    super(scope, id, {
      ...props,
      functionId: 'S3Batcher',
      entry: 'lambdas/destinations/s3/handler.ts',
      serviceName: 'pushrail-s3-batcher',
      description: `Pushrail S3 batcher: destination ${destination.id} (bucket ${destination.bucket})`,
      timeout: Duration.seconds(CONSUMER_FUNCTIONS.s3.timeoutSeconds),
      memorySize: CONSUMER_FUNCTIONS.s3.memoryMb,
      readsStoredEvents: true,
      usesSeals: true,
      eventSource: {
        batchSize: destination.maxEvents,
        maxBatchingWindow: Duration.seconds(destination.flushIntervalSec),
      },
    });
  }
}
