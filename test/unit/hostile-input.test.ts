import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../lambdas/core/errors.js';
import { parseIngestRequest, type RawRequest } from '../../lambdas/core/ingest-request.js';
import {
  MAX_ERROR_DETAILS,
  MAX_ERROR_FIELD_LENGTH,
  MAX_EVENT_DEPTH,
  MAX_REQUEST_BYTES,
} from '../../lambdas/core/limits.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * Requests no producer should send, and what each gets: a 4xx naming the event's index and the field
 * (invariant 10), never a 5xx (which tells the producer to retry a request that cannot succeed,
 * invariant 2), and never a 2xx for data that would be stored other than as sent.
 */

type Json = Record<string, unknown>;
const JSON_TYPE = 'application/json';
const SEED = JSON.stringify(seedEvent);
const event = (n: number): Json => ({ ...structuredClone(seedEvent), idempotencyKey: `order_${n}` });

/** The HttpError a request is rejected with; fails the test on acceptance or on any other throw. */
function rejectionOf(request: RawRequest): HttpError {
  try {
    parseIngestRequest(request);
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw new Error(`expected an HttpError (a 4xx), got ${String(error)}`, { cause: error });
  }
  throw new Error('expected the request to be rejected, but it was accepted');
}
const text = (body: string): RawRequest => ({ contentType: JSON_TYPE, body });
const bytes = (body: Uint8Array, contentEncoding?: string): RawRequest => ({
  contentType: JSON_TYPE,
  body: Buffer.from(body).toString('base64'),
  isBase64Encoded: true,
  ...(contentEncoding === undefined ? {} : { contentEncoding }),
});
/** The seed event with `"amount":12900` replaced by raw JSON text. */
const withAmount = (json: string): string => SEED.replace('"amount":12900', `"amount":${json}`);
const fields = (error: HttpError) => error.details.map((d) => [d.index, d.field]);

/** `levels` nested arrays: `[[...]]`. */
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe(`nesting deeper than ${MAX_EVENT_DEPTH} levels`, () => {
  it('answers 400 for a payload nested 100,000 levels deep, naming the path where the limit is passed', () => {
    const body = withAmount(nested(100_000));
    expect(Buffer.byteLength(body)).toBeLessThan(256 * 1024);
    const error = rejectionOf(text(body));
    expect(error.statusCode).toBe(400);
    // The event is level 1, payload 2, the array in amount 3: the one at level 65 is amount[0]...[0] (62 times).
    expect(fields(error)).toEqual([[undefined, `payload.amount${'[0]'.repeat(MAX_EVENT_DEPTH - 2)}`]]);
    expect(error.details[0]?.message).toContain(String(MAX_EVENT_DEPTH));
  });

  it(`accepts exactly ${MAX_EVENT_DEPTH} levels and rejects ${MAX_EVENT_DEPTH + 1}`, () => {
    // amount is level 3, so amount holding n nested arrays reaches level 2 + n.
    const deepest = MAX_EVENT_DEPTH - 2;
    expect(parseIngestRequest(text(withAmount(nested(deepest)))).events).toHaveLength(1);
    expect(rejectionOf(text(withAmount(nested(deepest + 1)))).statusCode).toBe(400);
  });

  it('counts levels per event, so a batch allows the same depth as a single event', () => {
    const deepest = JSON.parse(withAmount(nested(MAX_EVENT_DEPTH - 2))) as Json;
    const parsed = parseIngestRequest(text(JSON.stringify({ events: [event(0), deepest] })));
    expect(parsed.events).toHaveLength(2);
  });

  it("names the index of the deep event in a batch, and every deep event's", () => {
    const deep = JSON.parse(withAmount(nested(1000))) as Json;
    const body = JSON.stringify({ events: [event(0), { ...deep, idempotencyKey: 'a' }, event(2), deep] });
    const error = rejectionOf(text(body));
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.index)).toEqual([1, 3]);
    expect(error.details.every((d) => d.field.startsWith('payload.amount[0]'))).toBe(true);
  });

  it('answers 400 for depth in metadata, in an unknown field, and in objects as well as arrays', () => {
    const objects = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const inMetadata = SEED.replace('"tier":"pro"', `"tier":${objects(100_000)}`);
    expect(fields(rejectionOf(text(inMetadata)))[0]?.[1]).toMatch(/^metadata\.tier(\.a)+$/);
    const inUnknown = `${SEED.slice(0, -1)},"extra":${nested(100_000)}}`;
    expect(fields(rejectionOf(text(inUnknown)))[0]?.[1]).toMatch(/^extra(\[0\])+$/);
  });

  it('answers 400, not a crash, for a body that is nothing but 5 million brackets', () => {
    const error = rejectionOf(text(nested(2_500_000)));
    expect(error.statusCode).toBe(400);
    expect(fields(error)).toEqual([[undefined, '(root)']]);
  });
});

