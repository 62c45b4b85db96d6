import type { DeliveryOptions } from '../lambdas/adapters/customer-clients.js';
import type { ConsumerHandler } from '../lambdas/adapters/delivery-runtime.js';
import type { SourceOptions } from '../lambdas/adapters/destination-source.js';
import { type Destination, kindOf } from '../lambdas/destinations/index.js';
import type { CustomerSideModule } from './customer-side.js';

/**
 * Loads a destination kind's runtime modules by the paths its descriptor names. The descriptors name
 * paths rather than import the modules so that no Lambda bundle carries another kind's code; the
 * CDK stack bundles the same paths, so what runs here is what is deployed.
 */

const REPOSITORY_ROOT = new URL('..', import.meta.url);

/** What a kind's handler module exports besides the Lambda entry point. */
export interface DeliveryModule {
  /**
   * Builds the consumer's handler from an environment, as Lambda does at its first invocation: SQS
   * batches, and the test send.
   */
  createDeliveryHandler(env: NodeJS.ProcessEnv, options?: DeliveryOptions & SourceOptions): ConsumerHandler;
}

export function loadDeliveryModule(destination: Destination): Promise<DeliveryModule> {
  return import(new URL(kindOf(destination).delivery.entry, REPOSITORY_ROOT).href) as Promise<DeliveryModule>;
}

export function loadCustomerSideModule(destination: Destination): Promise<CustomerSideModule> {
  return import(
    new URL(kindOf(destination).local.customerSide, REPOSITORY_ROOT).href
  ) as Promise<CustomerSideModule>;
}
