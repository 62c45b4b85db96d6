import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import { clientConfig, type EmulatorTarget } from '../../../local/aws-clients.js';
import type { CustomerAccess } from '../../../local/customer-credentials.js';
import { accountMismatch } from '../../../local/customer-resources.js';
import type { CustomerSideContext } from '../../../local/customer-side.js';
import { ensureQueue, queueArn } from '../../../local/queues.js';
import type { EventBridgeDestinationConfig } from './schema.js';

/**
 * The customer's side of an EventBridge destination on the local runtime: the bus, in the customer's
 * account, with a catch-all rule into an "inbox" queue so delivered entries can be read back.
 */
export async function provisionCustomerSide(
  destination: EventBridgeDestinationConfig,
  { customer, target, warn }: CustomerSideContext,
): Promise<{ busArn: string; inboxQueueUrl: string }> {
  const mismatch = accountMismatch(destination.id, destination.busArn, customer);
  if (mismatch) warn(mismatch);
  const inboxQueueUrl = await ensureBusWithInbox(destination, customer, target);
  return { busArn: destination.busArn, inboxQueueUrl };
}

/** Name of the catch-all rule on each customer bus (fixed, so re-provisioning updates it in place). */
export const INBOX_RULE_NAME = 'pushrail-local-inbox';

/** Matches every event on the bus, whatever its source, so a wrong `Source` shows up in the inbox too. */
export const CATCH_ALL_PATTERN = { source: [{ prefix: '' }] } as const;

/** The bus name of an event bus ARN (`...:event-bus/<name>`). */
export function busName(busArn: string): string {
  return parseArn(busArn).resource.slice('event-bus/'.length);
}

/** The inbox queue's name: `<busName>-inbox`, with characters SQS does not allow replaced. */
export function inboxQueueName(bus: string): string {
  return `${bus.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80 - '-inbox'.length)}-inbox`;
}

/** Creates the bus (unless it is the account's `default` bus) and its inbox; answers the inbox URL. */
export async function ensureBusWithInbox(
  destination: EventBridgeDestinationConfig,
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
        if (!(error instanceof Error && error.name === 'ResourceAlreadyExistsException')) throw error;
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
