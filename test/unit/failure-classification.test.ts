import { readFileSync } from 'node:fs';
import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  classifyEntryError,
  classifyFailure,
  sanitizeReason,
} from '../../lambdas/core/failure-classification.js';
import { DESTINATION_TYPES, failureTable } from '../../lambdas/destinations/index.js';

/** An error as SDK v3 throws it for a service answer: name = code, $metadata.httpStatusCode. */
function serviceError(name: string, status: number, message = `${name} happened`): Error {
  return new S3ServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** A Node socket error: no HTTP status, a POSIX code. */
function socketError(code: string): Error {
  return Object.assign(new Error(`read ${code}`), { code });
}

describe('the S3 classification table', () => {
  it.each([
    ['NoSuchBucket', 404],
    ['AccessDenied', 403],
    ['InvalidAccessKeyId', 403],
    ['SignatureDoesNotMatch', 403],
    ['AllAccessDisabled', 403],
    ['InvalidBucketName', 400],
    ['PermanentRedirect', 301],
    ['InvalidStorageClass', 400],
    ['KMS.NotFoundException', 400],
    ['InvalidSecret', 0],
    ['ResourceNotFoundException', 400],
  ])('%s is permanent', (code, status) => {
    const error =
      status === 0 ? Object.assign(new Error('bad secret'), { name: code }) : serviceError(code, status);
    expect(classifyFailure('S3', error)).toMatchObject({ failureClass: 'permanent', code });
  });

  it.each([
    ['SlowDown', 503],
    ['ServiceUnavailable', 503],
    ['InternalError', 500],
    ['Throttling', 400],
    ['ThrottlingException', 400],
    ['TooManyRequestsException', 429],
    ['RequestLimitExceeded', 400],
    ['RequestTimeout', 400], // S3 answers a slow upload with 400 RequestTimeout: worth a retry
    ['ExpiredToken', 400],
    ['ConditionalRequestConflict', 409],
    ['OperationAborted', 409],
  ])('%s is transient', (code, status) => {
    expect(classifyFailure('S3', serviceError(code, status))).toMatchObject({
      failureClass: 'transient',
      code,
      httpStatus: status,
    });
  });

  it('classifies the SDK’s own NoSuchBucket exception class as permanent', () => {
    const error = new NoSuchBucket({
      message: 'The specified bucket does not exist',
      $metadata: { httpStatusCode: 404 },
    });
    expect(classifyFailure('S3', error)).toEqual({
      failureClass: 'permanent',
      code: 'NoSuchBucket',
      message: 'The specified bucket does not exist',
      httpStatus: 404,
    });
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'])(
    'treats the socket error %s as transient',
    (code) => {
      expect(classifyFailure('S3', socketError(code))).toMatchObject({ failureClass: 'transient', code });
    },
  );

  it('treats SDK timeouts as transient', () => {
    const timeout = Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });
    expect(classifyFailure('S3', timeout)).toMatchObject({ failureClass: 'transient', code: 'TimeoutError' });
  });

  it('treats an error with neither code nor status (a network failure) as transient', () => {
    expect(classifyFailure('S3', new Error('socket hang up'))).toMatchObject({
      failureClass: 'transient',
      code: 'Unknown',
    });
    expect(classifyFailure('S3', 'a thrown string')).toMatchObject({ failureClass: 'transient' });
  });

  it.each([400, 403, 404, 405, 409, 411, 418])(
    'treats an unknown code with status %i as permanent',
    (status) => {
      expect(classifyFailure('S3', serviceError('SomethingNew', status))).toMatchObject({
        failureClass: 'permanent',
        code: 'SomethingNew',
      });
    },
  );

  it.each([500, 502, 503, 504, 408, 429])('treats an unknown code with status %i as transient', (status) => {
    expect(classifyFailure('S3', serviceError('SomethingNew', status))).toMatchObject({
      failureClass: 'transient',
    });
  });

  it('lets the table win over the status (a 503 listed as permanent stays permanent)', () => {
    expect(classifyFailure('S3', serviceError('NoSuchBucket', 503)).failureClass).toBe('permanent');
    expect(classifyFailure('S3', serviceError('SlowDown', 400)).failureClass).toBe('transient');
  });
});

