import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, type CreateBucketCommandInput, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { EventBridgeDestination, S3Destination } from '../lambdas/core/config.js';
import { awsErrorName, clientConfig, type EmulatorTarget, s3ClientConfig } from './aws-clients.js';
import { arnAccount, type CustomerAccess, LOCAL_ACCESS_KEY } from './customer-credentials.js';
import { ensureQueue, queueArn } from './queues.js';

/**
 * The customer's side of a destination, created the way the customer would own it: with the
 * customer's credentials, in the customer's account. Pushrail never creates these in AWS; locally
 * they must exist so that deliveries have somewhere to land and can be read back.
 */

/** Name of the catch-all rule on each customer bus (fixed, so re-provisioning updates it in place). */
export const INBOX_RULE_NAME = 'pushrail-local-inbox';

/** Matches every event on the bus, whatever its source, so a wrong `Source` shows up in the inbox too. */
export const CATCH_ALL_PATTERN = { source: [{ prefix: '' }] } as const;

export async function ensureBucket(
  destination: S3Destination,
  customer: CustomerAccess,
  target: EmulatorTarget,
): Promise<void> {
  const s3 = new S3Client(
    s3ClientConfig({ ...target, region: destination.region, credentials: customer.credentials }),
  );
  const input: CreateBucketCommandInput = { Bucket: destination.bucket };
  // us-east-1 is the one region that rejects an explicit LocationConstraint.
  if (destination.region !== 'us-east-1') {
    input.CreateBucketConfiguration = {
      LocationConstraint: destination.region as NonNullable<
        CreateBucketCommandInput['CreateBucketConfiguration']
      >['LocationConstraint'],
    };
  }
  try {
    await s3.send(new CreateBucketCommand(input));
  } catch (error) {
    if (awsErrorName(error) !== 'BucketAlreadyOwnedByYou') {
      throw new Error(
        `destination ${destination.id}: cannot create bucket ${destination.bucket} in account ${customer.accountId}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } finally {
    s3.destroy();
  }
}

/** The bus name of an event bus ARN (`...:event-bus/<name>`). */
export function busName(busArn: string): string {
  return busArn.slice(busArn.indexOf(':event-bus/') + ':event-bus/'.length);
}

/** The inbox queue's name: `<busName>-inbox`, with characters SQS does not allow replaced. */
export function inboxQueueName(bus: string): string {
  return `${bus.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80 - '-inbox'.length)}-inbox`;
}

/** Creates the bus (unless it is the account's `default` bus) and its inbox; answers the inbox URL. */
export async function ensureBusWithInbox(
  destination: EventBridgeDestination,
  customer: CustomerAccess,
  target: EmulatorTarget,
): Promise<string> {
  const name = busName(destination.busArn);
  const at: EmulatorTarget = { ...target, region: destination.region, credentials: customer.credentials };
  const events = new EventBridgeClient(clientConfig(at));
  const sqs = new SQSClient(clientConfig(at));
  try {
    if (name !== 'default') {
      try {
        await events.send(new CreateEventBusCommand({ Name: name }));
      } catch (error) {
        if (awsErrorName(error) !== 'ResourceAlreadyExistsException') throw error;
      }
    }
    const inboxUrl = await ensureQueue(sqs, inboxQueueName(name), {});
    const inboxArn = await queueArn(sqs, inboxUrl);
    // PutRule, SetQueueAttributes and PutTargets are upserts: a restart re-applies them without error.
    const { RuleArn } = await events.send(
      new PutRuleCommand({
        Name: INBOX_RULE_NAME,
        EventBusName: name,
        EventPattern: JSON.stringify(CATCH_ALL_PATTERN),
        Description: 'Pushrail local runtime: copies every entry on this bus to the inbox queue',
      }),
    );
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: inboxUrl,
        Attributes: {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'EventBridgeInbox',
                Effect: 'Allow',
                Principal: { Service: 'events.amazonaws.com' },
                Action: 'sqs:SendMessage',
                Resource: inboxArn,
                Condition: { ArnEquals: { 'aws:SourceArn': RuleArn } },
              },
            ],
          }),
        },
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: INBOX_RULE_NAME,
        EventBusName: name,
        Targets: [{ Id: 'inbox', Arn: inboxArn }],
      }),
    );
    return inboxUrl;
  } catch (error) {
    throw new Error(
      `destination ${destination.id}: cannot set up bus ${name} with its inbox in account ${customer.accountId}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    events.destroy();
    sqs.destroy();
  }
}

/**
 * Creates the Secrets Manager secret an ACCESS_KEY destination names, holding the local dummy keys.
 * It is named after the whole name part of the configured ARN, so that GetSecretValue with the
 * configured ARN finds it in moto, although the real ARN moto gives it ends in another random suffix.
 * An existing secret is left as it is.
 */
export async function ensureAccessKeySecret(secretArn: string, target: EmulatorTarget): Promise<void> {
  const [, , , region, account] = secretArn.split(':');
  const name = secretArn.slice(secretArn.indexOf(':secret:') + ':secret:'.length);
  const secrets = new SecretsManagerClient(clientConfig({ ...target, region: region ?? target.region }));
  try {
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        Description: `Pushrail local runtime: dummy access key (configured in account ${account ?? '?'})`,
        SecretString: JSON.stringify(LOCAL_ACCESS_KEY),
      }),
    );
  } catch (error) {
    if (awsErrorName(error) !== 'ResourceExistsException') throw error;
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
