import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { HEALTH_EVENT_SOURCE } from '../lambdas/adapters/health-announcer.js';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';
import { ensureQueue, queueArn } from './queues.js';

/**
 * The vendor's side of health notifications on the local runtime: a rule on the vendor account's
 * default bus that copies Pushrail's events (source `pushrail`, e.g. `Destination Health Changed`)
 * into a "notifications inbox" queue, which `local.json` names as `notificationsQueueUrl`. In AWS the
 * vendor writes the same kind of rule with a pager as its target (README "Operating Pushrail").
 */

export const NOTIFICATIONS_RULE_NAME = 'pushrail-local-notifications';

export function notificationsQueueName(namePrefix: string): string {
  return `${namePrefix}-notifications`;
}

/** Creates (or re-applies: every call is an upsert) the inbox queue and the rule; answers the queue URL. */
export async function ensureNotificationsInbox(namePrefix: string, target: EmulatorTarget): Promise<string> {
  const events = new EventBridgeClient(clientConfig(target));
  const sqs = new SQSClient(clientConfig(target));
  try {
    const queueUrl = await ensureQueue(sqs, notificationsQueueName(namePrefix), {});
    const arn = await queueArn(sqs, queueUrl);
    const { RuleArn } = await events.send(
      new PutRuleCommand({
        Name: NOTIFICATIONS_RULE_NAME,
        EventBusName: 'default',
        EventPattern: JSON.stringify({ source: [HEALTH_EVENT_SOURCE] }),
        Description: 'Pushrail local runtime: health changes to the notifications inbox',
      }),
    );
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'PushrailNotifications',
                Effect: 'Allow',
                Principal: { Service: 'events.amazonaws.com' },
                Action: 'sqs:SendMessage',
                Resource: arn,
                Condition: { ArnEquals: { 'aws:SourceArn': RuleArn } },
              },
            ],
          }),
        },
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: NOTIFICATIONS_RULE_NAME,
        EventBusName: 'default',
        Targets: [{ Id: 'notifications-inbox', Arn: arn }],
      }),
    );
    return queueUrl;
  } finally {
    events.destroy();
    sqs.destroy();
  }
}
