import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { HttpError } from '../../lambdas/core/errors.js';
import {
  type ParsedIngestRequest,
  parseIngestRequest,
  type RawRequest,
} from '../../lambdas/core/ingest-request.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Properties of the parse-and-validate path over input no one would write by hand: whatever the
 * bytes, headers or JSON, it either accepts the request or throws an HttpError with a 4xx status
 * (never an unclassified error, which the handler answers 503, "retry"); and whatever it accepts
 * is stored as canonical JSON that round-trips byte for byte.
 */

const NUM_RUNS = 300;
const SEED = JSON.stringify(seedEvent);

type Outcome = { accepted: ParsedIngestRequest } | { rejected: HttpError };

/** Runs the parser; any throw that is not a 4xx HttpError fails the property. */
function outcomeOf(request: RawRequest): Outcome {
  try {
    return { accepted: parseIngestRequest(request) };
  } catch (error) {
    if (!(error instanceof HttpError)) {
      throw new Error(`unclassified error: ${String(error)}`, { cause: error });
    }
    expect(error.statusCode).toBeGreaterThanOrEqual(400);
    expect(error.statusCode).toBeLessThan(500);
    return { rejected: error };
  }
}

/** What is stored is canonical JSON that is valid UTF-8 and is its own canonical form. */
function expectRoundTrips(parsed: ParsedIngestRequest): void {
  for (const { event, canonical } of parsed.events) {
    expect(Buffer.from(canonical, 'utf8').toString('utf8')).toBe(canonical);
    expect(canonicalJson(JSON.parse(canonical))).toBe(canonical);
    expect(JSON.parse(canonical)).toEqual(JSON.parse(JSON.stringify(event)));
  }
}

const codingArb = fc.constantFrom(undefined, 'gzip', 'deflate', 'identity', 'br', 'gzip, deflate', '');
const contentTypeArb = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  undefined,
);

/** A request carrying `bytes`: as base64 (compressed or not, truthfully labelled or not) or as text. */
const requestArb = (bytesArb: fc.Arbitrary<Uint8Array>): fc.Arbitrary<RawRequest> =>
  fc
    .record({
      bytes: bytesArb,
      coding: codingArb,
      compress: fc.constantFrom('none', 'gzip', 'deflate'),
      asText: fc.boolean(),
      contentType: fc.oneof(fc.constant('application/json'), contentTypeArb),
    })
    .map(({ bytes, coding, compress, asText, contentType }) => {
      const body =
        compress === 'gzip'
          ? gzipSync(bytes)
          : compress === 'deflate'
            ? deflateSync(bytes)
            : Buffer.from(bytes);
      return asText
        ? { contentType, contentEncoding: coding, body: body.toString('latin1') }
        : { contentType, contentEncoding: coding, body: body.toString('base64'), isBase64Encoded: true };
    });

/** One byte edit: replace, insert or delete at a position (as a fraction of the length). */
const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('replace' as const, 'insert' as const, 'delete' as const),
  at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  byte: fc.integer({ min: 0, max: 255 }),
});

interface Edit {
  readonly kind: 'replace' | 'insert' | 'delete';
  readonly at: number;
  readonly byte: number;
}

function applyEdits(source: Uint8Array, edits: readonly Edit[]): Uint8Array {
  const out = [...source];
  for (const { kind, at, byte } of edits) {
    const i = Math.floor(at * out.length);
    if (kind === 'replace') out[i] = byte;
    else if (kind === 'insert') out.splice(i, 0, byte);
    else out.splice(i, 1);
  }
  return Uint8Array.from(out);
}