describe('numbers canonical JSON cannot store as sent', () => {
  it.each([
    ['1e400', 'is out of range'],
    ['-1e400', 'is out of range'],
    ['12345678901234567890', 'as 12345678901234567000'],
    ['9007199254740993', 'as 9007199254740992'],
    ['0.1000000000000000000001', 'as 0.1'],
    ['1e-400', 'as 0'],
  ])('answers 400 for %s at payload.amount', (number, message) => {
    const error = rejectionOf(text(withAmount(number)));
    expect(error.statusCode).toBe(400);
    expect(fields(error)).toEqual([[undefined, 'payload.amount']]);
    expect(error.details[0]?.message).toContain(message);
  });

  it.each([
    ['1.50', 1.5],
    ['1e2', 100],
    ['1E+2', 100],
    ['-0', 0],
    ['-0.0', 0],
    ['0.1', 0.1],
    ['5e-324', 5e-324],
    ['1.7976931348623157e308', Number.MAX_VALUE],
    ['9007199254740992', 2 ** 53],
    ['100000000000000000000000', 1e23],
  ])('accepts %s, which keeps its value', (number, value) => {
    const [parsed] = parseIngestRequest(text(withAmount(number))).events;
    // What is stored and delivered is the canonical JSON.
    expect(JSON.parse(parsed?.canonical ?? '').payload.amount).toBe(value);
  });

  it('names a number inside an array inside a batch event, and in metadata', () => {
    const bad = { ...event(1), payload: { items: [{ sku: 'PR-PRO-MONTHLY', qty: 'QTY' }] } };
    const body = JSON.stringify({ events: [event(0), bad] }).replace('"QTY"', '1e999');
    expect(fields(rejectionOf(text(body)))).toEqual([[1, 'payload.items[0].qty']]);
    const meta = SEED.replace('"tier":"pro"', '"tier":123456789012345678901234567890');
    expect(fields(rejectionOf(text(meta)))).toEqual([[undefined, 'metadata.tier']]);
  });
});

describe('names used twice in one object', () => {
  it('answers 400 naming the repeated field, instead of keeping the last value', () => {
    expect(fields(rejectionOf(text(withAmount('1,"amount":2'))))).toEqual([[undefined, 'payload.amount']]);
    const twiceAtTop = SEED.replace('{"eventType":', '{"eventType":"order.refunded","eventType":');
    expect(fields(rejectionOf(text(twiceAtTop)))).toEqual([[undefined, 'eventType']]);
  });

  it('sees through escapes: "a" and "\\u0061" are the same name', () => {
    expect(fields(rejectionOf(text(withAmount('1,"\\u0061mount":2'))))).toEqual([
      [undefined, 'payload.amount'],
    ]);
  });

  it('allows the same name in different objects', () => {
    const body = withAmount('{"amount":{"amount":1}}');
    expect(parseIngestRequest(text(body)).events).toHaveLength(1);
  });
});

