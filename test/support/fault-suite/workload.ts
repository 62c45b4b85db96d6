import type { CanonicalEvent } from '../../../lambdas/core/event.js';
import { seedEvent } from '../seed-event.js';

/** mulberry32: a small seeded PRNG, so a failing run can be repeated with FAULT_SUITE_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)] as T;

export const EVENT_TYPES = ['order.completed', 'invoice.sent', 'user.signed_up'] as const;

/**
 * The producers' events: `count` events alternating between the customers, over three event types and
 * three UTC hours across midnight (written with offsets the S3 partitioning must undo), with a few
 * larger payloads.
 */
export function makeEvents(
  count: number,
  customers: readonly string[],
  run: string,
  random: () => number,
): CanonicalEvent[] {
  const base = Date.UTC(2026, 4, 26, 23);
  const offsets = [0, -300, 330, 60];
  return Array.from({ length: count }, (_, n) => {
    const utc = base + Math.floor(random() * 3 * 3_600_000);
    const offset = pick(random, offsets);
    const local = new Date(utc + offset * 60_000).toISOString().slice(0, 23);
    const abs = Math.abs(offset);
    const suffix =
      offset === 0
        ? 'Z'
        : `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    const large = random() < 0.05;
    return {
      ...seedEvent,
      eventType: pick(random, EVENT_TYPES),
      occurredAt: `${local}${suffix}`,
      customerExternalId: customers[n % customers.length] as string,
      idempotencyKey: `fs-${run}-${n}`,
      correlationId: `corr-${n}`,
      payload: { n, amount: Math.floor(random() * 100_000), ...(large ? { note: 'x'.repeat(3000) } : {}) },
    };
  });
}

/** One POST: a single event (`{...event}`) or a batch (`{"events": [...]}`). */
export interface PostRequest {
  readonly single: boolean;
  readonly events: readonly CanonicalEvent[];
  /** A producer retry of an earlier request (same body): every result must be `duplicate: true`. */
  readonly retry?: true;
}

/**
 * How the producers post: mostly batches of varied size up to 500, some single events, and about one
 * request in twelve sent again later with the same body (a producer that timed out and retried).
 * The first request is a batch of at most 20 events and the second a single event, so that small
 * runs have both too.
 */
export function planPosts(events: readonly CanonicalEvent[], random: () => number): PostRequest[] {
  const posts: PostRequest[] = [];
  let i = 0;
  while (i < events.length) {
    const r = random();
    const size =
      posts.length === 0
        ? 2 + Math.floor(random() * 19)
        : posts.length === 1 || r < 0.15
          ? 1
          : r < 0.35
            ? 1 + Math.floor(random() * 20)
            : r < 0.7
              ? 100
              : 500;
    const slice = events.slice(i, i + size);
    posts.push({ single: size === 1 && (posts.length === 1 || random() < 0.8), events: slice });
    i += slice.length;
  }
  // About one request in twelve is retried, and always the first single-event post and the first
  // batch; a retry arrives a few requests after its original (or right after it).
  const firstSingle = posts.findIndex((p) => p.single);
  const firstBatch = posts.findIndex((p) => !p.single);
  const later = new Map<number, PostRequest[]>();
  posts.forEach((post, n) => {
    if (n === firstSingle || n === firstBatch || random() < 1 / 12) {
      const after = n + Math.floor(random() * 3);
      later.set(after, [...(later.get(after) ?? []), { ...post, retry: true as const }]);
    }
  });
  return posts
    .flatMap((post, n) => [post, ...(later.get(n) ?? [])])
    .concat([...later.entries()].filter(([after]) => after >= posts.length).flatMap(([, r]) => r));
}
