import { isUtf8 } from 'node:buffer';
import { gunzipSync, inflateSync } from 'node:zlib';
import {
  PayloadTooLargeError,
  UnsupportedContentEncodingError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.js';
import { MAX_ERROR_DETAILS } from './limits.js';

/**
 * The bytes of a request body, from the string a proxy event carries to the text JSON.parse reads:
 * base64, content coding, size limits and UTF-8. Pure Node (no AWS): the ingest function and the
 * local API Gateway stand-in both use it.
 */

export type ContentCoding = 'gzip' | 'deflate';

/**
 * The coding a `Content-Encoding` header names, or undefined for none/identity. Anything else, and
 * more than one coding, is a 415: a body we cannot decode must not be read as if it were plain.
 */
export function contentCodingOf(header: string | undefined): ContentCoding | undefined {
  const codings = (header ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return undefined;
  const [only] = codings;
  if (codings.length === 1 && (only === 'gzip' || only === 'deflate')) return only;
  throw new UnsupportedContentEncodingError(
    'content-encoding',
    `content-encoding must be gzip, deflate or identity (one coding); received ${JSON.stringify(header)}`,
  );
}

/**
 * Whether bytes start like a stream of the coding: gzip's magic number, or a valid zlib header
 * (RFC 1950, which HTTP's "deflate" means). A JSON text can start like neither (its first byte is
 * whitespace or one of `{["-0123456789tfn`, and none of those forms a zlib header with what a JSON
 * text can have next), so this tells a still-compressed body from one the gateway already decoded.
 */
export function looksCompressed(bytes: Uint8Array, coding: ContentCoding): boolean {
  const [b0, b1] = bytes;
  if (b0 === undefined || b1 === undefined) return false;
  if (coding === 'gzip') return b0 === 0x1f && b1 === 0x8b;
  return (b0 & 0x0f) === 8 && b0 >> 4 <= 7 && ((b0 << 8) | b1) % 31 === 0;
}

/**
 * Decompresses with a hard cap on the output: zlib stops as soon as the output would pass
 * `maxBytes`, so a zip bomb costs at most `maxBytes` of memory and is answered 413.
 */
export function decompress(bytes: Uint8Array, coding: ContentCoding, maxBytes: number): Buffer {
  try {
    const options = { maxOutputLength: maxBytes };
    return coding === 'gzip' ? gunzipSync(bytes, options) : inflateSync(bytes, options);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PayloadTooLargeError(
        `the ${coding}-decompressed request body is over ${maxBytes} bytes`,
        [{ field: '(body)', message: `at most ${maxBytes} bytes once decompressed` }],
        { cause },
      );
    }
    throw new ValidationError(
      `the body is not valid ${coding} data: ${(cause as Error).message}`,
      [{ field: 'content-encoding', message: `the body is not valid ${coding} data` }],
      { cause },
    );
  }
}

/** Strict base64 (what API Gateway sends): Buffer.from would silently skip any other character. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function fromBase64(body: string): Buffer {
  if (body.length % 4 !== 0 || !BASE64.test(body)) {
    throw new ValidationError('the body is flagged isBase64Encoded but is not valid base64', [
      { field: '(body)', message: 'is not valid base64' },
    ]);
  }
  return Buffer.from(body, 'base64');
}

/** A maximal invalid UTF-8 sequence: its byte offset, and where its U+FFFD stands in the text. */
export interface InvalidUtf8 {
  readonly byteOffset: number;
  readonly charIndex: number;
}

export interface BodyText {
  /** The body as text; each invalid UTF-8 sequence (if any) is one U+FFFD, as in WHATWG decoding. */
  readonly text: string;
  /** The first MAX_ERROR_DETAILS invalid sequences; empty when the body is valid UTF-8. */
  readonly invalid: readonly InvalidUtf8[];
}

/** Keeps a leading BOM (JSON.parse then refuses it, as it always did) rather than dropping bytes. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Decodes UTF-8 without losing track of invalid bytes: the text is the WHATWG decoding (so JSON.parse
 * and the field-path scan see what a lenient reader would), and `invalid` says where each replaced
 * sequence is, so the caller rejects the request naming the field instead of storing U+FFFD.
 */
export function decodeUtf8(bytes: Uint8Array): BodyText {
  if (isUtf8(bytes)) return { text: utf8.decode(bytes), invalid: [] };
  const invalid: InvalidUtf8[] = [];
  const parts: string[] = [];
  let chars = 0;
  let start = 0; // start of the valid run being read
  let i = 0;
  while (i < bytes.length && invalid.length < MAX_ERROR_DETAILS) {
    const bad = invalidSequenceAt(bytes, i);
    if (bad === 0) {
      i += sequenceLength(bytes[i] as number);
      continue;
    }
    const valid = utf8.decode(bytes.subarray(start, i));
    parts.push(valid, '\uFFFD');
    chars += valid.length;
    invalid.push({ byteOffset: i, charIndex: chars });
    chars += 1;
    i += bad;
    start = i;
  }
  parts.push(utf8.decode(bytes.subarray(start)));
  return { text: parts.join(''), invalid };
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

/**
 * 0 when a valid sequence starts at `i`; otherwise the length of the maximal invalid subpart there
 * (Unicode 15, 3.9, U+FFFD substitution of maximal subparts: what TextDecoder replaces as one).
 */
function invalidSequenceAt(bytes: Uint8Array, i: number): number {
  const lead = bytes[i] as number;
  if (lead < 0x80) return 0;
  if (lead < 0xc2 || lead > 0xf4) return 1;
  const need = sequenceLength(lead);
  // The second byte's range is narrower for some leads: no overlongs, no surrogates, nothing past U+10FFFF.
  let lower = 0x80;
  let upper = 0xbf;
  if (lead === 0xe0) lower = 0xa0;
  else if (lead === 0xed) upper = 0x9f;
  else if (lead === 0xf0) lower = 0x90;
  else if (lead === 0xf4) upper = 0x8f;
  for (let j = 1; j < need; j += 1) {
    const b = bytes[i + j];
    if (b === undefined || b < lower || b > upper) return j;
    lower = 0x80;
    upper = 0xbf;
  }
  return 0;
}

/** JSON (`application/json` or `application/*+json`) in UTF-8, the only charset JSON has (RFC 8259). */
export function checkJsonMediaType(contentType: string | undefined): void {
  const [type, ...params] = (contentType ?? '').split(';');
  const mediaType = type?.trim().toLowerCase();
  if (
    mediaType !== 'application/json' &&
    !(mediaType?.startsWith('application/') && mediaType.endsWith('+json'))
  ) {
    throw new UnsupportedMediaTypeError(contentType);
  }
  for (const param of params) {
    const [name, value = ''] = param.split('=');
    if (name?.trim().toLowerCase() !== 'charset') continue;
    const charset = value
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new UnsupportedContentEncodingError(
        'content-type',
        `JSON bodies are UTF-8; received charset ${JSON.stringify(charset)}`,
      );
    }
  }
}
