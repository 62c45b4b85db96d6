import { z } from 'zod';
import type { FailureTable } from '../core/failure-codes.js';
import { eventBridgeKind } from './eventbridge/kind.js';
import type { DeliveryDescriptor, DestinationKind, EventSourceSettings } from './kind.js';
import { s3Kind } from './s3/kind.js';
import { webhookKind } from './webhook/kind.js';

/**
 * The destination kinds: the one place that lists them. Everything that differs by kind — the config
 * schema, the failure classification, the delivery function and its event source mapping, the local
 * customer side — is read from here, so adding a kind is a folder beside these plus one line below,
 * and a kind that is missing somewhere is a compile error rather than a silent fallback.
 */
export const KINDS = {
  S3: s3Kind,
  EVENTBRIDGE: eventBridgeKind,
  WEBHOOK: webhookKind,
} as const satisfies Record<string, DestinationKind>;

type Kinds = typeof KINDS;
export type DestinationType = keyof Kinds;
/** A validated destination of any kind (the output of its kind's schema). */
export type Destination = { [K in DestinationType]: z.output<Kinds[K]['schema']> }[DestinationType];
/** A validated destination of one kind. */
export type DestinationOf<K extends DestinationType> = Extract<Destination, { type: K }>;

// Each kind must be listed under its own schema's `type`: `WEBHOOK: s3Kind` does not compile.
type MislistedKinds = {
  [K in DestinationType]: z.output<Kinds[K]['schema']>['type'] extends K ? never : K;
}[DestinationType];
const everyKindUnderItsType: [MislistedKinds] extends [never] ? true : MislistedKinds = true;
void everyKindUnderItsType;

export const DESTINATION_TYPES = Object.keys(KINDS) as DestinationType[];

/** The config schema of one destination, any kind (the config file and the management API share it). */
export const DestinationSchema = z.discriminatedUnion(
  'type',
  Object.values(KINDS).map((k) => k.schema) as unknown as [
    Kinds['S3']['schema'],
    ...Kinds[DestinationType]['schema'][],
  ],
  { error: `type must be ${DESTINATION_TYPES.map((t) => `"${t}"`).join(' or ')}` },
);

/**
 * The kind of a destination, typed for that destination. TypeScript cannot follow `KINDS[d.type]`
 * back to `d`'s own kind (a correlated union), so this one cast stands for every dispatch.
 */
export function kindOf<D extends Destination>(
  destination: D,
): DestinationKind & {
  readonly delivery: DeliveryDescriptor<D>;
} {
  return KINDS[destination.type] as unknown as DestinationKind & { readonly delivery: DeliveryDescriptor<D> };
}

/**
 * A destination as the local runtime provisioned it (`.pushrail/local.json`): its queues and the
 * fields its kind's customer side adds (`bucket`/`keyPrefix`, `busArn`/`inboxQueueUrl`).
 */
export type ProvisionedDestination = {
  [K in DestinationType]: { readonly type: K; readonly queueUrl: string; readonly dlqUrl: string } & {
    readonly [F in Kinds[K]['local']['fields'][number]]: string;
  };
}[DestinationType];

/** The classification table of a kind. */
export function failureTable(type: DestinationType): FailureTable {
  return KINDS[type].classification;
}

/** A destination's delivery function and event source mapping, with the visibility timeout they imply. */
export interface DeliverySettings extends EventSourceSettings {
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly visibilityTimeoutSeconds: number;
}

/**
 * A destination queue's visibility timeout, from its consumer: six times the function timeout plus the
 * batching window, as AWS recommends for SQS event sources, so a message is never handed out again
 * while a (retried) invocation may still be working on it.
 */
export function visibilityTimeoutSeconds(functionTimeoutSeconds: number, windowSeconds: number): number {
  return 6 * functionTimeoutSeconds + windowSeconds;
}

/** Everything the CDK stack and the local runtime set for one destination's delivery. */
export function deliverySettings(destination: Destination): DeliverySettings {
  const { delivery } = kindOf(destination);
  const eventSource = delivery.eventSource(destination);
  return {
    ...eventSource,
    timeoutSeconds: delivery.timeoutSeconds,
    memoryMb: delivery.memoryMb,
    visibilityTimeoutSeconds: visibilityTimeoutSeconds(delivery.timeoutSeconds, eventSource.windowSeconds),
  };
}
