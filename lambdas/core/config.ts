import { z } from 'zod';
import { ConfigError, type FieldIssue } from './errors.js';
import { formatPath, toFieldIssues } from './issues.js';

/**
 * The destinations config (`pushrail.config.json`): the single source of truth for synth, the local
 * runtime and the published JSON Schema (`schema/pushrail.config.schema.json`, generated from this).
 */

/** At most this many destinations per stack: each adds ~10 resources and CloudFormation allows 500. */
export const MAX_DESTINATIONS = 40;

const between = (field: string, min: number, max: number, unit = '') => {
  const range = `must be between ${min} and ${max}${unit}`;
  return z
    .number({ error: (iss) => `${field} must be a number (received ${typeName(iss.input)})` })
    .min(min, { error: (iss) => `${field} ${range} (received ${String(iss.input)})` })
    .max(max, { error: (iss) => `${field} ${range} (received ${String(iss.input)})` });
};
const intBetween = (field: string, min: number, max: number, unit = '') =>
  between(field, min, max, unit).int({
    error: (iss) =>
      `${field} must be a whole number between ${min} and ${max}${unit} (received ${String(iss.input)})`,
  });

const patterned = (field: string, pattern: RegExp, rule: string, max: number) =>
  z
    .string({ error: (iss) => `${field} must be a string (received ${typeName(iss.input)})` })
    .min(1, `${field} must not be empty`)
    .max(max, `${field} must be at most ${max} characters`)
    .regex(pattern, `${field} ${rule}`);

const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$/;
const ACCOUNT = /^\d{12}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]{1,512}$/;
const BUS_ARN = /^arn:aws[a-z-]*:events:([a-z0-9-]+):(\d{12}):event-bus\/[\w.\-/]{1,256}$/;

export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'GLACIER_IR',
  'DEEP_ARCHIVE',
] as const;

export const AssumeRoleAuthSchema = z.strictObject({
  mode: z.literal('ASSUME_ROLE'),
  roleArn: patterned(
    'auth.roleArn',
    ROLE_ARN,
    'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    2048,
  ),
  externalId: patterned(
    'auth.externalId',
    /^[\w+=,.@:/-]+$/,
    'may contain only letters, digits and +=,.@:/-',
    1224,
  ).min(2, 'auth.externalId must be at least 2 characters'),
});

export const AccessKeyAuthSchema = z.strictObject({
  mode: z.literal('ACCESS_KEY'),
  secretArn: patterned(
    'auth.secretArn',
    SECRET_ARN,
    'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
    2048,
  ),
});

export const AuthSchema = z.discriminatedUnion('mode', [AssumeRoleAuthSchema, AccessKeyAuthSchema], {
  error: 'auth.mode must be "ASSUME_ROLE" (with roleArn and externalId) or "ACCESS_KEY" (with secretArn)',
});

const common = {
  id: patterned(
    'id',
    /^[a-z0-9][a-z0-9-]*$/,
    'must be lowercase letters, digits and "-", starting with a letter or digit',
    40,
  ),
  name: patterned('name', /^[^\p{Cc}]+$/u, 'must not contain control characters', 128),
  customerExternalId: patterned(
    'customerExternalId',
    /^[^\p{Cc}]+$/u,
    'must not contain control characters',
    256,
  ),
  eventTypes: z
    .array(
      patterned(
        'eventTypes[]',
        /^[A-Za-z0-9][A-Za-z0-9._-]*\*?$|^\*$/,
        'must be an event type, optionally ending in "*" to match a prefix',
        128,
      ),
    )
    .min(1, 'eventTypes must list at least one event type (omit it to route every type)')
    .max(100, 'eventTypes must list at most 100 entries')
    .optional(),
  region: patterned('region', REGION, 'must be an AWS region such as us-east-1', 32),
  auth: AuthSchema,
};

export const S3DestinationSchema = z.strictObject({
  type: z.literal('S3'),
  ...common,
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
});

export const EventBridgeDestinationSchema = z.strictObject({
  type: z.literal('EVENTBRIDGE'),
  ...common,
  busArn: patterned(
    'busArn',
    BUS_ARN,
    'must be an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)',
    1600,
  ),
  sourceNamespace: patterned(
    'sourceNamespace',
    /^(?!aws\.)[A-Za-z0-9._-]+$/,
    'must be letters, digits, ".", "_" or "-" and must not start with "aws."',
    256,
  ).optional(),
  maxConcurrency: intBetween('maxConcurrency', 2, 1000).default(2),
});

