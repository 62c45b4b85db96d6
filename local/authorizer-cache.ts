import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import type { AuthorizerResult } from '../lambdas/authorizer/handler.js';
import { keyDigest } from '../lambdas/core/producer-keys.js';

/** lib/http-ingest-api.ts AUTHORIZER_CACHE_TTL, in milliseconds (lib/ is not imported at run time). */
export const AUTHORIZER_CACHE_TTL_MS = 300_000;

/**
 * API Gateway's cache of a Lambda authorizer's answers, keyed by the identity source (the x-api-key
 * value), for the local HTTP API emulation and the bench: `invoke` runs only on a miss or after the
 * TTL, denials are cached too, and a thrown authorizer caches nothing (API Gateway answers 500).
 * Entries are keyed by the key's digest, so the map holds no key values.
 */
export function cachedAuthorizer(
  invoke: (event: APIGatewayRequestAuthorizerEventV2) => Promise<AuthorizerResult>,
  ttlMs = AUTHORIZER_CACHE_TTL_MS,
  now: () => number = Date.now,
): (apiKey: string, event: APIGatewayRequestAuthorizerEventV2) => Promise<AuthorizerResult> {
  const cache = new Map<string, { result: AuthorizerResult; expiresAt: number }>();
  return async (apiKey, event) => {
    const id = keyDigest(apiKey).toString('hex');
    const hit = cache.get(id);
    if (hit && hit.expiresAt > now()) return hit.result;
    cache.delete(id);
    const result = await invoke(event);
    cache.set(id, { result, expiresAt: now() + ttlMs });
    return result;
  };
}
