import type { DeliveryOptions } from '../lambdas/adapters/customer-clients.js';
import type { ConsumerHandler } from '../lambdas/adapters/delivery-runtime.js';
import type { SourceOptions } from '../lambdas/adapters/destination-source.js';
import type { TestSender } from '../lambdas/control/destinations.js';
import { TestSendUnavailableError } from '../lambdas/core/errors.js';
import { TestAttemptSchema } from '../lambdas/core/test-send.js';
import { type DestinationType, kindOf } from '../lambdas/destinations/index.js';
import { lambdaContext } from './api-gateway-event.js';
import { loadDeliveryModule } from './kind-modules.js';

/**
 * The test send on the local runtime (the management API's TestSender): the kind's real consumer
 * handler, imported by the path its descriptor names (local/kind-modules.ts), run in-process with the
 * consumers' local environment (local/local-mappings.ts localMappingsEnvironment) — the Lambda
 * RequestResponse invoke of AWS, with a thrown error standing for its FunctionError.
 */
export interface LocalTestSenderOptions {
  /** The consumers' environment (the destinations table and the shared tables). */
  readonly deliveryEnv: Readonly<Record<string, string>>;
  readonly namePrefix: string;
  readonly region: string;
  readonly accountId: string;
  readonly handlerOptions?: DeliveryOptions & SourceOptions;
  /** Where a consumer's failure is reported (the answer only says the test could not run). */
  readonly onError?: (destinationId: string, error: unknown) => void;
}

export function localTestSender(options: LocalTestSenderOptions): TestSender {
  // One handler per kind, as one consumer function per kind serves every destination on AWS.
  const handlers = new Map<DestinationType, Promise<ConsumerHandler>>();
  const handlerOf = (type: DestinationType, load: () => Promise<ConsumerHandler>) => {
    let handler = handlers.get(type);
    if (!handler) {
      handler = load();
      handlers.set(type, handler);
    }
    return handler;
  };

  return async (record) => {
    const { destination } = record;
    const functionName = `${options.namePrefix}-${destination.type.toLowerCase()}-consumer`;
    try {
      const handler = await handlerOf(destination.type, async () => {
        const { createDeliveryHandler } = await loadDeliveryModule(destination);
        // Read when first needed, like a Lambda's environment at its cold start.
        return createDeliveryHandler({ ...process.env, ...options.deliveryEnv }, options.handlerOptions);
      });
      const deadline = Date.now() + kindOf(destination).delivery.timeoutSeconds * 1000;
      const answer = await handler(
        { pushrailTest: { destinationId: destination.id } },
        lambdaContext({ functionName, region: options.region, accountId: options.accountId }, deadline),
      );
      return TestAttemptSchema.parse(answer);
    } catch (error) {
      options.onError?.(destination.id, error);
      throw new TestSendUnavailableError(
        `the ${destination.type} consumer could not run the test send (see the runtime's output); retry`,
        { cause: error },
      );
    }
  };
}
