import { isIP } from 'node:net';
import { z } from 'zod';
import { COMMON_DESTINATION_FIELDS, intBetween, patterned, typeName } from '../../core/config-fields.js';

const { region: _region, auth: _auth, ...COMMON } = COMMON_DESTINATION_FIELDS;

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]{1,512}$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers Pushrail sets itself (the request's framing, its content type, the Standard Webhooks
 * signature) or that carry secrets, which belong in `auth` (kept in Secrets Manager), not in the
 * config: a static header is stored, shown and audited as it is.
 */
const PUSHRAIL_HEADERS = [
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
] as const;
export const RESERVED_HEADERS = [
  ...PUSHRAIL_HEADERS,
  'authorization',
  'proxy-authorization',
  'cookie',
] as const;

/** The hosts plain http may go to: loopback, for the local runtime (DESIGN.md "Destinations"). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

const UrlSchema = z
  .string({ error: (iss) => `url must be a string (received ${typeName(iss.input)})` })
  .min(1, 'url must not be empty')
  .max(2048, 'url must be at most 2048 characters')
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'url must be an absolute URL (https://host/path)' });
      return;
    }
    if (url.username || url.password) {
      // Credentials in a URL are a secret stored in plain sight: they go in auth.
      ctx.addIssue({
        code: 'custom',
        message: 'url must not carry a user or password; use auth (API_KEY) for credentials',
      });
    }
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
    ctx.addIssue({
      code: 'custom',
      message:
        'url must be https:// (plain http:// only to loopback, 127.0.0.1 or localhost, on the local runtime)',
    });
  });

/** `auth` of a webhook: an API key sent in a header of the customer's choosing, from Secrets Manager. */
export const ApiKeyAuthSchema = z.strictObject({
  mode: z.literal('API_KEY', { error: 'auth.mode must be "API_KEY" (with header and secretArn)' }),
  header: patterned('auth.header', HEADER_NAME, 'must be an HTTP header name', 128).refine(
    (h) => !(PUSHRAIL_HEADERS as readonly string[]).includes(h.toLowerCase()),
    { message: 'auth.header must not be a header Pushrail sets itself (content-type, webhook-*, host...)' },
  ),
  secretArn: patterned(
    'auth.secretArn',
    SECRET_ARN,
    'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
    2048,
  ),
});

export type ApiKeyAuth = z.output<typeof ApiKeyAuthSchema>;

/** A `WEBHOOK` destination (DESIGN.md "Destinations" and "Webhook requests"): signed HTTPS batches. */
export const WebhookDestinationSchema = z
  .strictObject({
    type: z.literal('WEBHOOK'),
    ...COMMON,
    url: UrlSchema,
    method: z.enum(['POST', 'PUT'], { error: 'method must be "POST" or "PUT"' }).default('POST'),
    headers: z
      // Names are checked below rather than by a key schema, which the published JSON Schema would
      // render as `propertyNames`.
      .record(
        z.string(),
        patterned('headers[]', /^[^\p{Cc}]*$/u, 'values must not contain control characters', 1024),
        { error: 'headers must be an object of header names to string values' },
      )
      .default({}),
    auth: ApiKeyAuthSchema.optional(),
    maxEvents: intBetween('maxEvents', 1, 1000).default(100),
    batchSizeKb: intBetween('batchSizeKb', 1, 1024, ' KiB').default(256),
    flushIntervalSec: intBetween('flushIntervalSec', 0, 300, ' seconds').default(1),
    timeoutSec: intBetween('timeoutSec', 1, 30, ' seconds').default(10),
    maxConcurrency: intBetween('maxConcurrency', 2, 100).default(2),
  })
  .superRefine((d, ctx) => {
    const names = Object.keys(d.headers).map((h) => h.toLowerCase());
    if (names.length > 20) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'headers must list at most 20 headers' });
    }
    for (const [name, lower] of Object.keys(d.headers).map((h) => [h, h.toLowerCase()] as const)) {
      if (!HEADER_NAME.test(name) || name.length > 128) {
        ctx.addIssue({
          code: 'custom',
          path: ['headers', name],
          message:
            "headers names must be HTTP header names (letters, digits and !#$%&'*+.^_`|~-, at most 128)",
        });
        continue;
      }
      if ((RESERVED_HEADERS as readonly string[]).includes(lower) || lower === d.auth?.header.toLowerCase()) {
        ctx.addIssue({
          code: 'custom',
          path: ['headers', name],
          message: `headers.${name} is set by Pushrail or carries a secret: secrets go in auth (API_KEY), kept in Secrets Manager`,
        });
      }
    }
  });

export type WebhookDestinationConfig = z.output<typeof WebhookDestinationSchema>;
