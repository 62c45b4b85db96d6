import { describe, expect, it } from 'vitest';
import { destinationQueueAttributes } from '../../lambdas/core/destination-queues.js';
import { DELIVERY_ENV } from '../../lambdas/core/function-env.js';
import { queueNames } from '../../lambdas/core/resources.js';
import { DESTINATION_TYPES, type Destination } from '../../lambdas/destinations/index.js';
import { pollerBatching } from '../../local/delivery-pollers.js';
import { EXTENDED_CONFIG, synthStack } from './fixtures.js';
import { type Resource, TemplateQueries } from './template-queries.js';

/**
 * The local runtime must run every kind's delivery as `cdk deploy` does: the same batch size, window
 * and timeout as the synthesized event source mapping and function, and the same queue attributes.
 * Both sides read the kinds registry; this test fails if either stops doing so.
 */

const STACK_NAME = 'Pushrail';
const { template } = synthStack(EXTENDED_CONFIG, STACK_NAME);
const queries = new TemplateQueries(template);

/** Every destination of the extended fixture, with at least one of each kind. */
const cases = DESTINATION_TYPES.flatMap((type) =>
  EXTENDED_CONFIG.destinations.filter((d) => d.type === type).map((d) => [type, d.id, d] as const),
);

function deliveryFunctionOf(destination: Destination): [string, Resource] {
  const id = queries.logicalIdOf(
    'AWS::Lambda::Function',
    (r) => {
      const variables = (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      const raw = variables?.[DELIVERY_ENV.destination];
      return typeof raw === 'string' && (JSON.parse(raw) as { id?: unknown }).id === destination.id;
    },
    `delivery function of ${destination.id}`,
  );
  return [id, queries.resources[id] as Resource];
}

describe('the local runtime and the stack agree, kind by kind', () => {
  it('covers every kind of the registry', () => {
    expect(new Set(cases.map(([type]) => type))).toEqual(new Set(DESTINATION_TYPES));
  });

  it.each(cases)(
    '%s destination %s: event source mapping and function timeout',
    (_type, _id, destination) => {
      const [functionId, fn] = deliveryFunctionOf(destination);
      const mappings = Object.values(queries.resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::EventSourceMapping' &&
          JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: functionId }),
      );
      expect(mappings).toHaveLength(1);
      const mapping = (mappings[0] as Resource).Properties;
      const local = pollerBatching(destination);
      expect({
        batchSize: mapping.BatchSize,
        windowSeconds: mapping.MaximumBatchingWindowInSeconds,
        timeoutSeconds: fn.Properties.Timeout,
      }).toEqual(local);
    },
  );

  it.each(cases)('%s destination %s: queue attributes', (_type, _id, destination) => {
    const names = queueNames(STACK_NAME, destination.id);
    const queue = queries.resources[queries.queueId(names.queue)] as Resource;
    const dlqId = queries.queueId(names.dlq);
    const local = destinationQueueAttributes(destination, 'arn:of:the:dlq');
    expect({
      MessageRetentionPeriod: String(queue.Properties.MessageRetentionPeriod),
      VisibilityTimeout: String(queue.Properties.VisibilityTimeout),
      maxReceiveCount: (queue.Properties.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount,
      deadLetterTarget: (queue.Properties.RedrivePolicy as { deadLetterTargetArn: unknown })
        .deadLetterTargetArn,
    }).toEqual({
      MessageRetentionPeriod: local.MessageRetentionPeriod,
      VisibilityTimeout: local.VisibilityTimeout,
      maxReceiveCount: (JSON.parse(local.RedrivePolicy as string) as { maxReceiveCount: number })
        .maxReceiveCount,
      deadLetterTarget: { 'Fn::GetAtt': [dlqId, 'Arn'] },
    });
  });
});