describe('the EventBridge classification table', () => {
  it('dead-letters a missing bus and a malformed entry, retries throttling and internal errors', () => {
    expect(classifyFailure('EVENTBRIDGE', serviceError('EventBusNotFound', 400)).failureClass).toBe(
      'permanent',
    );
    expect(classifyFailure('EVENTBRIDGE', serviceError('ValidationException', 400)).failureClass).toBe(
      'permanent',
    );
    expect(classifyFailure('EVENTBRIDGE', serviceError('InternalException', 500)).failureClass).toBe(
      'transient',
    );
    expect(classifyFailure('EVENTBRIDGE', serviceError('ThrottlingException', 400)).failureClass).toBe(
      'transient',
    );
  });

  it('retries only InternalFailure and ThrottlingException per entry', () => {
    expect(classifyEntryError('InternalFailure', undefined).failureClass).toBe('transient');
    expect(classifyEntryError('ThrottlingException', 'slow down').failureClass).toBe('transient');
    expect(classifyEntryError('MalformedDetail', 'bad').failureClass).toBe('permanent');
    expect(classifyEntryError('AccessDeniedException', undefined)).toEqual({
      failureClass: 'permanent',
      code: 'AccessDeniedException',
      message: 'AccessDeniedException',
    });
  });
});

describe('the table itself', () => {
  it.each(DESTINATION_TYPES)('never lists a %s code as both transient and permanent', (type) => {
    const { permanent, transient } = failureTable(type);
    expect(permanent.filter((code) => transient.includes(code))).toEqual([]);
  });

  it('is shown in full in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Failure classification'));
    const listed = new Set(
      [...section.slice(0, section.indexOf('\n## ', 3)).matchAll(/`([^`]+)`/g)].map((m) => m[1]),
    );
    const codes = DESTINATION_TYPES.map(failureTable).flatMap((t) => [...t.permanent, ...t.transient]);
    expect(codes.filter((code) => !listed.has(code))).toEqual([]);
  });
});

describe('sanitizeReason', () => {
  const accessKeyId = 'AKIAIOSFODNN7EXAMPLE';
  const sessionKeyId = 'ASIAY34FZKBOKMUTVV7A';
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const token =
    'IQoJb3JpZ2luX2VjEHoaCXVzLWVhc3QtMSJHMEUCIQDf+8fP2QpP3q2rYvXbCzNbFc1Vq/ZyYtW4hGZ0J5QxwIgVgk8yQ==';

  it.each([
    ['an access key id', `The AWS Access Key Id ${accessKeyId} you provided does not exist`, accessKeyId],
    [
      'a session key id',
      `credential ${sessionKeyId}/20260526/us-east-1/s3/aws4_request rejected`,
      sessionKeyId,
    ],
    ['a 40-character secret key', `bad key pair ${accessKeyId} ${secret} in secret`, secret],
    ['a secret that starts with "/"', `secret /${secret.slice(1)} was rejected`, `/${secret.slice(1)}`],
    ['a secret that ends with "+"', `secret ${secret.slice(0, 39)}+ was rejected`, `${secret.slice(0, 39)}+`],
    ['a secret field', `{"accessKeyId":"x","secretAccessKey":"${secret}"}`, secret],
    ['a session token header', `X-Amz-Security-Token=${token}&X-Amz-Date=20260526T000000Z`, token],
    ['a session token field', `{"sessionToken": "${token}"}`, token],
    ['a SessionToken field', `SessionToken: ${token}`, token],
    [
      'a presigned URL signature',
      'https://b.s3.amazonaws.com/k?X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
      '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
    ],
    [
      'an Authorization header signature',
      'Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260526/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024',
      'fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024',
    ],
  ])('removes %s', (_what, message, leaked) => {
    const out = sanitizeReason(message);
    expect(out).not.toContain(leaked);
    expect(out).not.toContain(accessKeyId);
  });

  it('keeps what on-call needs: codes, buckets, keys and part hashes', () => {
    const message =
      'NoSuchBucket: The specified bucket does not exist (bucket acme-pushrail-events, key raw/event_type=a/dt=2026-05-26/hour=01/part-' +
      `${'ab12'.repeat(16)}.ndjson)`;
    expect(sanitizeReason(message)).toBe(message);
  });

  it('makes the reason one bounded line', () => {
    expect(sanitizeReason('a\n  b\tc')).toBe('a b c');
    const long = sanitizeReason('x '.repeat(1000));
    expect(long.length).toBeLessThanOrEqual(256);
    expect(long.endsWith('…')).toBe(true);
  });

  it('redacts before truncating, so a cut cannot expose half a key', () => {
    const out = sanitizeReason(`${'y '.repeat(120)}${accessKeyId}`, 250);
    expect(out).not.toMatch(/AKIA/);
  });

  it('sanitizes the message classifyFailure returns', () => {
    const error = serviceError(
      'InvalidAccessKeyId',
      403,
      `The AWS Access Key Id ${accessKeyId} does not exist`,
    );
    expect(classifyFailure('S3', error).message).not.toContain(accessKeyId);
  });
});
