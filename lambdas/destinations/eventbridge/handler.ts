import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { z } from 'zod';
import type { DeliveryOptions } from '../../adapters/customer-clients.js';
import {
  awsCustomerClients,
  type ConsumerHandler,
  DELIVERY_QUEUE_ENV,
  type DeliveryBatchContext,
  DeliveryRuntime,
  lazyConsumer,
} from '../../adapters/delivery-runtime.js';
import { destinationSourceFromEnv, type SourceOptions } from '../../adapters/destination-source.js';
import { EventBusVerifier } from '../../adapters/event-bus-verifier.js';
import { DELIVERY_ENV } from '../../core/function-env.js';
import { readEnv } from '../../core/read-env.js';
import type { Destination } from '../index.js';
import { deliverEntries, type EventBridgeDeliveryDeps, sendTestEntry } from './deliver-entries.js';
import {
  type EventBridgeDestinationConfig,
  EventBridgeDestinationSchema,
  sourceNamespace,
} from './schema.js';

const isEventBridge = (destination: Destination): destination is EventBridgeDestinationConfig =>
  destination.type === 'EVENTBRIDGE';

/**
 * Builds the EventBridge sender from an environment: for the one destination it names, or for every
 * EventBridge destination of the destinations table (adapters/destination-source.ts). Lambda builds
 * it once per container (first invocation); the local runtime builds one per destination's poller.
 */
export function createDeliveryHandler(
  source: NodeJS.ProcessEnv = process.env,
  options: DeliveryOptions & SourceOptions = {},
): ConsumerHandler {
  const env = readEnv({ ...DELIVERY_QUEUE_ENV, [DELIVERY_ENV.vendor]: z.string().min(1) }, source);
  const runtime = new DeliveryRuntime(
    destinationSourceFromEnv(EventBridgeDestinationSchema, isEventBridge, source, options),
    'pushrail-eventbridge-sender',
    env,
    awsCustomerClients(
      (destination: EventBridgeDestinationConfig, credentials) =>
        new EventBridgeClient({ region: destination.region, credentials }),
      options,
    ),
    options,
  );
  // Keyed by destination, bus and credentials: a changed bus or key is checked again.
  const buses = new EventBusVerifier();
  const depsOf = (
    {
      destination,
      client,
      credentials,
      logger,
    }: DeliveryBatchContext<EventBridgeDestinationConfig, EventBridgeClient>,
    verifier: EventBusVerifier,
    attempts: EventBridgeDeliveryDeps['attempts'],
  ): EventBridgeDeliveryDeps => ({
    destination,
    source: sourceNamespace({ vendor: env[DELIVERY_ENV.vendor] }, destination),
    client,
    verifyBus: () =>
      verifier.verify(client, {
        destinationId: destination.id,
        busArn: destination.busArn,
        credentialsKey: credentials.accessKeyId,
      }),
    attempts,
    credentialsMode: destination.auth.mode,
    logger,
  });

  return runtime.handler(
    (events, batch) => deliverEntries(events, depsOf(batch, buses, runtime.attempts)),
    // A verifier of its own: the test checks the bus now, whatever a batch found before.
    (record, batch) => sendTestEntry(record, depsOf(batch, new EventBusVerifier(), batch.attempts)),
  );
}

/** The Lambda entry point. */
export const handler: ConsumerHandler = lazyConsumer(() => createDeliveryHandler());
