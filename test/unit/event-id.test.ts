import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveEventId, packEventIds, unpackEventIds } from '../../lambdas/core/event-id.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * eventId = f(customerExternalId, idempotencyKey): every retry of a producer's request names the same
 * event (invariants 2 and 3), and different keys never share an id.
 */

const FORMAT = /^evt_[0-9a-hjkmnp-tv-z]{26}$/;
/** The seed event's id, computed once with this derivation and pinned. */
const SEED_EVENT_ID = 'evt_wajbb8mqaa59p4h86h05ebqkv0';

describe('deriveEventId', () => {
  it('is deterministic', () => {
    const first = deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey);
    expect(deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey)).toBe(first);
  });

  it("keeps the seed event's id stable across releases (changing it would re-ingest retried events)", () => {
    expect(deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey)).toBe(SEED_EVENT_ID);
  });

  it('differs for a different idempotencyKey or a different customer', () => {
    const id = deriveEventId('acct_8K2zRq', 'order_38a91f-completed');
    expect(deriveEventId('acct_8K2zRq', 'order_38a91f-refunded')).not.toBe(id);
    expect(deriveEventId('acct_Other99', 'order_38a91f-completed')).not.toBe(id);
    expect(deriveEventId('order_38a91f-completed', 'acct_8K2zRq')).not.toBe(id);
  });

  it('keeps ("a:b", "c") and ("a", "b:c") apart', () => {
    expect(deriveEventId('a:b', 'c')).not.toBe(deriveEventId('a', 'b:c'));
    expect(deriveEventId('1:a', 'b')).not.toBe(deriveEventId('1', 'a:b'));
    expect(deriveEventId('', 'a')).not.toBe(deriveEventId('a', ''));
  });

  it('has the format evt_ + 26 lowercase Crockford base32 characters', () => {
    expect(deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey)).toMatch(FORMAT);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (customer, key) => {
        expect(deriveEventId(customer, key)).toMatch(FORMAT);
      }),
      { numRuns: 200 },
    );
  });

  it('gives distinct ids to distinct (customerExternalId, idempotencyKey) pairs', () => {
    // A small alphabet heavy in ":" and digits makes the ambiguous splits of "n:customer:key" likely.
    const tricky = fc.string({ unit: fc.constantFrom('a', 'b', ':', '0', '1', '2'), maxLength: 8 });
    const anyText = fc.string({ unit: 'grapheme', maxLength: 30 });
    const part = fc.oneof(tricky, anyText);
    const pair = fc.tuple(part, part);
    fc.assert(
      fc.property(pair, pair, ([c1, k1], [c2, k2]) => {
        fc.pre(c1 !== c2 || k1 !== k2);
        expect(deriveEventId(c1, k1)).not.toBe(deriveEventId(c2, k2));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('packEventIds', () => {
  const derived = fc
    .tuple(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }))
    .map(([customer, key]) => deriveEventId(customer, key));

  it('packs derived ids into 16 bytes each and unpacks them in order', () => {
    fc.assert(
      fc.property(fc.array(derived, { maxLength: 50 }), (ids) => {
        const packed = packEventIds(ids);
        expect(packed?.length).toBe(ids.length * 16);
        expect(unpackEventIds(packed as Uint8Array)).toEqual(ids);
      }),
    );
  });

  it('refuses a list holding any id deriveEventId does not spell', () => {
    const id = deriveEventId('acct_8K2zRq', 'order_38a91f-completed');
    // The last digit carries 3 bits: a spelling with its 2 unused bits set names the same bytes.
    const last = id.at(-1) as string;
    const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
    const sibling = id.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1];
    for (const other of [
      'evt_1',
      `${id}0`,
      id.replace('evt_', 'evx_'),
      id.toUpperCase(),
      sibling,
      `evt_${'i'.repeat(26)}`,
    ])
      expect(packEventIds([id, other])).toBeUndefined();
    expect(packEventIds([SEED_EVENT_ID, id])).toBeDefined();
  });
});
