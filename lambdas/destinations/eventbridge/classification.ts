import {
  ALWAYS_TRANSIENT,
  CREDENTIAL_FAILURES,
  type FailureTable,
  MALFORMED_MESSAGE,
} from '../../core/failure-codes.js';

/** EventBridge delivery (DescribeEventBus, then PutEvents): which errors dead-letter at once, which retry. */
export const EVENTBRIDGE_FAILURES = {
  permanent: [
    ...CREDENTIAL_FAILURES.permanent,
    'EventBusNotFound', // our own: DescribeEventBus said the bus does not exist
    'MalformedDetail',
    'InvalidArgument',
    'ValidationException',
    'NotAuthorizedForSourceException',
    'NotAuthorizedForDetailTypeException',
    'EntryTooLarge', // our own: the entry can never fit a PutEvents request
    MALFORMED_MESSAGE,
  ],
  transient: [
    ...CREDENTIAL_FAILURES.transient,
    ...ALWAYS_TRANSIENT,
    'InternalException',
    'MissingEntryResult',
  ],
} as const satisfies FailureTable;
