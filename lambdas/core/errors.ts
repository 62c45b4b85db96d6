/**
 * Pushrail's typed errors. HTTP-facing errors carry `statusCode` and a machine-readable `code`; their
 * `details` name the offending field (and the event's index in a batch) so producers can fix the input.
 */

import type { ReplayCounts } from './replay-request.js';

/** One problem with one field of the request. `index` is set for events of a batch request. */
export interface FieldIssue {
  readonly index?: number;
  readonly field: string;
  readonly message: string;
}

/** Base class for errors answered to the HTTP caller. */
export class HttpError extends Error {
  public readonly statusCode: number;
  public readonly code: string;
  public readonly details: readonly FieldIssue[];

  public constructor(
    statusCode: number,
    code: string,
    message: string,
    details: readonly FieldIssue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
  }

  /** The JSON body answered to the caller: never a stack, a secret or an internal cause. */
  public toBody(): { error: { code: string; message: string; details?: readonly FieldIssue[] } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details.length > 0 ? { details: this.details } : {}),
      },
    };
  }
}

/** 400: the body is not JSON, or an event breaks the schema. */
export class ValidationError extends HttpError {
  public constructor(message: string, details: readonly FieldIssue[] = [], options?: ErrorOptions) {
    super(400, 'VALIDATION_FAILED', message, details, options);
    this.name = 'ValidationError';
  }
}

/** 401: no API key was sent. */
export class MissingApiKeyError extends HttpError {
  public constructor(options?: ErrorOptions) {
    super(
      401,
      'UNAUTHENTICATED',
      'the x-api-key header is required',
      [{ field: 'x-api-key', message: 'missing' }],
      options,
    );
    this.name = 'MissingApiKeyError';
  }
}

/** 403: the API key is not valid for this API. */
export class InvalidApiKeyError extends HttpError {
  public constructor(options?: ErrorOptions) {
    super(
      403,
      'FORBIDDEN',
      'the x-api-key header is not a valid API key',
      [{ field: 'x-api-key', message: 'invalid' }],
      options,
    );
    this.name = 'InvalidApiKeyError';
  }
}

/** 409: an idempotencyKey was reused with a different body. */
export class IdempotencyConflictError extends HttpError {
  public constructor(details: readonly FieldIssue[], options?: ErrorOptions) {
    super(
      409,
      'IDEMPOTENCY_CONFLICT',
      'idempotencyKey was already used for a different event of this customerExternalId',
      details,
      options,
    );
    this.name = 'IdempotencyConflictError';
  }
}

/** 413: the body or one event is over its size limit. */
export class PayloadTooLargeError extends HttpError {
  public constructor(message: string, details: readonly FieldIssue[] = [], options?: ErrorOptions) {
    super(413, 'PAYLOAD_TOO_LARGE', message, details, options);
    this.name = 'PayloadTooLargeError';
  }
}

