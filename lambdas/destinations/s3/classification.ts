import {
  ALWAYS_TRANSIENT,
  CREDENTIAL_FAILURES,
  type FailureTable,
  MALFORMED_MESSAGE,
} from '../../core/failure-codes.js';

/** S3 delivery (PutObject with ExpectedBucketOwner): which errors dead-letter at once, which retry. */
export const S3_FAILURES = {
  permanent: [
    ...CREDENTIAL_FAILURES.permanent,
    'NoSuchBucket',
    'InvalidBucketName',
    'AllAccessDisabled',
    'AccountProblem',
    'InvalidObjectState',
    'InvalidStorageClass',
    'PermanentRedirect', // bucket in another region than configured
    'AuthorizationHeaderMalformed',
    'KMS.DisabledException',
    'KMS.NotFoundException',
    MALFORMED_MESSAGE,
    'PartContentMismatch', // a stored record changed after sealing: retrying cannot make it hash to its key
  ],
  transient: [
    ...CREDENTIAL_FAILURES.transient,
    ...ALWAYS_TRANSIENT,
    'SlowDown',
    'ConditionalRequestConflict',
    'OperationAborted',
  ],
} as const satisfies FailureTable;