export const DestinationSchema = z.discriminatedUnion(
  'type',
  [S3DestinationSchema, EventBridgeDestinationSchema],
  {
    error: 'type must be "S3" or "EVENTBRIDGE"',
  },
);

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    vendor: patterned('vendor', /^[a-z0-9][a-z0-9-]*$/, 'must be lowercase letters, digits and "-"', 64),
    retentionDays: intBetween('retentionDays', 1, 365, ' days')
      .default(30)
      .describe('How long events, idempotency records and seals are kept (DynamoDB TTL).'),
    destinations: z
      .array(DestinationSchema)
      .min(1, 'destinations must list at least one destination')
      .max(MAX_DESTINATIONS, `destinations must list at most ${MAX_DESTINATIONS} destinations per stack`),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.destinations.forEach((d, i) => {
      if (seen.has(d.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'id'],
          message: `id "${d.id}" is used by another destination`,
        });
      }
      seen.add(d.id);
      if (d.type === 'S3') {
        if (d.auth.mode === 'ACCESS_KEY' && d.bucketOwnerAccountId === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['destinations', i, 'bucketOwnerAccountId'],
            message:
              'bucketOwnerAccountId is required with auth.mode ACCESS_KEY (every S3 call sends ExpectedBucketOwner)',
          });
        }
        // The SQS event source mapping needs a batching window of at least 1 s above 10 records.
        if (d.maxEvents > 10 && d.flushIntervalSec < 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['destinations', i, 'flushIntervalSec'],
            message: `flushIntervalSec must be at least 1 when maxEvents is above 10 (received ${d.flushIntervalSec})`,
          });
        }
      } else {
        const busRegion = BUS_ARN.exec(d.busArn)?.[1];
        if (busRegion !== d.region) {
          ctx.addIssue({
            code: 'custom',
            path: ['destinations', i, 'busArn'],
            message: `busArn is in region ${busRegion ?? '?'} but region is ${d.region}`,
          });
        }
      }
    });
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type PushrailConfig = z.output<typeof ConfigSchema>;
export type Destination = PushrailConfig['destinations'][number];
export type S3Destination = Extract<Destination, { type: 'S3' }>;
export type EventBridgeDestination = Extract<Destination, { type: 'EVENTBRIDGE' }>;
export type DestinationAuth = z.output<typeof AuthSchema>;

/** The account that owns a destination's bucket: configured, or the account of the role Pushrail assumes. */
export function bucketOwnerAccount(destination: S3Destination): string {
  if (destination.bucketOwnerAccountId) return destination.bucketOwnerAccountId;
  if (destination.auth.mode === 'ASSUME_ROLE') {
    const account = ROLE_ARN.exec(destination.auth.roleArn)?.[1];
    if (account) return account;
  }
  throw new Error(`destination ${destination.id}: no bucket owner account`); // unreachable after validation
}

/** The EventBridge `Source` of a destination's entries: configured, or `pushrail.<vendor>`. */
export function sourceNamespace(
  config: Pick<PushrailConfig, 'vendor'>,
  destination: EventBridgeDestination,
): string {
  return destination.sourceNamespace ?? `pushrail.${config.vendor}`;
}

const RAW_KEY_FIELDS = new Set([
  'accesskeyid',
  'secretaccesskey',
  'sessiontoken',
  'awsaccesskeyid',
  'awssecretaccesskey',
]);
const RAW_KEY_VALUE = /^(AKIA|ASIA)[A-Z0-9]{16}$/;

/**
 * Finds raw AWS credentials anywhere in a config. They are reported by path only — the value is never
 * echoed, so the error itself cannot leak the key into a terminal or CI log.
 */
export function findRawCredentials(value: unknown, path: (string | number)[] = []): string[] {
  if (typeof value === 'string') return RAW_KEY_VALUE.test(value) ? [formatPath(path)] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => findRawCredentials(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) =>
      // aws_secret_access_key (the ~/.aws/credentials spelling) and secretAccessKey are the same field.
      RAW_KEY_FIELDS.has(k.toLowerCase().replace(/[_-]/g, ''))
        ? [formatPath([...path, k])]
        : findRawCredentials(v, [...path, k]),
    );
  }
  return [];
}

/**
 * Validates a parsed config. Throws ConfigError listing every offending field with its allowed range.
 * `source` names the file in the message.
 */
export function parseConfig(raw: unknown, source = 'pushrail.config.json'): PushrailConfig {
  const leaked = findRawCredentials(raw);
  if (leaked.length > 0) {
    throw new ConfigError(
      source,
      leaked.map((field) => ({
        field,
        message:
          'raw AWS access keys are not allowed in the config: store them in AWS Secrets Manager and use ' +
          '"auth": {"mode": "ACCESS_KEY", "secretArn": "<the secret ARN>"} (or prefer ASSUME_ROLE)',
      })),
    );
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, toFieldIssues(result.error));
  return result.data;
}

/** Parses config text (JSON). A syntax error is reported as a ConfigError too. */
export function parseConfigText(text: string, source = 'pushrail.config.json'): PushrailConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    const issue: FieldIssue = { field: '(root)', message: `not valid JSON: ${(cause as Error).message}` };
    throw new ConfigError(source, [issue], { cause });
  }
  return parseConfig(raw, source);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
