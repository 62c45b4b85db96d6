import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateRestApiCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  DeleteUsagePlanKeyCommand,
  UpdateApiKeyCommand,
} from '@aws-sdk/client-api-gateway';
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type AuthorizerHandler, createAuthorizerHandler } from '../../lambdas/authorizer/handler.js';
import { AUTHORIZER_ENV } from '../../lambdas/core/function-env.js';

/**
 * The authorizer's key source against moto's API Gateway: a REST API with the producer usage plan, as
 * `cdk deploy` creates it, an enabled key in the plan, a disabled one, and one in no plan.
 */

const client = () => new APIGatewayClient({ endpoint: inject('awsEndpoint') });
const context = {} as Context;
const authorize = (handler: AuthorizerHandler, key: string) =>
  handler({ version: '2.0', type: 'REQUEST', headers: { 'x-api-key': key } }, context);

let usagePlanId: string;
const ids: Record<string, string> = {};

async function createKey(name: string, value: string, enabled: boolean, inPlan: boolean): Promise<void> {
  const key = await client().send(new CreateApiKeyCommand({ name, value, enabled }));
  ids[name] = key.id as string;
  if (inPlan)
    await client().send(
      new CreateUsagePlanKeyCommand({ usagePlanId, keyId: key.id as string, keyType: 'API_KEY' }),
    );
}

beforeAll(async () => {
  const api = await client().send(new CreateRestApiCommand({ name: 'pushrail-ingest' }));
  const plan = await client().send(
    new CreateUsagePlanCommand({ name: 'producers', throttle: { rateLimit: 100, burstLimit: 200 } }),
  );
  expect(api.id).toBeTruthy();
  usagePlanId = plan.id as string;
  await createKey('billing', 'billing-key-value-0123456789', true, true);
  await createKey('search', 'search-key-value-0123456789', true, true);
  await createKey('retired', 'retired-key-value-0123456789', false, true);
  await createKey('elsewhere', 'elsewhere-key-value-0123456789', true, false);
});

const authorizer = (refreshSeconds: number) =>
  createAuthorizerHandler({
    [AUTHORIZER_ENV.usagePlanId]: usagePlanId,
    [AUTHORIZER_ENV.keysRefreshSeconds]: String(refreshSeconds),
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: inject('awsEndpoint'),
  });

describe("the authorizer against moto's API Gateway", () => {
  it('accepts the enabled keys of the producer plan, each with its id', async () => {
    const handler = authorizer(60);
    expect(await authorize(handler, 'billing-key-value-0123456789')).toEqual({
      isAuthorized: true,
      context: { apiKeyId: ids.billing },
    });
    expect(await authorize(handler, 'search-key-value-0123456789')).toEqual({
      isAuthorized: true,
      context: { apiKeyId: ids.search },
    });
  });

  it('refuses a wrong key, a disabled key of the plan, and an enabled key of no plan', async () => {
    const handler = authorizer(60);
    for (const key of [
      'billing-key-value-012345678',
      'retired-key-value-0123456789',
      'elsewhere-key-value-0123456789',
    ])
      expect(await authorize(handler, key), key).toEqual({ isAuthorized: false });
  });

  it('stops accepting a key disabled or removed from the plan at the next refresh, not before', async () => {
    const handler = authorizer(60);
    const fresh = authorizer(0);
    expect((await authorize(handler, 'search-key-value-0123456789')).isAuthorized).toBe(true);
    await client().send(
      new UpdateApiKeyCommand({
        apiKey: ids.search,
        patchOperations: [{ op: 'replace', path: '/enabled', value: 'false' }],
      }),
    );
    await client().send(new DeleteUsagePlanKeyCommand({ usagePlanId, keyId: ids.billing }));
    // Within its refresh period the container still holds the list it read.
    expect((await authorize(handler, 'search-key-value-0123456789')).isAuthorized).toBe(true);
    // A container whose period is over reads again: both are gone.
    expect(await authorize(fresh, 'search-key-value-0123456789')).toEqual({ isAuthorized: false });
    expect(await authorize(fresh, 'billing-key-value-0123456789')).toEqual({ isAuthorized: false });
  });
});
