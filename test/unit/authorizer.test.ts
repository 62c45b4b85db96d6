import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { cachedKeys } from '../../lambdas/adapters/usage-plan-keys.js';
import { createAuthorizerHandler } from '../../lambdas/authorizer/handler.js';
import { AUTHORIZER_ENV } from '../../lambdas/core/function-env.js';
import { matchProducerKey, type ProducerKey, producerKey } from '../../lambdas/core/producer-keys.js';

const KEYS: readonly ProducerKey[] = [producerKey('id-a', 'key-a-value'), producerKey('id-b', 'key-b-value')];
const ENV = { [AUTHORIZER_ENV.usagePlanId]: 'plan-1' };
const context = {} as Context;

/** An authorizer event (payload 2.0) with these headers. */
const request = (headers: Record<string, string>) => ({
  version: '2.0',
  type: 'REQUEST',
  routeArn: 'arn:aws:execute-api:us-east-1:123456789012:api/$default/POST/v1/events',
  identitySource: Object.values(headers),
  routeKey: 'POST /v1/events',
  rawPath: '/v1/events',
  rawQueryString: '',
  headers,
  requestContext: {},
});

describe('matchProducerKey', () => {
  it("answers the matching key's id, and nothing for a wrong, empty or missing key", () => {
    expect(matchProducerKey(KEYS, 'key-b-value')).toBe('id-b');
    expect(matchProducerKey(KEYS, 'key-a-value')).toBe('id-a');
    expect(matchProducerKey(KEYS, 'key-b-valuf')).toBeUndefined();
    expect(matchProducerKey(KEYS, 'key-b-value ')).toBeUndefined();
    expect(matchProducerKey(KEYS, '')).toBeUndefined();
    expect(matchProducerKey(KEYS, undefined)).toBeUndefined();
    expect(matchProducerKey([], 'key-a-value')).toBeUndefined();
  });

  it('holds digests, not the values', () => {
    for (const key of KEYS) {
      expect(key.digest).toHaveLength(32);
      expect(key.digest.toString('utf8')).not.toContain('key-');
    }
  });
});

describe('the authorizer handler', () => {
  const authorizer = createAuthorizerHandler(ENV, () => Promise.resolve(KEYS));

  it('authorizes the right key, passing its id on in the context', async () => {
    expect(await authorizer(request({ 'x-api-key': 'key-a-value' }), context)).toEqual({
      isAuthorized: true,
      context: { apiKeyId: 'id-a' },
    });
  });

  it('refuses a wrong key and a request without the header', async () => {
    expect(await authorizer(request({ 'x-api-key': 'guess' }), context)).toEqual({ isAuthorized: false });
    expect(await authorizer(request({ 'content-type': 'application/json' }), context)).toEqual({
      isAuthorized: false,
    });
  });

  it('refuses a key the source does not list (disabled, or not in the producer plan)', async () => {
    const withoutB = createAuthorizerHandler(ENV, () => Promise.resolve(KEYS.slice(0, 1)));
    expect(await withoutB(request({ 'x-api-key': 'key-b-value' }), context)).toEqual({ isAuthorized: false });
  });

  it('fails (API Gateway answers 500, caching nothing) when the keys cannot be read', async () => {
    const broken = createAuthorizerHandler(ENV, () => Promise.reject(new Error('AccessDenied')));
    await expect(broken(request({ 'x-api-key': 'key-a-value' }), context)).rejects.toThrow('AccessDenied');
  });

  it('logs the key id and never the key value', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await authorizer(request({ 'x-api-key': 'key-a-value' }), context);
      await authorizer(request({ 'x-api-key': 'a-guessed-value' }), context);
    } finally {
      spy.mockRestore();
    }
    const output = written.join('');
    expect(output).toContain('id-a');
    expect(output).not.toContain('key-a-value');
    expect(output).not.toContain('a-guessed-value');
  });

  it('refuses to start without the usage plan id', () => {
    expect(() => createAuthorizerHandler({})).toThrow(AUTHORIZER_ENV.usagePlanId);
  });
});

describe('cachedKeys', () => {
  it('reads once per refresh period, shares a read in flight, and drops a key disabled meanwhile', async () => {
    let now = 0;
    let reads = 0;
    let listed: readonly ProducerKey[] = KEYS;
    const keys = cachedKeys(
      async () => {
        reads += 1;
        return listed;
      },
      60,
      () => now,
    );
    const [first, second] = await Promise.all([keys(), keys()]);
    expect(first).toBe(KEYS);
    expect(second).toBe(KEYS);
    expect(reads).toBe(1);

    listed = KEYS.slice(0, 1); // key b disabled
    now = 59_999;
    expect(matchProducerKey(await keys(), 'key-b-value')).toBe('id-b');
    expect(reads).toBe(1);
    now = 60_000;
    expect(matchProducerKey(await keys(), 'key-b-value')).toBeUndefined();
    expect(reads).toBe(2);
  });

  it('does not keep a failed read: the next request reads again', async () => {
    let fail = true;
    const keys = cachedKeys(async () => {
      if (fail) throw new Error('throttled');
      return KEYS;
    }, 60);
    await expect(keys()).rejects.toThrow('throttled');
    fail = false;
    expect(await keys()).toBe(KEYS);
  });

  it('refuses a refresh period over 5 minutes', () => {
    expect(() => cachedKeys(() => Promise.resolve(KEYS), 301)).toThrow('0-300');
  });
});
