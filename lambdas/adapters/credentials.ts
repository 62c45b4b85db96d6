import { GetParameterError } from '@aws-lambda-powertools/parameters';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import { z } from 'zod';
import type { DestinationAuth } from '../core/config-fields.js';

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
const SECRET_TTL_SECONDS = 60;

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
 *
 * Secrets are cached by Powertools' SecretsProvider (one per region, `maxAge` 60 s, `forceFetch` after
 * `invalidate`), on the system clock. Assumed-role credentials are cached here, not by
 * `fromTemporaryCredentials` of `@aws-sdk/credential-providers`, because that provider caches
 * nothing: each call is an AssumeRole, and the re-use until 5 minutes before expiry comes from the SDK
 * client it is handed to, which refreshes whenever a request finds them near expiry — in the middle of
 * a batch too, so the batch would not finish on the credentials it started with, nor know which key it
 * signs with (the bus check is cached by key). That client-side cache cannot be dropped after
 * ExpiredToken either, short of a new client. Called by hand once per batch instead, it would be one
 * AssumeRole on an STS client of its own (`@aws-sdk/nested-clients`), with this cache still needed.
 */
export class CredentialProvider {
  private readonly roles = new Map<string, { credentials: CustomerCredentials; freshUntil: number }>();
  private readonly secretsByRegion = new Map<string, SecretsProvider>();
  /** Each secret's last value and its parse: an unchanged secret keeps its credentials object (and client). */
  private readonly parsedSecrets = new Map<string, { raw: string; credentials: CustomerCredentials }>();
  /** Destinations whose next ask must not be answered from a cache. */
  private readonly invalidated = new Set<string>();

  public constructor(
    private readonly sts: STSClient,
    /** A Secrets Manager client for a region: a secret is read in the region of its ARN. */
    private readonly secretsIn: (region: string) => SecretsManagerClient,
    /** The clock of the assumed-role cache (epoch milliseconds). */
    private readonly now: () => number = Date.now,
  ) {}

  public async forDestination(destinationId: string, auth: DestinationAuth): Promise<CustomerCredentials> {
    const forceFetch = this.invalidated.delete(destinationId);
    if (auth.mode === 'ASSUME_ROLE') return this.assumedRole(destinationId, auth, forceFetch);
    try {
      return await this.readSecret(auth.secretArn, forceFetch);
    } catch (error) {
      // The secret's value is cached even when it is not a key pair: re-read it until it is one.
      if (error instanceof InvalidSecretError) this.invalidate(destinationId);
      throw error;
    }
  }

  /** Forgets a destination's credentials, e.g. after the customer side answered ExpiredToken. */
  public invalidate(destinationId: string): void {
    this.invalidated.add(destinationId);
  }

  private async assumedRole(
    destinationId: string,
    auth: Extract<DestinationAuth, { mode: 'ASSUME_ROLE' }>,
    forceFetch: boolean,
  ): Promise<CustomerCredentials> {
    const cacheKey = `${destinationId}\u0000${auth.roleArn}`;
    const cached = this.roles.get(cacheKey);
    if (!forceFetch && cached && cached.freshUntil > this.now()) return cached.credentials;
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
    const credentials: CustomerCredentials = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: new Date(c.Expiration) } : {}),
    };
    const freshUntil = credentials.expiration
      ? credentials.expiration.getTime() - REFRESH_BEFORE_EXPIRY_MS
      : this.now() + SECRET_TTL_SECONDS * 1000;
    this.roles.set(cacheKey, { credentials, freshUntil });
    return credentials;
  }

  private async readSecret(secretArn: string, forceFetch: boolean): Promise<CustomerCredentials> {
    let raw: string | Uint8Array | undefined;
    try {
      raw = await this.secretsFor(parseArn(secretArn).region).get(secretArn, {
        maxAge: SECRET_TTL_SECONDS,
        forceFetch,
      });
    } catch (error) {
      // Powertools wraps Secrets Manager's answer; the failure classification needs that answer itself.
      throw error instanceof GetParameterError && error.cause !== undefined ? error.cause : error;
    }
    if (typeof raw !== 'string') throw new InvalidSecretError(secretArn);
    const last = this.parsedSecrets.get(secretArn);
    if (last?.raw === raw) return last.credentials;
    // Parsed here rather than by Powertools' JSON transform, whose error would quote the bad value.
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new InvalidSecretError(secretArn);
    }
    const result = SecretSchema.safeParse(parsed);
    if (!result.success) throw new InvalidSecretError(secretArn);
    this.parsedSecrets.set(secretArn, { raw, credentials: result.data });
    return result.data;
  }

  private secretsFor(region: string): SecretsProvider {
    let provider = this.secretsByRegion.get(region);
    if (!provider) {
      provider = new SecretsProvider({ awsSdkV3Client: this.secretsIn(region) });
      this.secretsByRegion.set(region, provider);
    }
    return provider;
  }
}
