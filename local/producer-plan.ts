import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateRestApiCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetRestApisCommand,
  GetUsagePlanKeysCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';

/**
 * The REST API's producer usage plan and key, on the emulator: what `cdk deploy` creates (lib/ingest-api.ts
 * `ProducerUsagePlan`, `ProducerKey`), so the HTTP API emulation runs the real authorizer against the
 * real key source (adapters/usage-plan-keys.ts). Idempotent: a restart finds what is there by name.
 */
export interface ProducerPlan {
  readonly restApiId: string;
  readonly usagePlanId: string;
  readonly apiKeyId: string;
}

/** API Gateway refuses API key values shorter than this (CreateApiKey). */
export const MIN_API_KEY_LENGTH = 20;

export async function ensureProducerPlan(
  target: EmulatorTarget,
  namePrefix: string,
  apiKey: string,
): Promise<ProducerPlan> {
  if (apiKey.length < MIN_API_KEY_LENGTH)
    throw new Error(
      `an API Gateway API key has at least ${MIN_API_KEY_LENGTH} characters (PUSHRAIL_API_KEY)`,
    );
  const client = new APIGatewayClient(clientConfig(target));
  try {
    const name = `${namePrefix}-ingest`;
    const apis = await client.send(new GetRestApisCommand({ limit: 500 }));
    const restApiId =
      apis.items?.find((a) => a.name === name)?.id ??
      (await client.send(new CreateRestApiCommand({ name }))).id;
    const plans = await client.send(new GetUsagePlansCommand({ limit: 500 }));
    const usagePlanId =
      plans.items?.find((p) => p.name === `${name}-producers`)?.id ??
      (await client.send(new CreateUsagePlanCommand({ name: `${name}-producers` }))).id;
    // The key's value is the local runtime's key (local.json). A changed PUSHRAIL_API_KEY gets a new key
    // beside the old one, which stays in the plan: on a laptop's emulator both then work.
    const keyName = `${name}-producer`;
    const keys = await client.send(
      new GetApiKeysCommand({ nameQuery: keyName, includeValues: true, limit: 500 }),
    );
    let apiKeyId = keys.items?.find((k) => k.name === keyName && k.value === apiKey)?.id;
    apiKeyId ??= (await client.send(new CreateApiKeyCommand({ name: keyName, value: apiKey, enabled: true })))
      .id;
    if (!restApiId || !usagePlanId || !apiKeyId) throw new Error('the emulator did not answer the ids');
    const planKeys = await client.send(new GetUsagePlanKeysCommand({ usagePlanId, limit: 500 }));
    if (!planKeys.items?.some((k) => k.id === apiKeyId))
      await client.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId: apiKeyId, keyType: 'API_KEY' }));
    return { restApiId, usagePlanId, apiKeyId };
  } finally {
    client.destroy();
  }
}
