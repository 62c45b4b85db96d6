import {
  type APIGatewayClient,
  GetApiKeyCommand,
  GetUsagePlanKeysCommand,
} from '@aws-sdk/client-api-gateway';
import pMap from 'p-map';
import { type ProducerKey, producerKey } from '../core/producer-keys.js';

/** Where the authorizer gets the enabled producer keys from. */
export type KeySource = () => Promise<readonly ProducerKey[]>;

/** GetApiKey calls in flight at once during a refresh (API Gateway's control plane throttles at ~10/s). */
const KEY_READS_IN_FLIGHT = 4;

/**
 * The enabled API keys of one usage plan (the REST API's producer plan): GetUsagePlanKeys for the ids,
 * then GetApiKey with its value for each, to see whether it is enabled (a usage plan key does not
 * say). A key removed from the plan or disabled drops out at the next read. Values go straight into
 * digests (core/producer-keys.ts) and are never logged or kept as text.
 */
export function usagePlanKeys(client: APIGatewayClient, usagePlanId: string): KeySource {
  return async () => {
    const ids: string[] = [];
    let position: string | undefined;
    do {
      const page = await client.send(
        new GetUsagePlanKeysCommand({ usagePlanId, limit: 500, ...(position ? { position } : {}) }),
      );
      for (const item of page.items ?? []) if (item.type === 'API_KEY' && item.id) ids.push(item.id);
      position = page.position;
    } while (position);
    const keys = await pMap(
      ids,
      async (apiKey) => {
        const key = await client.send(new GetApiKeyCommand({ apiKey, includeValue: true }));
        return key.enabled && key.value ? producerKey(apiKey, key.value) : undefined;
      },
      { concurrency: KEY_READS_IN_FLIGHT },
    );
    return keys.filter((k): k is ProducerKey => k !== undefined);
  };
}

/** The longest a disabled or removed key keeps working through the container's cache, in seconds. */
export const MAX_KEYS_REFRESH_SECONDS = 300;
export const DEFAULT_KEYS_REFRESH_SECONDS = 60;

/**
 * The keys, read at most once per `refreshSeconds` per container; concurrent requests share one read.
 *
 * A small cache of our own rather than Powertools parameters' providers: those cache SSM, Secrets
 * Manager, AppConfig and DynamoDB values, and API Gateway's keys are none of them. Unlike the route
 * cache, a failed read is not papered over with the last list: serving stale keys past the bound
 * would let a disabled key in, so the authorizer fails (API Gateway answers 500, caches nothing) and
 * the next request reads again.
 */
export function cachedKeys(
  source: KeySource,
  refreshSeconds = DEFAULT_KEYS_REFRESH_SECONDS,
  now: () => number = Date.now,
): KeySource {
  if (!(refreshSeconds >= 0 && refreshSeconds <= MAX_KEYS_REFRESH_SECONDS))
    throw new Error(`refreshSeconds must be 0-${MAX_KEYS_REFRESH_SECONDS}; received ${refreshSeconds}`);
  let cached: { keys: readonly ProducerKey[]; at: number } | undefined;
  let inFlight: Promise<readonly ProducerKey[]> | undefined;
  return () => {
    if (cached && now() - cached.at < refreshSeconds * 1000) return Promise.resolve(cached.keys);
    inFlight ??= (async () => {
      const at = now();
      try {
        const keys = await source();
        cached = { keys, at };
        return keys;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
}