/** 415: the body is not declared as JSON. */
export class UnsupportedMediaTypeError extends HttpError {
  public constructor(received: string | undefined, options?: ErrorOptions) {
    super(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type must be application/json; received ${received === undefined ? 'none' : JSON.stringify(received)}`,
      [{ field: 'content-type', message: 'must be application/json' }],
      options,
    );
    this.name = 'UnsupportedMediaTypeError';
  }
}

/**
 * 415: the body is in a content coding Pushrail does not decode (anything but gzip, deflate and
 * identity, or more than one coding), or declares a charset other than UTF-8.
 */
export class UnsupportedContentEncodingError extends HttpError {
  public constructor(field: 'content-encoding' | 'content-type', message: string, options?: ErrorOptions) {
    super(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      message,
      [
        {
          field,
          message:
            field === 'content-encoding' ? 'must be gzip, deflate or identity' : 'charset must be utf-8',
        },
      ],
      options,
    );
    this.name = 'UnsupportedContentEncodingError';
  }
}

/**
 * 503: the event could not be made durable (stored and enqueued for every routed destination). The
 * producer retries with the same idempotencyKey and the retry completes the fan-out.
 */
export class IngestUnavailableError extends HttpError {
  public constructor(message: string, options?: ErrorOptions) {
    super(503, 'RETRY_WITH_SAME_IDEMPOTENCY_KEY', message, [], options);
    this.name = 'IngestUnavailableError';
  }
}

/** A destinations config that breaks the schema; the message lists every offending field. */
export class ConfigError extends Error {
  public readonly issues: readonly FieldIssue[];

  public constructor(source: string, issues: readonly FieldIssue[], options?: ErrorOptions) {
    super(
      `invalid Pushrail config (${source}):\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')}`,
      options,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** A replay request that cannot run (unknown destination, bad selection); nothing was moved. */
export class ReplayRequestError extends Error {
  public readonly details: readonly FieldIssue[];

  public constructor(message: string, details: readonly FieldIssue[] = [], options?: ErrorOptions) {
    super(
      details.length > 0
        ? `${message}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`
        : message,
      options,
    );
    this.name = 'ReplayRequestError';
    this.details = details;
  }
}

/**
 * Another invocation is working on the same replay selection (two on-call engineers, or a retry while
 * the first still runs), and holds the run's lease; this invocation read and moved nothing. If that
 * invocation crashed, its lease lapses at `retryAfter` and the next invocation continues its run.
 */
export class ReplayInProgressError extends Error {
  public readonly replayId: string;
  public readonly requestedBy: string;
  /** When the holding invocation claimed the run (ISO-8601). */
  public readonly since: string;
  /** When its lease lapses (ISO-8601). */
  public readonly retryAfter: string;

  public constructor(
    holder: {
      readonly replayId: string;
      readonly destinationId: string;
      readonly requestedBy: string;
      readonly since: string;
      readonly retryAfter: string;
      /** The holding invocation's Lambda request id, to find its logs. */
      readonly invocationId: string;
    },
    options?: ErrorOptions,
  ) {
    super(
      `replay ${holder.replayId} of destination "${holder.destinationId}" is already running, requested by ` +
        `${holder.requestedBy} at ${holder.since} (invocation ${holder.invocationId}); nothing was moved. ` +
        `Wait for it to finish, or retry after ${holder.retryAfter}, when its lease ends if it crashed`,
      options,
    );
    this.name = 'ReplayInProgressError';
    this.replayId = holder.replayId;
    this.requestedBy = holder.requestedBy;
    this.since = holder.since;
    this.retryAfter = holder.retryAfter;
  }
}

/**
 * A replay invocation found, when saving its checkpoint, that it no longer held the run's lease (it
 * outlived the lease, so another invocation may have taken the run over). What it moved is moved; its
 * counts are in the message and the logs, not in the journal.
 */
export class ReplayLeaseLostError extends Error {
  public readonly replayId: string;

  public constructor(replayId: string, counts: ReplayCounts, options?: ErrorOptions) {
    super(
      `replay ${replayId} lost its lease before saving its checkpoint; this invocation's counts (matched ` +
        `${counts.matched}, replayed ${counts.replayed}, skipped ${counts.skipped}, failed ${counts.failed}) ` +
        'are not in the journal',
      options,
    );
    this.name = 'ReplayLeaseLostError';
    this.replayId = replayId;
  }
}

/**
 * A message SQS did not take: it rejected the entry (`code` is its error code), or the call itself
 * failed after the SDK's own retries (`code` is the error's name, the error is the `cause`).
 */
export class EnqueueError extends Error {
  public readonly queue: string;
  public readonly code: string;

  public constructor(queue: string, code: string, options?: ErrorOptions) {
    super(`SQS did not take the message for ${queue}: ${code}`, options);
    this.name = 'EnqueueError';
    this.queue = queue;
    this.code = code;
  }
}

/** 401: a management call without an IAM (SigV4) identity, such as a producer's API key alone. */
export class UnauthenticatedError extends HttpError {
  public constructor(options?: ErrorOptions) {
    super(
      401,
      'UNAUTHENTICATED',
      'the management API requires a request signed with AWS SigV4 (service execute-api)',
      [{ field: 'authorization', message: 'missing SigV4 signature' }],
      options,
    );
    this.name = 'UnauthenticatedError';
  }
}

/** 404: no destination with this id (or no such route). */
export class NotFoundError extends HttpError {
  public constructor(message: string, details: readonly FieldIssue[] = [], options?: ErrorOptions) {
    super(404, 'NOT_FOUND', message, details, options);
    this.name = 'NotFoundError';
  }
}

/** 409: a create found the destination id taken. */
export class DestinationConflictError extends HttpError {
  public constructor(destinationId: string, options?: ErrorOptions) {
    super(
      409,
      'CONFLICT',
      `destination "${destinationId}" already exists; change it with PUT /v1/destinations/${destinationId}`,
      [{ field: 'id', message: 'already exists' }],
      options,
    );
    this.name = 'DestinationConflictError';
  }
}

/** 412: `If-Match` named a version the destination is no longer at. */
export class PreconditionFailedError extends HttpError {
  public readonly currentVersion: number;

  public constructor(destinationId: string, expected: number, current: number, options?: ErrorOptions) {
    super(
      412,
      'PRECONDITION_FAILED',
      `destination "${destinationId}" is at version ${current}, not ${expected}: read it again and retry`,
      [{ field: 'if-match', message: `stale version ${expected} (current ${current})` }],
      options,
    );
    this.name = 'PreconditionFailedError';
    this.currentVersion = current;
  }
}

/** 501: a route of the contract that this version does not serve yet. */
export class NotImplementedError extends HttpError {
  public constructor(message: string, options?: ErrorOptions) {
    super(501, 'NOT_IMPLEMENTED', message, [], options);
    this.name = 'NotImplementedError';
  }
}

/**
 * 503: a dependency (DynamoDB, Secrets Manager) failed after the SDK's retries. The only 5xx the
 * management API answers; the message never carries the dependency's error text (it could name a secret).
 */
export class DependencyUnavailableError extends HttpError {
  public constructor(message: string, options?: ErrorOptions) {
    super(503, 'SERVICE_UNAVAILABLE', message, [], options);
    this.name = 'DependencyUnavailableError';
  }
}

/**
 * 503: the kind's consumer function could not run the test send (it threw, timed out, or answered
 * something that is not an attempt). Not the customer's setup failing — that is a 200 with
 * `outcome: "failed"` — so retrying may help.
 */
export class TestSendUnavailableError extends HttpError {
  public constructor(message: string, options?: ErrorOptions) {
    super(503, 'TEST_SEND_UNAVAILABLE', message, [], options);
    this.name = 'TestSendUnavailableError';
  }
}

/**
 * An event source mapping that cannot be changed yet: Lambda is still creating, updating or deleting
 * it (ResourceInUseException, ResourceConflictException, or a mapping in a transitional state), or the
 * previous mapping of a re-created destination's queue is still Deleting. Not a failure: the
 * provisioner leaves the destination converging (PROVISIONING, or DELETING) and the next run, the
 * periodic reconcile at the latest, makes the change.
 */
export class MappingInTransitionError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MappingInTransitionError';
  }
}
