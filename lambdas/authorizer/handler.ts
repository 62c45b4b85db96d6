import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { pushrailLogger } from '../adapters/log-format.js';
import {
  cachedKeys,
  DEFAULT_KEYS_REFRESH_SECONDS,
  type KeySource,
  MAX_KEYS_REFRESH_SECONDS,
  usagePlanKeys,
} from '../adapters/usage-plan-keys.js';
import { AUTHORIZER_ENV } from '../core/function-env.js';
import { matchProducerKey } from '../core/producer-keys.js';
import { readEnv } from '../core/read-env.js';

/** What ingest finds in `requestContext.authorizer.lambda` (lambdas/ingest/gateway-request.ts). */
export interface AuthorizerContext {
  readonly apiKeyId: string;
}

/** A simple response (payload 2.0): API Gateway answers 403 itself when `isAuthorized` is false. */
export type AuthorizerResult =
  | { readonly isAuthorized: true; readonly context: AuthorizerContext }
  | { readonly isAuthorized: false };

export type AuthorizerHandler = (event: unknown, context: Context) => Promise<AuthorizerResult>;

/** The part of a REQUEST authorizer event (payload 2.0) this reads: v2 header names are lowercase. */
const AuthorizerEventSchema = z.object({
  headers: z.record(z.string(), z.string().optional()).optional(),
});

/**
 * The HTTP API's Lambda authorizer for `POST /v1/events`: is the `x-api-key` header an enabled key
 * of the REST API's producer usage plan? The keys come from API Gateway (adapters/usage-plan-keys.ts),
 * cached per container; the match is core/producer-keys.ts. The key's value is never logged.
 */
export function createAuthorizerHandler(
  source: NodeJS.ProcessEnv = process.env,
  keys?: KeySource,
): AuthorizerHandler {
  const env = readEnv(
    {
      [AUTHORIZER_ENV.usagePlanId]: z.string().min(1),
      [AUTHORIZER_ENV.keysRefreshSeconds]: z.coerce
        .number()
        .min(0)
        .max(MAX_KEYS_REFRESH_SECONDS)
        .default(DEFAULT_KEYS_REFRESH_SECONDS),
    },
    source,
  );
  const logger = pushrailLogger('pushrail-authorizer');
  const enabledKeys =
    keys ??
    cachedKeys(
      usagePlanKeys(
        new APIGatewayClient({
          ...(source.AWS_REGION ? { region: source.AWS_REGION } : {}),
          ...(source.AWS_ENDPOINT_URL ? { endpoint: source.AWS_ENDPOINT_URL } : {}),
        }),
        env[AUTHORIZER_ENV.usagePlanId],
      ),
      env[AUTHORIZER_ENV.keysRefreshSeconds],
    );
  return async (event) => {
    const headers = AuthorizerEventSchema.parse(event).headers ?? {};
    const apiKeyId = matchProducerKey(await enabledKeys(), headers['x-api-key']);
    if (apiKeyId === undefined) {
      logger.info('key refused', { keyPresent: Boolean(headers['x-api-key']) });
      return { isAuthorized: false };
    }
    logger.info('key accepted', { apiKeyId });
    return { isAuthorized: true, context: { apiKeyId } };
  };
}

/** The Lambda entry point. */
export const handler: AuthorizerHandler = lazyHandler(() => createAuthorizerHandler());
