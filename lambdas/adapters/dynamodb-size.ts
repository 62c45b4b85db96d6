import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * DynamoDB's item-size rules ("Item sizes and formats" in the DynamoDB developer guide), so that the
 * benchmark and the trace reader can count writes and reads the way AWS bills them. moto answers
 * `ReturnConsumedCapacity` with a constant (1.0 per write, 0.5 per GetItem, 1 per BatchGetItem key)
 * whatever the item size, which would hide exactly the cost they are for: items over 1 KiB.
 */

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A number is stored as 1 byte per two significant digits, plus 1 byte. */
function numberSize(n: string): number {
  const digits = n
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

export function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((n, s) => n + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((n, s) => n + numberSize(s), 0);
  if (value.BS !== undefined) return value.BS.reduce((n, b) => n + b.byteLength, 0);
  // Lists and maps: 3 bytes of overhead, and 1 byte per element.
  if (value.L !== undefined) return 3 + value.L.reduce((n, v) => n + 1 + attributeValueSize(v), 0);
  if (value.M !== undefined) {
    return 3 + Object.entries(value.M).reduce((n, [k, v]) => n + 1 + utf8(k) + attributeValueSize(v), 0);
  }
  return 0;
}

/** Item size: each attribute's name plus its value. */
export function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8(name) + attributeValueSize(value);
  return size;
}

/** Write request units: one per started KiB, at least one. */
export function writeUnits(size: number): number {
  return Math.max(1, Math.ceil(size / 1024));
}

/** Read request units: one per started 4 KiB strongly consistent, half that eventually consistent. */
export function readUnits(size: number, consistent: boolean): number {
  return Math.max(1, Math.ceil(size / 4096)) * (consistent ? 1 : 0.5);
}
