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
  return encodeEventId(digest.subarray(0, 16));
}

/** Bytes of an event id's 128 bits. */
export const EVENT_ID_BYTES = 16;

function encodeEventId(bits128: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bits128) {
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

/** The 128 bits a derived event id spells, or undefined for any other string. */
function decodeEventId(id: string): Uint8Array | undefined {
  if (id.length !== 30 || !id.startsWith('evt_')) return undefined;
  const out = new Uint8Array(EVENT_ID_BYTES);
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const char of id.slice(4)) {
    const digit = ALPHABET.indexOf(char);
    if (digit < 0) return undefined;
    value = ((value << 5) | digit) & 0xfff;
    bits += 5;
    if (bits >= 8 && n < EVENT_ID_BYTES) {
      out[n] = (value >>> (bits - 8)) & 0xff;
      n += 1;
      bits -= 8;
    }
  }
  // Only the spelling deriveEventId writes (its last digit's unused bits zero) round-trips.
  return encodeEventId(out) === id ? out : undefined;
}

/**
 * A list of derived event ids as 16 bytes each instead of 30 characters: an S3 part's member list is
 * written twice per part (created, then sealed), and DynamoDB bills by size. Undefined when an id is
 * not a derived one (then the list is stored as strings).
 */
export function packEventIds(ids: readonly string[]): Uint8Array | undefined {
  const out = new Uint8Array(ids.length * EVENT_ID_BYTES);
  for (const [i, id] of ids.entries()) {
    const bytes = decodeEventId(id);
    if (!bytes) return undefined;
    out.set(bytes, i * EVENT_ID_BYTES);
  }
  return out;
}

/** The ids `packEventIds` packed, in their order. */
export function unpackEventIds(packed: Uint8Array): string[] {
  if (packed.length % EVENT_ID_BYTES !== 0)
    throw new Error(`packed event ids are ${packed.length} bytes, not a multiple of ${EVENT_ID_BYTES}`);
  const ids: string[] = [];
  for (let i = 0; i < packed.length; i += EVENT_ID_BYTES)
    ids.push(encodeEventId(packed.subarray(i, i + EVENT_ID_BYTES)));
  return ids;
}
