import { SQSClient } from '@aws-sdk/client-sqs';
import type { Destination } from '../lambdas/core/config.js';
import { consumerEnvironment } from '../lambdas/core/function-env.js';
import { consumerSettings } from '../lambdas/core/resources.js';
import { createEventBridgeSenderHandler } from '../lambdas/destinations/eventbridge/handler.js';
import { createS3BatcherHandler } from '../lambdas/destinations/s3/handler.js';
import { clientConfig } from './aws-clients.js';
import type { ConsumerContext, LocalConsumer, RunningConsumer } from './consumers.js';
import type { ProvisionedDestination } from './provision.js';
import { QueuePoller, type SqsHandler } from './queue-poller.js';
import { queueArn } from './queues.js';

/** The environment the deployed consumer function gets, with the local names and URLs. */
export function localConsumerEnvironment(
  context: ConsumerContext,
  destination: Destination,
): Record<string, string> {
  const provisioned = context.provisioned.destinations[destination.id] as ProvisionedDestination;
  const table = (role: string) => {
    const name = context.provisioned.tables[role];
    if (!name) throw new Error(`table ${role} was not provisioned`);
    return name;
  };
  return consumerEnvironment({
    destination,
    vendor: context.config.vendor,
    eventsTable: table('events'),
    sealsTable: table('seals'),
    attemptsTable: table('attempts'),
    sourceQueueUrl: provisioned.queueUrl,
    dlqUrl: provisioned.dlqUrl,
    retentionDays: context.config.retentionDays,
  });
}

function handlerFor(destination: Destination, env: NodeJS.ProcessEnv): SqsHandler {
  return destination.type === 'S3' ? createS3BatcherHandler(env) : createEventBridgeSenderHandler(env);
}

/** One poller per destination, running the real handler with the deployed batch settings. */
export const DESTINATION_CONSUMERS: LocalConsumer = {
  name: 'destination consumers',
  async start(context: ConsumerContext): Promise<RunningConsumer> {
    const sqs = new SQSClient(clientConfig(context.target));
    const pollers: QueuePoller[] = [];
    for (const destination of context.config.destinations) {
      const provisioned = context.provisioned.destinations[destination.id];
      if (!provisioned) continue;
      const settings = consumerSettings(destination);
      const handler = handlerFor(destination, {
        ...process.env,
        ...localConsumerEnvironment(context, destination),
      });
      const poller = new QueuePoller({
        sqs,
        queueUrl: provisioned.queueUrl,
        queueArn: await queueArn(sqs, provisioned.queueUrl),
        region: context.target.region,
        batchSize: settings.batchSize,
        windowSeconds: settings.windowSeconds,
        timeoutSeconds: settings.timeoutSeconds,
        handler,
        functionName: `${context.namePrefix}-${destination.id}`,
        onError: (error) => console.error(`consumer ${destination.id}: ${(error as Error).message}`),
      });
      poller.start();
      pollers.push(poller);
    }
    return {
      async stop() {
        await Promise.all(pollers.map((p) => p.stop()));
        sqs.destroy();
      },
    };
  },
};
