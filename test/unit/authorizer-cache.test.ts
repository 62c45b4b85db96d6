import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { AuthorizerResult } from '../../lambdas/authorizer/handler.js';
import { AUTHORIZER_CACHE_TTL_MS, cachedAuthorizer } from '../../local/authorizer-cache.js';

/** API Gateway's cache of the authorizer's answers, as the local HTTP API emulation and the bench keep it. */

const event = {} as APIGatewayRequestAuthorizerEventV2;
const allow: AuthorizerResult = { isAuthorized: true, context: { apiKeyId: 'id-a' } };
const deny: AuthorizerResult = { isAuthorized: false };

describe('cachedAuthorizer', () => {
  it('invokes once per key per TTL, caching denials too', async () => {
    let now = 0;
    const calls: string[] = [];
    const authorize = cachedAuthorizer(
      async () => {
        calls.push(String(now));
        return calls.length % 2 === 1 ? allow : deny;
      },
      AUTHORIZER_CACHE_TTL_MS,
      () => now,
    );
    expect(await authorize('key-a-value', event)).toBe(allow);
    expect(await authorize('key-b-value', event)).toBe(deny);
    now = AUTHORIZER_CACHE_TTL_MS - 1;
    expect(await authorize('key-a-value', event)).toBe(allow);
    expect(await authorize('key-b-value', event)).toBe(deny);
    expect(calls).toHaveLength(2);
    now = AUTHORIZER_CACHE_TTL_MS;
    await authorize('key-a-value', event);
    expect(calls).toHaveLength(3);
  });

  it('caches nothing when the authorizer throws', async () => {
    let fail = true;
    const authorize = cachedAuthorizer(async () => {
      if (fail) throw new Error('timeout');
      return allow;
    });
    await expect(authorize('key-a-value', event)).rejects.toThrow('timeout');
    fail = false;
    expect(await authorize('key-a-value', event)).toBe(allow);
  });
});
