import { createHash } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lowercase

/**
 * The event id is derived from (customerExternalId, idempotencyKey) rather than drawn at random, so
 * every retry of a producer's request — even one whose first attempt stored the event and then failed
 * to enqueue it — names the same event. Downstream de-duplication (S3 seals, the audit trail) keys on
 * it. 128 bits of SHA-256 make collisions between different keys negligible.
 */
export function deriveEventId(customerExternalId: string, idempotencyKey: string): string {
  // The length prefix keeps ("a:b", "c") and ("a", "b:c") apart.
  const digest = createHash('sha256')
    .update(`${customerExternalId.length}:${customerExternalId}:${idempotencyKey}`)
    .digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest.subarray(0, 16)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return `evt_${out}`;
}
