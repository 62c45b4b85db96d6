import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import { z } from 'zod';
import {
  ACCOUNT,
  between,
  COMMON_DESTINATION_FIELDS,
  intBetween,
  patterned,
} from '../../core/config-fields.js';

export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'GLACIER_IR',
  'DEEP_ARCHIVE',
] as const;

/** An `S3` destination (DESIGN.md "Destinations"): NDJSON parts in the customer's bucket. */
export const S3DestinationSchema = z
  .strictObject({
    type: z.literal('S3'),
    ...COMMON_DESTINATION_FIELDS,
    bucket: patterned(
      'bucket',
      /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      'must be a valid S3 bucket name (3-63 lowercase letters, digits, "." and "-")',
      63,
    ),
    keyPrefix: z
      .string({ error: 'keyPrefix must be a string' })
      .max(512, 'keyPrefix must be at most 512 characters')
      .regex(
        /^(?!\/)(?!.*\/\/)[A-Za-z0-9!_.*'()/=-]*$/,
        'keyPrefix must not start with "/", contain "//", or use characters outside A-Z a-z 0-9 !_.*\'()/=-',
      )
      .default('')
      // `raw/pushrail` and `raw/pushrail/` name the same folder (DESIGN.md "S3 objects").
      .transform((p) => (p === '' || p.endsWith('/') ? p : `${p}/`)),
    batchSizeMb: between('batchSizeMb', 0.5, 5, ' MiB').default(1),
    flushIntervalSec: intBetween('flushIntervalSec', 0, 300, ' seconds').default(60),
    maxEvents: intBetween('maxEvents', 1, 10_000).default(1000),
    storageClass: z
      .enum(STORAGE_CLASSES, { error: `storageClass must be one of ${STORAGE_CLASSES.join(', ')}` })
      .default('STANDARD'),
    bucketOwnerAccountId: patterned(
      'bucketOwnerAccountId',
      ACCOUNT,
      'must be a 12-digit AWS account id',
      12,
    ).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.auth.mode === 'ACCESS_KEY' && d.bucketOwnerAccountId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bucketOwnerAccountId'],
        message:
          'bucketOwnerAccountId is required with auth.mode ACCESS_KEY (every S3 call sends ExpectedBucketOwner)',
      });
    }
    // The SQS event source mapping needs a batching window of at least 1 s above 10 records.
    if (d.maxEvents > 10 && d.flushIntervalSec < 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['flushIntervalSec'],
        message: `flushIntervalSec must be at least 1 when maxEvents is above 10 (received ${d.flushIntervalSec})`,
      });
    }
  });

export type S3DestinationConfig = z.output<typeof S3DestinationSchema>;

/** The account that owns a destination's bucket: configured, or the account of the role Pushrail assumes. */
export function bucketOwnerAccount(destination: S3DestinationConfig): string {
  if (destination.bucketOwnerAccountId) return destination.bucketOwnerAccountId;
  if (destination.auth.mode === 'ASSUME_ROLE') return parseArn(destination.auth.roleArn).accountId;
  // The schema requires bucketOwnerAccountId with ACCESS_KEY.
  throw new Error(`destination ${destination.id}: no bucket owner account`);
}
