import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { z } from 'zod';
import type { DeliveryOptions } from '../../adapters/customer-clients.js';
import { DELIVERY_QUEUE_ENV, DeliveryRuntime, type SqsHandler } from '../../adapters/delivery-runtime.js';
import { EventBusVerifier } from '../../adapters/event-bus-verifier.js';
import { lazyHandler } from '../../adapters/lazy-handler.js';
import { DELIVERY_ENV } from '../../core/function-env.js';
import { jsonOf, readEnv } from '../../core/read-env.js';
import { deliverEntries } from './deliver-entries.js';
import { EventBridgeDestinationSchema, sourceNamespace } from './schema.js';

/**
 * Builds the EventBridge sender for one destination from an environment. Lambda builds it once per
 * container (first invocation); the local runtime builds one per EventBridge destination.
 */
export function createDeliveryHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: DeliveryOptions = {},
): SqsHandler {
  const env = readEnv(
    {
      ...DELIVERY_QUEUE_ENV,
      [DELIVERY_ENV.destination]: jsonOf(EventBridgeDestinationSchema),
      [DELIVERY_ENV.vendor]: z.string().min(1),
    },
    source,
  );
  const destination = env[DELIVERY_ENV.destination];
  const entrySource = sourceNamespace({ vendor: env[DELIVERY_ENV.vendor] }, destination);
  const runtime = new DeliveryRuntime(
    destination,
    'pushrail-eventbridge-sender',
    env,
    (credentials) => new EventBridgeClient({ region: destination.region, credentials }),
    options,
  );
  const buses = new EventBusVerifier();

  return runtime.handler((events, { client: eventBridge, credentials }) =>
    deliverEntries(events, {
      destination,
      source: entrySource,
      client: eventBridge,
      verifyBus: () =>
        buses.verify(eventBridge, {
          destinationId: destination.id,
          busArn: destination.busArn,
          credentialsKey: credentials.accessKeyId,
        }),
      attempts: runtime.attempts,
      credentialsMode: destination.auth.mode,
      logger: runtime.logger,
    }),
  );
}

/** The Lambda entry point. */
export const handler: SqsHandler = lazyHandler(() => createDeliveryHandler());
