/**
 * Error codes every destination kind shares, which each kind's classification table
 * (lambdas/destinations/<kind>/classification.ts) spreads into its own. A module of data alone, so a
 * kind's table and the classifier that reads the tables never import each other.
 */

/** A classification table: which codes go to the DLQ at once, and which are retried. */
export interface FailureTable {
  readonly permanent: readonly string[];
  readonly transient: readonly string[];
}

/** Errors of the calls every destination makes before delivering: STS AssumeRole and Secrets Manager. */
export const CREDENTIAL_FAILURES = {
  permanent: [
    'AccessDenied', // AssumeRole refused: trust policy or ExternalId mismatch
    'AccessDeniedException', // Secrets Manager: no permission to read the secret
    'ResourceNotFoundException', // Secrets Manager: the secret does not exist
    'DecryptionFailure',
    'InvalidSecret', // our own: the secret does not hold accessKeyId/secretAccessKey
    'RegionDisabledException',
    'MalformedPolicyDocument',
    'InvalidClientTokenId',
    'InvalidAccessKeyId',
    'SignatureDoesNotMatch',
  ],
  transient: [
    'ExpiredToken', // cached credentials outlived their session: refreshed on the retry
    'ExpiredTokenException',
    'IDPCommunicationError',
    'InternalServiceError',
    'InternalServiceErrorException',
  ],
} as const satisfies FailureTable;

/** Codes any AWS service may answer that are always worth a retry. */
export const ALWAYS_TRANSIENT = [
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalError',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'NetworkingError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
] as const;

/** Our own code for a queue message whose body is not a Pushrail event record: never deliverable. */
export const MALFORMED_MESSAGE = 'MalformedMessage';

/**
 * Our own code for a message a forced delete moved to the DLQ: its destination is gone, so it was
 * never delivered; replay it to another destination or not at all.
 */
export const DESTINATION_DELETED = 'DestinationDeleted';
