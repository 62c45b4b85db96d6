import { isUtf8 } from 'node:buffer';
import { PayloadTooLargeError, ValidationError } from '../core/errors.js';
import { KiB } from '../core/limits.js';
import {
  checkJsonMediaType,
  contentCodingOf,
  decompress,
  fromBase64,
  looksCompressed,
} from '../core/request-body.js';

/** A management body is one destination: a few KB. Anything near this is not one. */
export const MAX_MANAGEMENT_BODY_BYTES = 64 * KiB;
/** A destination nests three levels (`auth` in the destination); deeper input is hostile or a bug. */
const MAX_DEPTH = 32;

export interface JsonBodyRequest {
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
  readonly body: string | null;
  readonly isBase64Encoded: boolean;
}

/**
 * The JSON value of a management request body: 415 unless it is declared JSON in UTF-8, 413 over
 * MAX_MANAGEMENT_BODY_BYTES, 400 when it is not JSON. Never quotes the body (it may hold raw keys).
 */
export function readJsonBody(request: JsonBodyRequest): unknown {
  checkJsonMediaType(request.contentType);
  const coding = contentCodingOf(request.contentEncoding);
  let bytes: Buffer = request.isBase64Encoded
    ? fromBase64(request.body ?? '')
    : Buffer.from(request.body ?? '', 'utf8');
  if (bytes.length > MAX_MANAGEMENT_BODY_BYTES) throw tooLarge();
  // API Gateway may already have decoded it; decompress only what still looks compressed.
  if (coding && looksCompressed(bytes, coding)) bytes = decompress(bytes, coding, MAX_MANAGEMENT_BODY_BYTES);
  if (!isUtf8(bytes)) {
    throw new ValidationError('the body is not valid UTF-8', [
      { field: '(body)', message: 'not valid UTF-8' },
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    // The parser's message quotes the text around the error: it could be a key, so it is not passed on.
    throw new ValidationError(
      'the body is not valid JSON',
      [{ field: '(body)', message: 'not valid JSON' }],
      {
        cause,
      },
    );
  }
  if (depthOf(value) > MAX_DEPTH) {
    throw new ValidationError(`the body nests deeper than ${MAX_DEPTH} levels`, [
      { field: '(body)', message: `nests deeper than ${MAX_DEPTH} levels` },
    ]);
  }
  return value;
}

function tooLarge(): PayloadTooLargeError {
  return new PayloadTooLargeError(`the body is over ${MAX_MANAGEMENT_BODY_BYTES} bytes`, [
    { field: '(body)', message: `at most ${MAX_MANAGEMENT_BODY_BYTES} bytes` },
  ]);
}

/** Iterative, so the check itself cannot overflow the stack it protects. */
function depthOf(root: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (value === null || typeof value !== 'object') continue;
    max = Math.max(max, depth);
    if (max > MAX_DEPTH) return max;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return max;
}
