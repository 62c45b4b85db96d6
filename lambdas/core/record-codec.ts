import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * How the event store keeps an event's record (its canonical JSON): raw DEFLATE behind a one-byte format
 * tag. A write unit is 1 KiB of item, and a typical 1 KiB event deflates to a third or half of that, so
 * the whole event item (record, routing and its idempotency state) fits in one write unit instead of two.
 *
 * DEFLATE re-inflates byte for byte, so what is enqueued, replayed and written to S3 is exactly the
 * canonical JSON that was accepted (invariant 4). The tag lets a later format (a preset dictionary, say)
 * sit beside this one; items written before compression (a plain string) still read back.
 */

/** Format 1: raw DEFLATE (RFC 1951) of the UTF-8 bytes. */
const DEFLATE_RAW = 1;

export function encodeRecord(json: string): Uint8Array {
  const deflated = deflateRawSync(Buffer.from(json, 'utf8'), { level: 9 });
  const out = new Uint8Array(deflated.byteLength + 1);
  out[0] = DEFLATE_RAW;
  out.set(deflated, 1);
  return out;
}

export function decodeRecord(stored: string | Uint8Array): string {
  if (typeof stored === 'string') return stored;
  if (stored[0] !== DEFLATE_RAW) throw new Error(`unknown stored record format ${stored[0]}`);
  return inflateRawSync(stored.subarray(1)).toString('utf8');
}
