import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { PlannedPart } from '../destinations/s3/parts.js';

export interface PartTarget {
  readonly bucket: string;
  readonly expectedBucketOwner: string;
  readonly storageClass: string;
  readonly destinationId: string;
}

/**
 * Writes a sealed part. `If-None-Match: *` makes the write create-only: a 412 means the object is
 * already there, and since its key is the hash of its bytes, it is this very object — success.
 */
export async function putPart(
  s3: S3Client,
  target: PartTarget,
  part: PlannedPart,
): Promise<'written' | 'already-written'> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: part.key,
        Body: part.body,
        ContentType: 'application/x-ndjson',
        ChecksumSHA256: Buffer.from(part.sha256Hex, 'hex').toString('base64'),
        StorageClass: target.storageClass as PutObjectCommand['input']['StorageClass'],
        ExpectedBucketOwner: target.expectedBucketOwner,
        IfNoneMatch: '*',
        Metadata: {
          'destination-id': target.destinationId,
          'event-count': String(part.records.length),
          'first-occurred-at': part.firstOccurredAt,
          'last-occurred-at': part.lastOccurredAt,
        },
      }),
    );
    return 'written';
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 412 || (error as Error).name === 'PreconditionFailed') return 'already-written';
    throw error;
  }
}
