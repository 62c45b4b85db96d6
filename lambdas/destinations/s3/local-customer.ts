import { CreateBucketCommand, type CreateBucketCommandInput, S3Client } from '@aws-sdk/client-s3';
import { type EmulatorTarget, s3ClientConfig } from '../../../local/aws-clients.js';
import type { CustomerAccess } from '../../../local/customer-credentials.js';
import type { CustomerSideContext } from '../../../local/customer-side.js';
import type { S3DestinationConfig } from './schema.js';

/**
 * The customer's side of an S3 destination on the local runtime: the bucket, created with the
 * customer's credentials in the customer's account, as the customer would own it.
 */
export async function provisionCustomerSide(
  destination: S3DestinationConfig,
  { customer, target }: CustomerSideContext,
): Promise<{ bucket: string; keyPrefix: string }> {
  await ensureBucket(destination, customer, target);
  return { bucket: destination.bucket, keyPrefix: destination.keyPrefix };
}

export async function ensureBucket(
  destination: S3DestinationConfig,
  customer: CustomerAccess,
  target: EmulatorTarget,
): Promise<void> {
  const s3 = new S3Client(
    s3ClientConfig({ ...target, region: destination.region, credentials: customer.credentials }),
  );
  const input: CreateBucketCommandInput = { Bucket: destination.bucket };
  // us-east-1 is the one region that rejects an explicit LocationConstraint.
  if (destination.region !== 'us-east-1') {
    input.CreateBucketConfiguration = {
      LocationConstraint: destination.region as NonNullable<
        CreateBucketCommandInput['CreateBucketConfiguration']
      >['LocationConstraint'],
    };
  }
  try {
    await s3.send(new CreateBucketCommand(input));
  } catch (error) {
    if (!(error instanceof Error && error.name === 'BucketAlreadyOwnedByYou')) {
      throw new Error(
        `destination ${destination.id}: cannot create bucket ${destination.bucket} in account ${customer.accountId}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } finally {
    s3.destroy();
  }
}
