import { z } from 'zod';

/**
 * The field rules every destination kind's config schema is built from, so that each field reads the
 * same way in every kind and every error names the field, its range and the value received.
 */

export const between = (field: string, min: number, max: number, unit = '') => {
  const range = `must be between ${min} and ${max}${unit}`;
  return z
    .number({ error: (iss) => `${field} must be a number (received ${typeName(iss.input)})` })
    .min(min, { error: (iss) => `${field} ${range} (received ${String(iss.input)})` })
    .max(max, { error: (iss) => `${field} ${range} (received ${String(iss.input)})` });
};

export const intBetween = (field: string, min: number, max: number, unit = '') =>
  between(field, min, max, unit).int({
    error: (iss) =>
      `${field} must be a whole number between ${min} and ${max}${unit} (received ${String(iss.input)})`,
  });

export const patterned = (field: string, pattern: RegExp, rule: string, max: number) =>
  z
    .string({ error: (iss) => `${field} must be a string (received ${typeName(iss.input)})` })
    .min(1, `${field} must not be empty`)
    .max(max, `${field} must be at most ${max} characters`)
    .regex(pattern, `${field} ${rule}`);

export const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$/;
export const ACCOUNT = /^\d{12}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]{1,512}$/;

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

export type DestinationAuth = z.output<typeof AuthSchema>;

/** The fields every destination has, whatever its kind (DESIGN.md "Destinations"). */
export const COMMON_DESTINATION_FIELDS = {
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

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
