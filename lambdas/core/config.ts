import { z } from 'zod';
import { DestinationSchema } from '../destinations/index.js';
import { intBetween, patterned } from './config-fields.js';
import { ConfigError, type FieldIssue } from './errors.js';
import { formatPath, toFieldIssues } from './issues.js';

/**
 * The destinations config (`pushrail.config.json`): the single source of truth for synth, the local
 * runtime and the published JSON Schema (`schema/pushrail.config.schema.json`, generated from this).
 */

/**
 * At most this many destinations in one config file. Destinations are runtime data (the
 * destinations table), not stack resources, so this is not a stack limit: it is the size a
 * deployment is tested at (1,000 destinations; README "Limits"), and what one `destinations apply`
 * diffs against one `GET /v1/destinations`.
 */
export const MAX_DESTINATIONS = 1000;

/** The vendor-level settings: the part of the config `cdk deploy` reads (see VendorSettingsSchema). */
const VENDOR_FIELDS = {
  $schema: z.string().optional(),
  vendor: patterned('vendor', /^[a-z0-9][a-z0-9-]*$/, 'must be lowercase letters, digits and "-"', 64),
  retentionDays: intBetween('retentionDays', 1, 365, ' days')
    .default(30)
    .describe('How long events, idempotency records and seals are kept (DynamoDB TTL).'),
  egress: z
    .strictObject({
      staticIps: z
        .boolean({ error: 'egress.staticIps must be true or false' })
        .describe('Deliver from fixed Elastic IPs (NAT gateways), output as EgressIps.'),
      azs: intBetween('egress.azs', 1, 3, ' Availability Zones')
        .default(2)
        .describe('Availability Zones, each with its own NAT gateway and Elastic IP (cost per AZ).'),
    })
    .optional()
    .describe(
      'Deployed stack only (README "Egress IP"): with staticIps, the consumers run in a VPC whose traffic to ' +
        'customers leaves through NAT gateways with Elastic IPs. Default: off.',
    ),
};

/** The optional static egress of the consumers (README "Egress IP"). */
export type EgressSettings = z.output<typeof VENDOR_FIELDS.egress>;

export const ConfigSchema = z
  .strictObject({
    ...VENDOR_FIELDS,
    destinations: z
      .array(DestinationSchema)
      .max(MAX_DESTINATIONS, `destinations must list at most ${MAX_DESTINATIONS} destinations per file`)
      // `cdk deploy` reads only the vendor-level settings: a file for it may list no destinations.
      .default([])
      .describe('Applied with `npx pushrail destinations apply -f`, and by the local runtime at start.'),
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
    });
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type PushrailConfig = z.output<typeof ConfigSchema>;

/**
 * What `cdk deploy` reads from the config: the vendor-level settings only. Its `destinations` are
 * runtime data, applied with `npx pushrail destinations apply -f` (which validates them), so the
 * stack is the same whatever they are, and a config with none deploys too.
 */
export const VendorSettingsSchema = z.strictObject({
  ...VENDOR_FIELDS,
  destinations: z.array(z.unknown(), { error: 'destinations must be a list' }).optional(),
});

export interface VendorSettings {
  readonly vendor: string;
  readonly retentionDays: number;
  /** @default - off: the consumers run outside any VPC, with AWS's shared addresses */
  readonly egress?: NonNullable<EgressSettings>;
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

/** Throws ConfigError naming every field that holds a raw AWS key (by path, never the value). */
function refuseRawCredentials(raw: unknown, source: string): void {
  const leaked = findRawCredentials(raw);
  if (leaked.length === 0) return;
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

/**
 * Validates a parsed config. Throws ConfigError listing every offending field with its allowed range.
 * `source` names the file in the message.
 */
export function parseConfig(raw: unknown, source = 'pushrail.config.json'): PushrailConfig {
  refuseRawCredentials(raw, source);
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, toFieldIssues(result.error));
  return result.data;
}

/** JSON text, a syntax error reported as a ConfigError. */
function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    const issue: FieldIssue = { field: '(root)', message: `not valid JSON: ${(cause as Error).message}` };
    throw new ConfigError(source, [issue], { cause });
  }
}

/** Parses config text (JSON). A syntax error is reported as a ConfigError too. */
export function parseConfigText(text: string, source = 'pushrail.config.json'): PushrailConfig {
  const raw = parseJson(text, source);
  return parseConfig(raw, source);
}

/**
 * Validates the vendor-level settings of config text (JSON) for `cdk deploy`; its destinations are
 * not deployed and not validated here, but raw credentials anywhere in the file are still refused.
 * Throws ConfigError naming every offending field. `destinationCount` is how many the file lists.
 */
export function parseVendorSettingsText(
  text: string,
  source = 'pushrail.config.json',
): VendorSettings & { readonly destinationCount: number } {
  const raw = parseJson(text, source);
  refuseRawCredentials(raw, source);
  const result = VendorSettingsSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, toFieldIssues(result.error));
  const { vendor, retentionDays, destinations, egress } = result.data;
  return {
    vendor,
    retentionDays,
    ...(egress ? { egress } : {}),
    destinationCount: destinations?.length ?? 0,
  };
}
