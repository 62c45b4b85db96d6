import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AccessKeyPair } from '../adapters/owned-secrets.js';
import { findRawCredentials } from '../core/config.js';
import { patterned } from '../core/config-fields.js';
import { type FieldIssue, ValidationError } from '../core/errors.js';
import { capIssues, toFieldIssues } from '../core/issues.js';
import { type Destination, DestinationSchema } from '../destinations/index.js';

/**
 * One destination in a management API body: the config file's schema (DestinationSchema, the same
 * messages and field paths, minus the `destinations[i].` prefix), plus the two things only the API
 * accepts (DESIGN.md "Management API"):
 * - `ASSUME_ROLE` without `externalId`: Pushrail supplies one (`fillExternalId`);
 * - `ACCESS_KEY` with `accessKeyId`/`secretAccessKey`/`sessionToken` instead of `secretArn`: the keys
 *   are taken out here, before anything could echo them, and stored by the caller in Secrets Manager.
 */

export interface DestinationInput {
  /**
   * The validated destination. With `accessKeys`, its `auth.secretArn` is PENDING_SECRET_ARN until the
   * caller stores the keys and puts the real ARN in its place (withSecretArn).
   */
  readonly destination: Destination;
  /** Raw keys posted in `auth`: never returned, logged or audited. */
  readonly accessKeys?: AccessKeyPair;
  /**
   * A webhook's API key posted as `auth.value` (instead of `secretArn`): taken out here like raw keys,
   * stored by the caller in Secrets Manager; never returned, logged or audited.
   */
  readonly apiKeyValue?: string;
  /** The body had ASSUME_ROLE without `externalId`, so `fillExternalId` is in it. */
  readonly externalIdFilled: boolean;
}

/** Stands for the secret the raw keys will be stored in, only to validate the rest of the body. */
export const PENDING_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:pushrail-pending';

const RAW_KEY_FIELDS = ['accessKeyId', 'secretAccessKey', 'sessionToken'] as const;

/**
 * What answers add to a destination (core/destination-record.ts and `customerSetup`). A body may carry
 * them back, so that a GET answer, edited, can be PUT: they are read-only and ignored.
 */
const READ_ONLY_FIELDS = [
  'status',
  'statusReason',
  'version',
  'createdAt',
  'updatedAt',
  'updatedBy',
  'queueUrl',
  'dlqUrl',
  'customerSetup',
] as const;

/** The keys' own rules; no message quotes a value (zod's and `patterned`'s never do). */
const AccessKeyPairSchema = z.strictObject({
  mode: z.literal('ACCESS_KEY'),
  accessKeyId: patterned(
    'auth.accessKeyId',
    /^(AKIA|ASIA)[A-Z0-9]{16}$/,
    'must be an AWS access key id (AKIA or ASIA and 16 capital letters or digits)',
    20,
  ),
  secretAccessKey: patterned(
    'auth.secretAccessKey',
    /^[A-Za-z0-9/+=]{16,128}$/,
    'must be 16-128 letters, digits, "/", "+" or "="',
    128,
  ),
  sessionToken: patterned(
    'auth.sessionToken',
    /^[A-Za-z0-9/+=]+$/,
    'must be letters, digits, "/", "+" or "="',
    8192,
  ).optional(),
});

/**
 * Validates a body. Throws ValidationError (400) listing every offending field, as the config file
 * would name it.
 */
export function parseDestinationInput(body: unknown, fillExternalId: string): DestinationInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('the body must be one destination, a JSON object', [
      { field: '(root)', message: 'must be a JSON object' },
    ]);
  }
  const candidate: Record<string, unknown> = { ...body };
  for (const field of READ_ONLY_FIELDS) delete candidate[field];
  const issues: FieldIssue[] = [];
  let accessKeys: AccessKeyPair | undefined;
  let apiKeyValue: string | undefined;
  let externalIdFilled = false;

  const auth = candidate.auth;
  if (auth !== null && typeof auth === 'object' && !Array.isArray(auth)) {
    const fields = auth as Record<string, unknown>;
    if (fields.mode === 'ASSUME_ROLE' && fields.externalId === undefined) {
      candidate.auth = { ...fields, externalId: fillExternalId };
      externalIdFilled = true;
    } else if (fields.mode === 'ACCESS_KEY') {
      const taken = takeAccessKeys(fields, issues);
      candidate.auth = taken.auth;
      accessKeys = taken.keys;
    } else if (fields.mode === 'API_KEY' && fields.value !== undefined) {
      const { value, ...rest } = fields;
      if (rest.secretArn !== undefined) {
        issues.push({
          field: 'auth.secretArn',
          message: 'give either auth.secretArn or auth.value, not both',
        });
      }
      if (typeof value !== 'string' || value.length === 0 || value.length > 4096 || /[\p{Cc}]/u.test(value)) {
        issues.push({
          field: 'auth.value',
          message: 'must be a non-empty string of at most 4096 characters without control characters',
        });
      } else apiKeyValue = value;
      candidate.auth = { ...rest, secretArn: PENDING_SECRET_ARN };
    }
  }

  // As the config file does: a raw key anywhere else is refused by path, never echoed.
  const leaked = findRawCredentials(candidate);
  if (leaked.length > 0) {
    throw invalid(
      leaked.map((field) => ({
        field,
        message:
          'raw AWS access keys are accepted only in auth, as "auth": {"mode": "ACCESS_KEY", "accessKeyId", ' +
          '"secretAccessKey"}, where Pushrail stores them in AWS Secrets Manager',
      })),
    );
  }
  const result = DestinationSchema.safeParse(candidate);
  if (!result.success) issues.push(...toFieldIssues(result.error));
  if (issues.length > 0) throw invalid(issues);
  return {
    destination: (result as { data: Destination }).data,
    ...(accessKeys ? { accessKeys } : {}),
    ...(apiKeyValue === undefined ? {} : { apiKeyValue }),
    externalIdFilled,
  };
}

