import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Producer API keys as the HTTP API's authorizer checks them: the enabled keys of the REST API's
 * producer usage plan (one source of truth for both endpoints), held as SHA-256 digests only.
 */

/** An enabled producer key: its API Gateway id and the digest of its value (never the value itself). */
export interface ProducerKey {
  readonly id: string;
  readonly digest: Buffer;
}

/** The digest a key value is compared by; hashing first gives both sides the same length. */
export function keyDigest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function producerKey(id: string, value: string): ProducerKey {
  return { id, digest: keyDigest(value) };
}

/**
 * The id of the key `presented` is, or undefined. Every key is compared, in constant time, whatever
 * matched before: neither the time taken nor an early exit tells a caller how close a guess came or
 * where in the list a key sits.
 */
export function matchProducerKey(
  keys: readonly ProducerKey[],
  presented: string | undefined,
): string | undefined {
  if (presented === undefined || presented === '') return undefined;
  const digest = keyDigest(presented);
  let match: string | undefined;
  for (const key of keys) if (timingSafeEqual(key.digest, digest) && match === undefined) match = key.id;
  return match;
}
