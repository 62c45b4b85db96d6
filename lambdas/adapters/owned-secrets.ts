import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { type SigningSecrets, SigningSecretsSchema } from '../core/webhook-signing.js';

/** The secret of keys (or a webhook's API key) posted for a destination. */
export function ownedSecretName(namePrefix: string, destinationId: string): string {
  return `pushrail/${namePrefix}/${destinationId}`;
}

/** A webhook destination's signing secrets: under the owned prefix, so the sender's IAM covers them. */
export function signingSecretName(namePrefix: string, destinationId: string): string {
  return `${ownedSecretName(namePrefix, destinationId)}/webhook-signing`;
}

/** Raw access keys posted to the management API (never logged: keep them out of error messages too). */
export interface AccessKeyPair {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * The secrets Pushrail creates for access keys posted to the management API, one per destination
 * under `pushrail/<namePrefix>/<destinationId>` (the prefix the consumers' IAM is scoped to). The value
 * is the JSON the consumers read (adapters/credentials.ts): accessKeyId, secretAccessKey, sessionToken?.
 */
export class OwnedSecrets {
  public constructor(
    private readonly client: SecretsManagerClient,
    private readonly namePrefix: string,
  ) {}

  public nameOf(destinationId: string): string {
    return ownedSecretName(this.namePrefix, destinationId);
  }

  /** Stores a webhook's API key posted as `auth.value`, as JSON `{"value"}` (the sender reads either form). */
  public async storeApiKey(destinationId: string, value: string, existingArn?: string): Promise<string> {
    const json = JSON.stringify({ value });
    if (existingArn) return this.putValue(existingArn, json);
    return this.createOrTakeOver(
      this.nameOf(destinationId),
      json,
      `API key of Pushrail webhook destination ${destinationId} (posted to the management API)`,
    );
  }

  /**
   * Stores a webhook's signing secrets (core/webhook-signing.ts SigningSecrets) under
   * `pushrail/<namePrefix>/<destinationId>/webhook-signing`, where the webhook sender finds them by
   * name: a new secret, or a new version of the one there (a rotation, or an earlier destination's).
   */
  public async storeSigningSecrets(destinationId: string, value: SigningSecrets): Promise<string> {
    return this.createOrTakeOver(
      signingSecretName(this.namePrefix, destinationId),
      JSON.stringify(value),
      `Standard Webhooks signing secret of Pushrail destination ${destinationId}`,
    );
  }

  /** A webhook's signing secrets as stored, or undefined when there are none (yet). */
  public async readSigningSecrets(destinationId: string): Promise<SigningSecrets | undefined> {
    try {
      const { SecretString } = await this.client.send(
        new GetSecretValueCommand({ SecretId: signingSecretName(this.namePrefix, destinationId) }),
      );
      const parsed = SigningSecretsSchema.safeParse(JSON.parse(SecretString ?? 'null'));
      return parsed.success ? parsed.data : undefined;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  /**
   * Stores the keys of a destination and answers the secret's ARN: a new secret, or a new version of
   * the existing one (a rotation: consumers re-read it for their next batch, and a batch in flight
   * keeps the keys it read). A secret left by an earlier destination of the same id, even one
   * scheduled for deletion, is taken over rather than failing the create.
   */
  public async store(destinationId: string, keys: AccessKeyPair, existingArn?: string): Promise<string> {
    const value = JSON.stringify({
      accessKeyId: keys.accessKeyId,
      secretAccessKey: keys.secretAccessKey,
      ...(keys.sessionToken ? { sessionToken: keys.sessionToken } : {}),
    });
    if (existingArn) return this.putValue(existingArn, value);
    return this.createOrTakeOver(
      this.nameOf(destinationId),
      value,
      `Access keys of Pushrail destination ${destinationId} (posted to the management API)`,
    );
  }

  /**
   * A new secret of that name, or, when one exists (an earlier destination's of the same id, even one
   * scheduled for deletion: restored first), a new version of it. Answers the secret's ARN.
   */
  private async createOrTakeOver(name: string, value: string, description: string): Promise<string> {
    try {
      const created = await this.client.send(
        new CreateSecretCommand({ Name: name, SecretString: value, Description: description }),
      );
      return created.ARN as string;
    } catch (error) {
      if (!(error instanceof ResourceExistsException)) throw error;
    }
    const existing = await this.client.send(new DescribeSecretCommand({ SecretId: name }));
    if (existing.DeletedDate) await this.client.send(new RestoreSecretCommand({ SecretId: name }));
    return this.putValue(existing.ARN as string, value);
  }

  private async putValue(secretArn: string, value: string): Promise<string> {
    const put = await this.client.send(
      new PutSecretValueCommand({ SecretId: secretArn, SecretString: value }),
    );
    return put.ARN ?? secretArn;
  }
}
