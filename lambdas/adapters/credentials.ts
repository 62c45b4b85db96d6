import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { z } from 'zod';
import type { DestinationAuth } from '../core/config.js';

/** Credentials for one destination's customer account. */
export interface CustomerCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** What a secret of an ACCESS_KEY destination must hold. Parsed without echoing values on failure. */
const SecretSchema = z.object({
  accessKeyId: z.string().min(16),
  secretAccessKey: z.string().min(16),
  sessionToken: z.string().optional(),
});

/** Assumed-role credentials are re-used until this long before they expire. */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60 * 1000;
/** A secret is re-read this often, so a rotation reaches new batches within a minute. */
const SECRET_TTL_MS = 60 * 1000;

export class InvalidSecretError extends Error {
  public constructor(secretArn: string) {
    super(`secret ${secretArn} must be JSON with accessKeyId and secretAccessKey`);
    this.name = 'InvalidSecret';
  }
}

/**
 * Hands out customer credentials per destination, cached. A batch asks once, at its start, and keeps
 * what it got: a rotation reaches the next batch, while a batch in flight finishes on the credentials
 * it started with (invariant 9).
 */
export class CredentialProvider {
  private readonly cache = new Map<string, { credentials: CustomerCredentials; freshUntil: number }>();

  public constructor(
    private readonly sts: STSClient,
    /** A Secrets Manager client for a region: a secret is read in the region of its ARN. */
    private readonly secretsIn: (region: string) => SecretsManagerClient,
    private readonly now: () => number = Date.now,
  ) {}

  public async forDestination(destinationId: string, auth: DestinationAuth): Promise<CustomerCredentials> {
    const cacheKey = `${destinationId}\u0000${auth.mode === 'ASSUME_ROLE' ? auth.roleArn : auth.secretArn}`;
    const cached = this.cache.get(cacheKey);
    if (cached && cached.freshUntil > this.now()) return cached.credentials;
    const credentials =
      auth.mode === 'ASSUME_ROLE'
        ? await this.assumeRole(destinationId, auth)
        : await this.readSecret(auth.secretArn);
    const freshUntil =
      auth.mode === 'ASSUME_ROLE' && credentials.expiration
        ? credentials.expiration.getTime() - REFRESH_BEFORE_EXPIRY_MS
        : this.now() + SECRET_TTL_MS;
    this.cache.set(cacheKey, { credentials, freshUntil });
    return credentials;
  }

  /** Forgets a destination's credentials, e.g. after the customer side answered ExpiredToken. */
  public invalidate(destinationId: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${destinationId}\u0000`)) this.cache.delete(key);
  }

  private async assumeRole(
    destinationId: string,
    auth: Extract<DestinationAuth, { mode: 'ASSUME_ROLE' }>,
  ): Promise<CustomerCredentials> {
    const res = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: auth.roleArn,
        ExternalId: auth.externalId,
        // Names the destination in the customer's CloudTrail; 64 characters at most.
        RoleSessionName: `pushrail-${destinationId}`.slice(0, 64),
        DurationSeconds: 3600,
      }),
    );
    const c = res.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey)
      throw new Error(`AssumeRole ${auth.roleArn} returned no credentials`);
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: new Date(c.Expiration) } : {}),
    };
  }

  private async readSecret(secretArn: string): Promise<CustomerCredentials> {
    const region = secretArn.split(':')[3] ?? '';
    const res = await this.secretsIn(region).send(new GetSecretValueCommand({ SecretId: secretArn }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.SecretString ?? '');
    } catch {
      throw new InvalidSecretError(secretArn);
    }
    const result = SecretSchema.safeParse(parsed);
    if (!result.success) throw new InvalidSecretError(secretArn);
    return result.data;
  }
}

/** One Secrets Manager client per region, created on first use. */
export function secretsClientsByRegion(
  create: (region: string) => SecretsManagerClient,
): (region: string) => SecretsManagerClient {
  const clients = new Map<string, SecretsManagerClient>();
  return (region) => {
    let client = clients.get(region);
    if (!client) {
      client = create(region);
      clients.set(region, client);
    }
    return client;
  };
}
