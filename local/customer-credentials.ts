import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { parse as parseArn, validate as validateArn } from '@aws-sdk/util-arn-parser';
import type { Destination } from '../lambdas/destinations/index.js';
import { clientConfig, type EmulatorTarget, type StaticCredentials } from './aws-clients.js';

/**
 * The keys a local ACCESS_KEY secret holds. They are dummies: the emulator accepts any key and places
 * requests signed with a key it did not issue in its default account.
 */
export const LOCAL_ACCESS_KEY: StaticCredentials = {
  accessKeyId: 'pushrail-local-access-key',
  secretAccessKey: 'pushrail-local-secret-key',
};

/** How the local runtime acts as a destination's customer, and the account that puts it in. */
export interface CustomerAccess {
  readonly credentials: StaticCredentials;
  readonly accountId: string;
}

/**
 * Reaches a destination's customer account the way Pushrail does in AWS: `sts:AssumeRole` on the
 * destination's role with its ExternalId (the session is named after the destination, so the
 * emulator's and CloudTrail's records say which destination acted), or the access key an ACCESS_KEY
 * secret holds. moto issues assumed-role credentials in the account of the role ARN, so customer
 * resources land in the account the config names, as they would for a real customer.
 */
export async function customerAccess(
  destination: Destination,
  vendor: EmulatorTarget,
): Promise<CustomerAccess> {
  const credentials =
    destination.auth?.mode === 'ASSUME_ROLE'
      ? await assumeRole(destination.id, destination.auth.roleArn, destination.auth.externalId, vendor)
      : LOCAL_ACCESS_KEY;
  const sts = new STSClient(clientConfig({ ...vendor, credentials }));
  try {
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    if (!identity.Account) throw new Error(`STS returned no account for destination ${destination.id}`);
    return { credentials, accountId: identity.Account };
  } finally {
    sts.destroy();
  }
}

async function assumeRole(
  destinationId: string,
  roleArn: string,
  externalId: string,
  vendor: EmulatorTarget,
): Promise<StaticCredentials> {
  const sts = new STSClient(clientConfig(vendor));
  try {
    const { Credentials: c } = await sts.send(
      new AssumeRoleCommand({
        RoleArn: roleArn,
        ExternalId: externalId,
        RoleSessionName: `pushrail-${destinationId}`,
      }),
    );
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new Error(`AssumeRole on ${roleArn} returned no credentials (destination ${destinationId})`);
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
    };
  } finally {
    sts.destroy();
  }
}

/** The account number in an ARN (`arn:partition:service:region:account:...`). */
export function arnAccount(arn: string): string | undefined {
  return validateArn(arn) ? parseArn(arn).accountId || undefined : undefined;
}
