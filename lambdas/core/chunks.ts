/**
 * Splits items, in order, into chunks of at most `maxCount` items and `maxBytes` bytes (by `size`).
 * An item larger than `maxBytes` alone still gets a chunk of its own: callers reject those first.
 */
export function chunkBy<T>(
  items: readonly T[],
  limits: { readonly maxCount: number; readonly maxBytes: number },
  size: (item: T) => number,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const s = size(item);
    if (current.length > 0 && (current.length >= limits.maxCount || bytes + s > limits.maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += s;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
