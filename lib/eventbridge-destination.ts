import { Duration } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EventBridgeDestination as EventBridgeDestinationConfig } from '../lambdas/core/config.js';
import { CONSUMER_FUNCTIONS, consumerVisibilityTimeoutSeconds } from '../lambdas/core/resources.js';
import { DeliveryFunction, type DeliveryFunctionResources } from './delivery-function.js';

export interface EventBridgeDestinationProps extends DeliveryFunctionResources {
  /** The validated config entry of the EventBridge destination. */
  readonly destination: EventBridgeDestinationConfig;
}

/**
 * The EventBridge sender of one EVENTBRIDGE destination (lambdas/eventbridge-sender): small batches
 * within about a second, PutEvents into the customer's bus with credentials of the customer's account.
 *
 * The event source mapping's maximum concurrency is the destination's `maxConcurrency`, so one
 * customer's PutEvents quota is never flooded however deep the queue gets. The role holds no
 * `events:PutEvents`: the bus is reached with the assumed role or the stored access key only.
 */
export class EventBridgeDestination extends DeliveryFunction {
  /**
   * The visibility timeout an EventBridge destination's queue needs: derived from the sender's
   * timeout and its batching window (`consumerVisibilityTimeoutSeconds`).
   */
  public static queueVisibilityTimeout(): Duration {
    const settings = CONSUMER_FUNCTIONS.eventbridge;
    return Duration.seconds(
      consumerVisibilityTimeoutSeconds(settings.timeoutSeconds, settings.windowSeconds),
    );
  }

  public constructor(scope: Construct, id: string, props: EventBridgeDestinationProps) {
    const { destination } = props;
    const settings = CONSUMER_FUNCTIONS.eventbridge;
    super(scope, id, {
      ...props,
      functionId: 'EventBridgeSender',
      entry: 'lambdas/destinations/eventbridge/handler.ts',
      serviceName: 'pushrail-eventbridge-sender',
      description: `Pushrail EventBridge sender: destination ${destination.id}`,
      timeout: Duration.seconds(settings.timeoutSeconds),
      memorySize: settings.memoryMb,
      eventSource: {
        batchSize: settings.batchSize,
        maxBatchingWindow: Duration.seconds(settings.windowSeconds),
        maxConcurrency: destination.maxConcurrency,
      },
    });
  }
}
