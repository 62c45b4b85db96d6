import type { PushrailConfig } from '../lambdas/core/config.js';
import type { EmulatorTarget } from './aws-clients.js';
import { DESTINATION_CONSUMERS } from './destination-consumers.js';
import type { Provisioned } from './provision.js';

/**
 * The seam for the queue consumers: the local stand-ins for the SQS event source mappings that run the
 * destination Lambdas (S3 batcher, EventBridge sender) with the same batch size and window as the
 * deployed ones. `npm start` starts every entry after provisioning and before the API opens, and
 * stops them in reverse order on shutdown, before the emulator.
 */
export interface ConsumerContext {
  readonly config: PushrailConfig;
  readonly namePrefix: string;
  /** The emulator with Pushrail's region and credentials. */
  readonly target: EmulatorTarget;
  readonly provisioned: Provisioned;
}

export interface RunningConsumer {
  /** Stops polling and waits for the batch in hand to finish. */
  stop(): Promise<void>;
}

export interface LocalConsumer {
  /** Shown in the start-up output. */
  readonly name: string;
  start(context: ConsumerContext): Promise<RunningConsumer>;
}

/** The S3 batcher and EventBridge sender of every destination, each on its queue. */
export const CONSUMERS: readonly LocalConsumer[] = [DESTINATION_CONSUMERS];
