import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/core/config.js';
import { destinationQueueAttributes } from '../../lambdas/core/destination-queues.js';
import { DESTINATION_TYPES, type Destination, KINDS } from '../../lambdas/destinations/index.js';
import { pollerBatching } from '../../local/delivery-pollers.js';
import { SEED_CONFIG, synthStack } from './fixtures.js';
import { TemplateQueries } from './template-queries.js';

/**
 * The local runtime must run every kind's delivery as the deployed stack does. The stack holds one
 * consumer function per kind; the queues and mappings are the provisioner's, built from the same
 * registry (core/destination-queues.ts) locally and on AWS. So, per kind: the local pollers time out
 * like the deployed function, and the visibility timeout the provisioner gives a queue covers six
 * invocations of that deployed function plus the batching window (AWS's advice for SQS sources).
 */

const queries = new TemplateQueries(synthStack({}, 'Pushrail').template);

/** The webhook example of the README (`npx pushrail destinations create -f examples/webhook.json`). */
const WEBHOOK_EXAMPLE = parseConfig({
  vendor: 'acme',
  destinations: [JSON.parse(readFileSync(new URL('../../examples/webhook.json', import.meta.url), 'utf8'))],
}).destinations;

/** One destination of each kind, from the example config (and the webhook example). */
const cases = DESTINATION_TYPES.map((type) => {
  const destination = [...SEED_CONFIG.destinations, ...WEBHOOK_EXAMPLE].find((d) => d.type === type);
  if (!destination) throw new Error(`the example config has no ${type} destination`);
  return [type, destination] as const;
});

const deployedTimeout = (destination: Destination): number =>
  queries.functionOf(KINDS[destination.type].delivery.serviceName)[1].Properties.Timeout as number;

describe('the local runtime and the stack agree, kind by kind', () => {
  it('covers every kind of the registry', () => {
    expect(new Set(cases.map(([type]) => type))).toEqual(new Set(DESTINATION_TYPES));
  });

  it.each(cases)('%s: the local pollers time out like the deployed consumer', (_type, destination) => {
    expect(pollerBatching(destination).timeoutSeconds).toBe(deployedTimeout(destination));
  });

  it.each(cases)(
    '%s: the queue the provisioner creates hides a message for 6 deployed timeouts plus the window',
    (_type, destination) => {
      const attributes = destinationQueueAttributes(destination, 'arn:aws:sqs:us-east-1:123456789012:dlq');
      const { windowSeconds } = pollerBatching(destination);
      expect(Number(attributes.VisibilityTimeout)).toBe(6 * deployedTimeout(destination) + windowSeconds);
    },
  );
});
