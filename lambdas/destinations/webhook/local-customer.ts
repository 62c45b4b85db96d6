import type { CustomerSideContext } from '../../../local/customer-side.js';
import type { WebhookDestinationConfig } from './schema.js';

/**
 * The customer's side of a webhook on the local runtime: nothing to create, the receiver is the
 * developer's own (the README shows a one-line one). A URL that is not loopback cannot be reached
 * locally (the sender refuses it as `AddressNotAllowed` only on AWS; locally it would leave the
 * machine), so it is pointed out at start.
 */
export async function provisionCustomerSide(
  destination: WebhookDestinationConfig,
  { warn }: CustomerSideContext,
): Promise<Record<string, never>> {
  const { hostname } = new URL(destination.url);
  if (!/^(127\.|localhost$|\[::1\]$)/.test(hostname)) {
    warn(
      `destination ${destination.id}: ${hostname} is not loopback; locally, point url at a receiver on 127.0.0.1`,
    );
  }
  return {};
}