/** A JSON number's exact value as a fraction `mantissa * 10^exponent`, compared exactly with BigInt. */
function sameDecimalValue(a: string, b: string): boolean {
  const parse = (t: string) => {
    const m = /^(-?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
    if (!m) throw new Error(`not a number token: ${t}`);
    const frac = m[3] ?? '';
    const mantissa = BigInt(`${m[1]}${m[2]}${frac}`);
    return { mantissa, exponent: BigInt(m[4] ?? 0) - BigInt(frac.length) };
  };
  const x = parse(a);
  const y = parse(b);
  if (x.mantissa === 0n || y.mantissa === 0n) return x.mantissa === y.mantissa;
  const e = x.exponent < y.exponent ? x.exponent : y.exponent;
  return x.mantissa * 10n ** (x.exponent - e) === y.mantissa * 10n ** (y.exponent - e);
}

/** Number tokens as producers write them: long integers, long fractions, exponents of any size. */
const numberTokenArb = fc
  .record({
    sign: fc.constantFrom('', '-'),
    int: fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9]\d{0,30}$/)),
    frac: fc.option(fc.stringMatching(/^\d{1,30}$/), { nil: undefined }),
    exp: fc.option(fc.integer({ min: -400, max: 400 }), { nil: undefined }),
  })
  .map(
    ({ sign, int, frac, exp }) =>
      `${sign}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : `e${exp}`}`,
  );

/** Nesting of random depth around a JSON value, deep enough to cross the limit. */
const deepValueArb = fc
  .tuple(fc.integer({ min: 0, max: 80 }), fc.jsonValue({ maxDepth: 2 }))
  .map(([levels, leaf]) => {
    let value: unknown = leaf;
    for (let i = 0; i < levels; i += 1) value = i % 2 === 0 ? [value] : { v: value };
    return value;
  });

describe('properties of the parse-and-validate path', () => {
  it('answers arbitrary bytes, under any content type and coding, with acceptance or a 4xx', () => {
    fc.assert(
      fc.property(requestArb(fc.uint8Array({ maxLength: 600 })), (request) => {
        const outcome = outcomeOf(request);
        if ('accepted' in outcome) expectRoundTrips(outcome.accepted);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('answers arbitrary JavaScript strings as text bodies (lone surrogates included) the same way', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.boolean(), (noise, wrap) => {
        const body = wrap
          ? SEED.replace('ord_38a91f', noise.replaceAll('"', '').replaceAll('\\', ''))
          : noise;
        const outcome = outcomeOf({ contentType: 'application/json', body });
        if ('accepted' in outcome) expectRoundTrips(outcome.accepted);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('answers byte-level mutations of a valid event with acceptance or a 4xx; what it accepts round-trips', () => {
    const source = Buffer.from(
      JSON.stringify({ events: [seedEvent, { ...seedEvent, idempotencyKey: 'k2' }] }),
    );
    fc.assert(
      fc.property(
        requestArb(
          fc.array(editArb, { minLength: 1, maxLength: 4 }).map((edits) => applyEdits(source, edits)),
        ),
        (request) => {
          const outcome = outcomeOf(request);
          if ('accepted' in outcome) expectRoundTrips(outcome.accepted);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('accepts arbitrary JSON values in payload and metadata unless nested too deep, and stores them exactly', () => {
    fc.assert(
      fc.property(fc.jsonValue(), deepValueArb, (value, deep) => {
        const sent = { ...seedEvent, payload: { value, deep }, metadata: { value } };
        const outcome = outcomeOf({ contentType: 'application/json', body: JSON.stringify(sent) });
        if ('accepted' in outcome) {
          expectRoundTrips(outcome.accepted);
          expect(outcome.accepted.events[0]?.canonical).toBe(canonicalJson(JSON.parse(JSON.stringify(sent))));
        } else {
          expect(outcome.rejected.statusCode).toBe(400);
          expect(outcome.rejected.details.every((d) => d.field.startsWith('payload.deep'))).toBe(true);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('accepts a number token exactly when canonical JSON keeps its value, else 400 at its path', () => {
    fc.assert(
      fc.property(numberTokenArb, (token) => {
        const body = SEED.replace('"amount":12900', `"amount":${token}`);
        const outcome = outcomeOf({ contentType: 'application/json', body });
        const value = Number(token);
        const keeps = Number.isFinite(value) && sameDecimalValue(token, JSON.stringify(value));
        if ('accepted' in outcome) {
          expect(keeps).toBe(true);
          expectRoundTrips(outcome.accepted);
        } else {
          expect(keeps).toBe(false);
          expect(outcome.rejected.details.map((d) => d.field)).toEqual(['payload.amount']);
        }
      }),
      { numRuns: NUM_RUNS * 2 },
    );
  });
});
