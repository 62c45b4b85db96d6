import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';
import { arnAccount, type CustomerAccess, LOCAL_ACCESS_KEY } from './customer-credentials.js';

/**
 * The parts of a destination's customer side every kind shares: the local secret of an ACCESS_KEY
 * destination, and a warning when the emulator's accounts differ from the configured ones. What is
 * particular to a kind (a bucket, a bus with its inbox) is in its folder's local-customer.ts.
 */

/**
 * Creates the Secrets Manager secret an ACCESS_KEY destination names, holding the local dummy keys.
 * It is named after the whole name part of the configured ARN, so that GetSecretValue with the
 * configured ARN finds it in moto, although the real ARN moto gives it ends in another random suffix.
 * An existing secret is left as it is.
 */
export async function ensureAccessKeySecret(secretArn: string, target: EmulatorTarget): Promise<void> {
  const { region, accountId, resource } = parseArn(secretArn);
  const name = resource.slice('secret:'.length);
  const secrets = new SecretsManagerClient(clientConfig({ ...target, region }));
  try {
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        Description: `Pushrail local runtime: dummy access key (configured in account ${accountId})`,
        SecretString: JSON.stringify(LOCAL_ACCESS_KEY),
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceExistsException')) throw error;
  } finally {
    secrets.destroy();
  }
}

/** Warns when the emulator put a customer's resources in another account than the config names. */
export function accountMismatch(
  destinationId: string,
  configuredArn: string,
  customer: CustomerAccess,
): string | undefined {
  const configured = arnAccount(configuredArn);
  return configured && configured !== customer.accountId
    ? `destination ${destinationId}: the emulator placed its customer resources in account ${customer.accountId}, not ${configured} as ${configuredArn} says`
    : undefined;
}