/**
 * Takes raw keys out of an ACCESS_KEY `auth`. An `accessKeyId` shown masked (`AKIA…WXYZ`, as answers
 * show it) next to the secretArn is what a GET answered: it is dropped, so a GET body can be PUT back.
 */
function takeAccessKeys(
  auth: Record<string, unknown>,
  issues: FieldIssue[],
): { auth: Record<string, unknown>; keys?: AccessKeyPair } {
  const { accessKeyId, secretAccessKey, sessionToken, ...rest } = auth;
  const masked = typeof accessKeyId === 'string' && accessKeyId.includes('…');
  if (masked && secretAccessKey === undefined && sessionToken === undefined) return { auth: rest };
  if (accessKeyId === undefined && secretAccessKey === undefined && sessionToken === undefined) {
    return { auth };
  }
  if (rest.secretArn !== undefined) {
    issues.push({
      field: 'auth.secretArn',
      message: 'give either auth.secretArn or auth.accessKeyId and auth.secretAccessKey, not both',
    });
  }
  const { secretArn: _secretArn, ...withoutArn } = rest;
  const parsed = AccessKeyPairSchema.safeParse({ ...withoutArn, accessKeyId, secretAccessKey, sessionToken });
  if (!parsed.success) {
    issues.push(...toFieldIssues(parsed.error).map((i) => ({ ...i, field: prefixed(i.field) })));
  }
  return {
    auth: { mode: 'ACCESS_KEY', secretArn: PENDING_SECRET_ARN },
    ...(parsed.success
      ? {
          keys: {
            accessKeyId: parsed.data.accessKeyId,
            secretAccessKey: parsed.data.secretAccessKey,
            ...(parsed.data.sessionToken ? { sessionToken: parsed.data.sessionToken } : {}),
          },
        }
      : {}),
  };
}

/** The raw-key fields a request posted (for the audit entry's "(changed)" lines). */
export function postedKeyFields(keys: AccessKeyPair): string[] {
  return RAW_KEY_FIELDS.filter((f) => keys[f] !== undefined).map((f) => `auth.${f}`);
}

/** A webhook destination with the secret its API key is in. */
export function withApiKeySecretArn(destination: Destination, secretArn: string): Destination {
  if (destination.type !== 'WEBHOOK' || !destination.auth) return destination;
  return { ...destination, auth: { ...destination.auth, secretArn } };
}

/** The destination with the secret its posted keys were stored in. */
export function withSecretArn(destination: Destination, secretArn: string): Destination {
  return { ...destination, auth: { mode: 'ACCESS_KEY', secretArn } } as Destination;
}

/**
 * An ExternalId for a customer's trust policy: `pushrail-` and 32 base32 characters (160 random
 * bits), unique and unguessable, as AWS's confused-deputy guidance asks of the third party.
 */
export function generateExternalId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(20);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff; // at most 12 bits are ever pending
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `pushrail-${out}`;
}

/** `AKIA…WXYZ`: enough to tell keys apart, not enough to use or guess one. */
export function maskAccessKeyId(accessKeyId: string): string {
  return `${accessKeyId.slice(0, 4)}…${accessKeyId.slice(-4)}`;
}

/** The keys' schema sees `auth` alone: its paths are under `auth`. */
function prefixed(field: string): string {
  return field === '(root)' ? 'auth' : `auth.${field}`;
}

function invalid(issues: readonly FieldIssue[]): ValidationError {
  const { details, omitted } = capIssues(issues);
  return new ValidationError(
    `invalid destination: ${issues.length} field${issues.length === 1 ? '' : 's'} to fix${omitted > 0 ? ` (${omitted} not listed)` : ''}`,
    details,
  );
}
