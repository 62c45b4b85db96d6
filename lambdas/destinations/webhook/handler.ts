import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import { z } from 'zod';
import { AuditLog } from '../../adapters/audit-log.js';
import type { DeliveryOptions } from '../../adapters/customer-clients.js';
import {
  type BatchConnection,
  type ConsumerHandler,
  DELIVERY_QUEUE_ENV,
  type DeliveryBatchContext,
  DeliveryRuntime,
  lazyConsumer,
} from '../../adapters/delivery-runtime.js';
import { destinationSourceFromEnv, type SourceOptions } from '../../adapters/destination-source.js';
import { DestinationStore } from '../../adapters/destination-store.js';
import { signingSecretName } from '../../adapters/owned-secrets.js';
import { type Resolver, WebhookHttp } from '../../adapters/webhook-http.js';
import { pauseDestination } from '../../control/auto-pause.js';
import { DELIVERY_ENV } from '../../core/function-env.js';
import { readEnv } from '../../core/read-env.js';
import { activeSecrets, SigningSecretsSchema } from '../../core/webhook-signing.js';
import type { Destination } from '../index.js';
import {
  deliverBatches,
  sendTestRequest,
  type WebhookDeliveryDeps,
  type WebhookSecrets,
} from './deliver-batches.js';
import { type WebhookDestinationConfig, WebhookDestinationSchema } from './schema.js';

const isWebhook = (destination: Destination): destination is WebhookDestinationConfig =>
  destination.type === 'WEBHOOK';

/** A secret that cannot sign or authenticate (missing fields, not JSON). Permanent; never quotes the value. */
export class InvalidWebhookSecretError extends Error {
  public constructor(what: string) {
    super(`${what} in Secrets Manager is not usable`);
    this.name = 'InvalidSecret';
  }
}

/** Seams for tests: the resolver the dial-time check asks (DNS rebinding tests), and the clock. */
export interface WebhookHandlerOptions {
  readonly resolve?: Resolver;
  readonly now?: () => number;
}

/** Secrets are re-read at most this often per destination: a rotation also rebuilds the connection. */
const SECRET_TTL_MS = 60_000;

/**
 * Builds the webhook sender from an environment (the destinations table: one function serves every
 * webhook destination). Per destination, a connection holds its own keep-alive agent (with the
 * dial-time address check, adapters/webhook-http.ts) and reads its signing secrets — and its API key,
 * with auth API_KEY — from Secrets Manager at the start of a batch, which keeps them to its end.
 */
export function createDeliveryHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: DeliveryOptions & SourceOptions & WebhookHandlerOptions = {},
): ConsumerHandler {
  const env = readEnv(
    {
      ...DELIVERY_QUEUE_ENV,
      [DELIVERY_ENV.destinationsTable]: z.string().min(1),
      [DELIVERY_ENV.namePrefix]: z.string().min(1),
      [DELIVERY_ENV.auditTable]: z.string().min(1).optional(),
      [DELIVERY_ENV.localRuntime]: z.enum(['0', '1']).optional(),
    },
    source,
  );
  const local = env[DELIVERY_ENV.localRuntime] === '1';
  const namePrefix = env[DELIVERY_ENV.namePrefix];
  const now = options.now ?? Date.now;
  const secretsClients = new Map<string, SecretsManagerClient>();
  const secretsIn = (region: string | undefined) => {
    const key = region ?? '';
    let client = secretsClients.get(key);
    if (!client) {
      client = new SecretsManagerClient(region ? { region } : {});
      secretsClients.set(key, client);
    }
    return client;
  };
  const readSecret = async (secretId: string, region?: string): Promise<string | undefined> => {
    const { SecretString } = await secretsIn(region).send(new GetSecretValueCommand({ SecretId: secretId }));
    return SecretString;
  };

  const connect = (destination: WebhookDestinationConfig): BatchConnection<WebhookHttp, WebhookSecrets> => {
    const http = new WebhookHttp({
      allowLoopback: local,
      allowHttp: local,
      ...(options.resolve ? { resolve: options.resolve } : {}),
    });
    const signingName = signingSecretName(namePrefix, destination.id);
    let cached: { secrets: WebhookSecrets; until: number } | undefined;
    return {
      credentialsCall: `secretsmanager:GetSecretValue on ${signingName}${destination.auth ? ` and ${destination.auth.secretArn}` : ''}`,
      afterBatch: () => undefined,
      async forBatch() {
        if (!cached || cached.until <= now()) {
          const raw = await readSecret(signingName);
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw ?? 'null');
          } catch {
            throw new InvalidWebhookSecretError(`the signing secret ${signingName}`);
          }
          const signing = SigningSecretsSchema.safeParse(parsed);
          if (!signing.success) throw new InvalidWebhookSecretError(`the signing secret ${signingName}`);
          let apiKey: string | undefined;
          if (destination.auth) {
            apiKey = await readApiKey(destination.auth.secretArn, readSecret);
          }
          cached = {
            secrets: {
              signing: activeSecrets(signing.data, new Date(now())),
              ...(apiKey === undefined ? {} : { apiKey }),
            },
            until: now() + SECRET_TTL_MS,
          };
        }
        return { client: http, credentials: cached.secrets };
      },
    };
  };

  const runtime = new DeliveryRuntime(
    destinationSourceFromEnv(WebhookDestinationSchema, isWebhook, source, options),
    'pushrail-webhook-sender',
    env,
    connect,
    options,
  );

  const auditTable = env[DELIVERY_ENV.auditTable];
  const pauseDeps = auditTable
    ? {
        store: new DestinationStore(runtime.dynamodb, env[DELIVERY_ENV.destinationsTable]),
        audit: new AuditLog(runtime.dynamodb, auditTable),
      }
    : undefined;

  const depsOf = (
    {
      destination,
      client,
      credentials,
      logger,
    }: DeliveryBatchContext<WebhookDestinationConfig, WebhookHttp, WebhookSecrets>,
    attempts: WebhookDeliveryDeps['attempts'],
  ): WebhookDeliveryDeps => ({
    destination,
    http: client,
    secrets: credentials,
    attempts,
    logger,
    onGone: async (reason) => {
      if (!pauseDeps) {
        logger.warn('a 410 would pause this destination, but the sender has no audit table', { reason });
        return;
      }
      const paused = await pauseDestination(pauseDeps, destination.id, reason);
      if (paused) logger.warn('destination paused after 410 Gone', { reason });
    },
  });

  return runtime.handler(
    (events, batch) => deliverBatches(events, depsOf(batch, runtime.attempts)),
    (record, batch) => sendTestRequest(record, depsOf(batch, batch.attempts)),
  );
}

/**
 * The API key of an API_KEY destination: the secret's string, or its `value` field when it is JSON
 * (as the management API stores a posted `value`).
 */
async function readApiKey(
  secretArn: string,
  read: (secretId: string, region?: string) => Promise<string | undefined>,
): Promise<string> {
  const raw = await read(secretArn, parseArn(secretArn).region);
  if (!raw) throw new InvalidWebhookSecretError(`the API key secret ${secretArn}`);
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && typeof (parsed as { value?: unknown }).value === 'string') {
      return (parsed as { value: string }).value;
    }
  } catch {
    // Not JSON: the secret string is the key itself.
  }
  return raw;
}

/** The Lambda entry point. */
export const handler: ConsumerHandler = lazyConsumer(() => createDeliveryHandler());
