import { Aws } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { nagResource, type RuntimeResources } from './runtime-resources.js';

/**
 * What evaluating health needs (lambdas/observe/health.ts), for the functions that evaluate it: the
 * management function (health reads) and the provisioner (its scheduled run).
 */
export const HEALTH_PERMISSIONS = {
  /** adapters/health-rollups.ts: one Query per destination, the status's conditional transition. */
  attempts: ['dynamodb:Query', 'dynamodb:UpdateItem'],
  /** adapters/queue-depths.ts: queued, in flight, DLQ depth. */
  queues: ['sqs:GetQueueAttributes'],
  /** adapters/queue-depths.ts: AWS/SQS ApproximateAgeOfOldestMessage (takes no resource). */
  metrics: ['cloudwatch:GetMetricData'],
  /** adapters/health-announcer.ts: `Destination Health Changed` on the default bus only. */
  announce: ['events:PutEvents'],
} as const;

/** The vendor account's default event bus, where status changes are announced. */
export const DEFAULT_BUS_ARN = `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/default`;

export function grantHealth(
  fn: IFunction,
  attemptsTable: ITable,
  resources: RuntimeResources,
  nagScope: Construct,
): void {
  attemptsTable.grant(fn, ...HEALTH_PERMISSIONS.attempts);
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: [...HEALTH_PERMISSIONS.queues],
      // The prefix pattern covers the DLQs (`<prefix>-<id>-dlq`) too.
      resources: [resources.queues.arn],
    }),
  );
  fn.addToRolePolicy(new PolicyStatement({ actions: [...HEALTH_PERMISSIONS.metrics], resources: ['*'] }));
  fn.addToRolePolicy(
    new PolicyStatement({ actions: [...HEALTH_PERMISSIONS.announce], resources: [DEFAULT_BUS_ARN] }),
  );
  NagSuppressions.addResourceSuppressions(
    nagScope,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Health reads the attributes of queues that exist only at run time (the name prefix pattern), and ' +
          'cloudwatch:GetMetricData takes no resource (Service Authorization Reference).',
        appliesTo: [nagResource('*'), nagResource(resources.queues)],
      },
    ],
    true,
  );
}
