import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { HealthAnnouncer } from './health-announcer.js';
import { HealthRollups } from './health-rollups.js';
import { QueueDepths } from './queue-depths.js';

/** Health's AWS parts (lambdas/observe/health.ts), for the management and provisioner functions. */
export function healthAdapters(
  dynamodb: DynamoDBClient,
  attemptsTable: string,
  clientConfig: { region?: string; endpoint?: string },
) {
  return {
    rollups: new HealthRollups(dynamodb, attemptsTable),
    queues: new QueueDepths(new SQSClient(clientConfig), new CloudWatchClient(clientConfig)),
    announcer: new HealthAnnouncer(new EventBridgeClient(clientConfig)),
  };
}
