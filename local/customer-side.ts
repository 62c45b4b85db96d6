import type { EmulatorTarget } from './aws-clients.js';
import type { CustomerAccess } from './customer-credentials.js';

/**
 * The seam between the local runtime and a destination kind's customer side
 * (`lambdas/destinations/<kind>/local-customer.ts`, named by its kind's `local.customerSide`).
 *
 * The customer's side of a destination is created the way the customer would own it: with the
 * customer's credentials, in the customer's account. Pushrail never creates these in AWS; locally
 * they must exist so that deliveries have somewhere to land and can be read back.
 */
export interface CustomerSideContext {
  /** The customer's account and credentials in the emulator. */
  readonly customer: CustomerAccess;
  /** The emulator, with Pushrail's region. */
  readonly target: EmulatorTarget;
  /** Records something that did not go as configured but does not stop the local runtime. */
  readonly warn: (message: string) => void;
}

/** What a kind's customer-side module exports. */
export interface CustomerSideModule {
  /** Creates (idempotently) what the customer owns; answers the destination's fields for local.json. */
  provisionCustomerSide(
    destination: unknown,
    context: CustomerSideContext,
  ): Promise<Readonly<Record<string, string>>>;
}
