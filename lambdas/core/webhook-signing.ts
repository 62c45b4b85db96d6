import { createHash, createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, DESIGN.md "Webhook requests"): the
 * `webhook-id`, `webhook-timestamp` and `webhook-signature` headers of a batch, and the secrets they
 * are signed with. Pure.
 *
 * Signed with node:crypto rather than the `standardwebhooks` package: the signature is one HMAC-SHA256
 * of `id.timestamp.body`, the package's `sign` takes a single secret while a rotation needs two
 * signatures in one header, and the sender's bundle stays free of the package's base64 and SHA-256
 * polyfills. The package's own verifier checks these signatures in the tests (test/unit/
 * webhook-signing.test.ts) and in the README's receiver snippet.
 */

export const SECRET_PREFIX = 'whsec_';
/** How long the previous secret keeps signing beside the new one after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

/** A new signing secret: `whsec_` and 32 random bytes in base64 (Standard Webhooks: 24 to 64 bytes). */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * What a destination's signing secret in Secrets Manager holds: the current secret and, for 24 h
 * after a rotation, the previous one with the moment it stops signing.
 */
export const SigningSecretsSchema = z.object({
  current: z.string().startsWith(SECRET_PREFIX),
  previous: z.object({ secret: z.string().startsWith(SECRET_PREFIX), until: z.iso.datetime() }).optional(),
});
export type SigningSecrets = z.output<typeof SigningSecretsSchema>;

/** The stored value after a rotation to `next` at `now`: the current secret signs beside it for 24 h. */
export function rotateSecrets(stored: SigningSecrets | undefined, next: string, now: Date): SigningSecrets {
  if (!stored) return { current: next };
  return {
    current: next,
    previous: { secret: stored.current, until: new Date(now.getTime() + ROTATION_OVERLAP_MS).toISOString() },
  };
}

/** The secrets that sign at `now`: the current one, and the previous one within its 24 h. */
export function activeSecrets(stored: SigningSecrets, now: Date): string[] {
  const previous =
    stored.previous && Date.parse(stored.previous.until) > now.getTime() ? [stored.previous.secret] : [];
  return [stored.current, ...previous];
}

/**
 * The `webhook-id` of a batch: `msg_` and a SHA-256 of its eventIds (sorted, so the same events in
 * another order are the same message). A retry of the batch carries the same id, so a receiver that
 * dedupes on it sees the retry as what it is.
 */
export function webhookId(eventIds: readonly string[]): string {
  const digest = createHash('sha256')
    .update([...eventIds].sort().join('\n'))
    .digest('base64url');
  return `msg_${digest.slice(0, 32)}`;
}

/** One `v1,<base64>` signature of `id.timestamp.body` with one secret (its key: the base64 after `whsec_`). */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers of a request: one signature per active secret, space-separated. */
export function signingHeaders(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signature(s, id, timestamp, body)).join(' '),
  };
}