describe('invalid UTF-8 (bodies that arrive as bytes)', () => {
  /** The seed event as bytes with `bad` in place of the text "ord_38a91f" (payload.orderId). */
  const seedWith = (bad: number[]): Buffer => {
    const [before, after] = SEED.split('ord_38a91f') as [string, string];
    return Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
  };

  it.each([
    ['a lone continuation byte', [0x80]],
    ['0xFF', [0xff]],
    ['a truncated 3-byte sequence', [0xe2, 0x82]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['a UTF-8-encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['Latin-1 "é"', [0x72, 0xe9, 0x67]],
  ])('answers 400 for %s in a string, naming the field', (_name, bad) => {
    const error = rejectionOf(bytes(seedWith(bad)));
    expect(error.statusCode).toBe(400);
    expect(fields(error)).toEqual([[undefined, 'payload.orderId']]);
    expect(error.details[0]?.message).toMatch(/UTF-8/);
  });

  it('accepts valid multi-byte text, exactly as sent', () => {
    const note = 'réglé — 注文 🚀 \uFFFD';
    const body = Buffer.from(SEED.replace('ord_38a91f', note));
    const [parsed] = parseIngestRequest(bytes(body)).events;
    expect((parsed?.event.payload as Json | undefined)?.orderId).toBe(note);
  });

  it('names each event with invalid bytes in a batch, and a key holding them', () => {
    const good = Buffer.from(JSON.stringify(event(0)));
    const badKey = Buffer.from(
      SEED.replace('"qty"', '"q\u0001ty"').replace(
        '"idempotencyKey":"order_38a91f-completed"',
        '"idempotencyKey":"k2"',
      ),
    );
    badKey[badKey.indexOf(0x01)] = 0xfe;
    const body = Buffer.concat([
      Buffer.from('{"events":['),
      good,
      Buffer.from(','),
      seedWith([0xff]),
      Buffer.from(','),
      badKey,
      Buffer.from(']}'),
    ]);
    const error = rejectionOf(bytes(body));
    expect(fields(error)).toEqual([
      [1, 'payload.orderId'],
      [2, 'payload.items[0].q\uFFFDty'],
    ]);
  });

  it('answers 400 at (body) for invalid bytes outside any string', () => {
    const body = Buffer.concat([Buffer.from(SEED.slice(0, -1)), Buffer.from([0x20, 0xc3]), Buffer.from('}')]);
    const error = rejectionOf(bytes(body));
    expect(fields(error)).toEqual([[undefined, '(body)']]);
    expect(error.message).toContain(`offset ${SEED.length}`);
  });

  it('answers 400 for a body flagged base64 that is not base64', () => {
    // Buffer.from would skip the characters base64 lacks and decode the rest into noise.
    const error = rejectionOf({ contentType: JSON_TYPE, body: `${SEED}`, isBase64Encoded: true });
    expect(fields(error)).toEqual([[undefined, '(body)']]);
    expect(error.details[0]?.message).toMatch(/base64/);
  });

  it('answers 415 for a charset other than UTF-8, naming content-type', () => {
    const error = rejectionOf({ contentType: 'application/json; charset=iso-8859-1', body: SEED });
    expect(error.statusCode).toBe(415);
    expect(fields(error)).toEqual([[undefined, 'content-type']]);
    expect(
      parseIngestRequest({ contentType: 'application/json; charset="UTF-8"', body: SEED }).events,
    ).toHaveLength(1);
  });

  it.each(['\\uffff', '\\ufffe', '\uffff'])(
    'answers 400 for %s (SQS cannot carry it), naming the field',
    (char) => {
      const error = rejectionOf(text(SEED.replace('ord_38a91f', `ord_${char}`)));
      expect(error.statusCode).toBe(400);
      expect(fields(error)).toEqual([[undefined, 'payload.orderId']]);
      // U+FFFD and the noncharacters SQS does allow stay accepted.
      expect(parseIngestRequest(text(SEED.replace('ord_38a91f', 'ord_\\ufffd\\ufdd0'))).events).toHaveLength(
        1,
      );
    },
  );

  it('rejects a lone surrogate escaped in a payload key with 400 at that key', () => {
    const error = rejectionOf(text(withAmount('1,"\\ud800":2')));
    expect(error.statusCode).toBe(400);
    expect(error.details.some((d) => d.field.startsWith('payload.'))).toBe(true);
  });
});

describe('compressed bodies (Content-Encoding)', () => {
  const seedBytes = Buffer.from(SEED);

  it.each([
    ['gzip', gzipSync(seedBytes)],
    ['deflate', deflateSync(seedBytes)],
    ['GZip', gzipSync(seedBytes)],
    ['identity', seedBytes],
    ['gzip, identity', gzipSync(seedBytes)],
  ])('accepts a %s body', (coding, body) => {
    const [parsed] = parseIngestRequest(bytes(body, coding)).events;
    expect(parsed?.event).toStrictEqual(seedEvent);
  });

  it('accepts a body API Gateway already decompressed, with the header still on it', () => {
    expect(parseIngestRequest({ ...text(SEED), contentEncoding: 'gzip' }).events).toHaveLength(1);
    expect(parseIngestRequest(bytes(seedBytes, 'deflate')).events).toHaveLength(1);
  });

  it.each(['br', 'compress', 'zstd', 'x-gzip', 'gzip, gzip', 'deflate, br'])(
    'answers 415 for content-encoding %s, naming content-encoding',
    (coding) => {
      const error = rejectionOf(bytes(gzipSync(seedBytes), coding));
      expect(error.statusCode).toBe(415);
      expect(fields(error)).toEqual([[undefined, 'content-encoding']]);
    },
  );

  it('answers 400 naming content-encoding for gzip data that is corrupt or cut short', () => {
    const zipped = gzipSync(seedBytes);
    const corrupt = Buffer.from(zipped);
    corrupt[20] = (corrupt[20] as number) ^ 0xff;
    for (const body of [corrupt, zipped.subarray(0, zipped.length - 6)]) {
      const error = rejectionOf(bytes(body, 'gzip'));
      expect(error.statusCode).toBe(400);
      expect(fields(error)).toEqual([[undefined, 'content-encoding']]);
    }
  });

  it('answers 400 naming content-encoding for a "gzip" body that is neither gzip nor JSON', () => {
    const error = rejectionOf(bytes(Buffer.from('PK\u0003\u0004 not gzip'), 'gzip'));
    expect(error.statusCode).toBe(400);
    expect(fields(error)).toEqual([[undefined, 'content-encoding']]);
  });

  it('answers 413 for a zip bomb without inflating it: 200 MiB of zeros in about 200 KiB', () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024));
    const started = performance.now();
    const error = rejectionOf(bytes(bomb, 'gzip'));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error.statusCode).toBe(413);
    expect(fields(error)).toEqual([[undefined, '(body)']]);
  });

  it(`applies the ${MAX_REQUEST_BYTES}-byte limit to the decompressed body: exactly at it passes, one more byte is 413`, () => {
    const compact = JSON.stringify({ events: [seedEvent] });
    const exact = Buffer.from(compact.padEnd(MAX_REQUEST_BYTES, ' '));
    expect(parseIngestRequest(bytes(gzipSync(exact), 'gzip')).events).toHaveLength(1);
    const over = Buffer.from(compact.padEnd(MAX_REQUEST_BYTES + 1, ' '));
    expect(rejectionOf(bytes(gzipSync(over), 'gzip')).statusCode).toBe(413);
  });

  it('applies the limit to the compressed body as sent, too', () => {
    const noise = Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61);
    expect(rejectionOf(bytes(noise, 'gzip')).statusCode).toBe(413);
  });
});

describe('error answers stay small', () => {
  it(`lists at most ${MAX_ERROR_DETAILS} problems, and says how many more there are`, () => {
    const extra = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`x${i}`, 1]));
    const error = rejectionOf(text(JSON.stringify({ ...seedEvent, ...extra })));
    expect(error.statusCode).toBe(400);
    expect(error.details).toHaveLength(MAX_ERROR_DETAILS);
    expect(error.message).toContain(`${5000 - MAX_ERROR_DETAILS} more`);
  });

  it(`clips a field path to ${MAX_ERROR_FIELD_LENGTH} characters`, () => {
    const key = 'k'.repeat(200_000);
    const error = rejectionOf(text(JSON.stringify({ ...seedEvent, [key]: 1 })));
    expect(error.details[0]?.field.length).toBe(MAX_ERROR_FIELD_LENGTH);
    const batchError = rejectionOf(text(JSON.stringify({ events: [seedEvent], [key]: 1 })));
    expect(batchError.details[0]?.field.length).toBe(MAX_ERROR_FIELD_LENGTH);
  });
});
