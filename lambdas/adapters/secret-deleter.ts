import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

/** Days a deleted owned secret can still be restored (Secrets Manager allows 7-30). */
export const OWNED_SECRET_RECOVERY_DAYS = 7;

/**
 * Deletes a secret Pushrail created for a destination (its `ownedSecretArn`), with a recovery window
 * rather than at once, so a delete by mistake can be undone for a week. Idempotent: a secret already
 * gone or already scheduled for deletion is done (DeleteSecret on one that is scheduled fails, hence
 * the look first).
 */
export function secretsManagerDeleter(client: SecretsManagerClient): (secretArn: string) => Promise<void> {
  return async (secretArn) => {
    try {
      const described = await client.send(new DescribeSecretCommand({ SecretId: secretArn }));
      if (described.DeletedDate) return;
      await client.send(
        new DeleteSecretCommand({ SecretId: secretArn, RecoveryWindowInDays: OWNED_SECRET_RECOVERY_DAYS }),
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return;
      throw error;
    }
  };
}
