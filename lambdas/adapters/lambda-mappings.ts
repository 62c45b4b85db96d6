import {
  CreateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
  type EventSourceMappingConfiguration,
  type LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import type { MappingPort, MappingQueue } from '../control/provisioner.js';
import { MappingInTransitionError } from '../core/errors.js';
import { destinationIdOfQueue } from '../core/resources.js';
import { type Destination, type DestinationType, deliverySettings } from '../destinations/index.js';

/**
 * The provisioner's MappingPort on AWS: one Lambda event source mapping per destination, from its
 * queue onto its kind's consumer function (one function per kind serves every destination of that
 * kind). The local runtime's equivalent is local/local-mappings.ts; both take their batching from
 * `deliverySettings`, so what runs locally cannot drift from what is deployed.
 *
 * Every call reads the mapping before changing it, so it is idempotent and converges whatever a crash
 * or a hand edit left. A mapping Lambda is still creating, updating or deleting cannot be changed;
 * that is a MappingInTransitionError ("try again later"), not a failure.
 *
 * Quotas: every Lambda control-plane call outside invocation, GetFunction and GetPolicy — List, Create,
 * Update and DeleteEventSourceMapping alike — shares about 15 requests/s per account and Region,
 * deploys included, so `pace` is taken before each call, reads too. Throttles that get through are
 * retried by the SDK (TooManyRequestsException is a throttling error to its standard retry strategy:
 * exponential backoff with full jitter from 1 s); the client is built with MAPPING_CLIENT_MAX_ATTEMPTS.
 */

/** Attempts per Lambda call, throttles included (the SDK default is 3). */
export const MAPPING_CLIENT_MAX_ATTEMPTS = 6;

/** The consumer function of each kind: a name or ARN, as DELIVERY_FUNCTIONS gives it. */
export type DeliveryFunctions = Readonly<Partial<Record<DestinationType, string>>>;

/** The settings Pushrail sets on a mapping; every other field is left at Lambda's default. */
export interface MappingSettings {
  readonly BatchSize: number;
  readonly MaximumBatchingWindowInSeconds: number;
  readonly FunctionResponseTypes: readonly ['ReportBatchItemFailures'];
  /** Absent: no limit but the function's (Lambda's default). */
  readonly ScalingConfig?: { readonly MaximumConcurrency: number };
}

/**
 * A destination's mapping settings, from its kind (`deliverySettings`): the same batch size and window
 * the local pollers run with (local/delivery-pollers.ts `pollerBatching`), partial batch responses
 * always (the consumers report failed records, STYLE.md point 5), and the kind's maximum concurrency
 * when it sets one (2-1000).
 */
export function eventSourceMappingSettings(destination: Destination): MappingSettings {
  const settings = deliverySettings(destination);
  return {
    BatchSize: settings.batchSize,
    MaximumBatchingWindowInSeconds: settings.windowSeconds,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    ...(settings.maxConcurrency !== undefined
      ? { ScalingConfig: { MaximumConcurrency: settings.maxConcurrency } }
      : {}),
  };
}

/** The CreateEventSourceMapping input of a destination's mapping. */
export function createMappingInput(
  destination: Destination,
  functionName: string,
  queueArn: string,
  enabled: boolean,
) {
  const settings = eventSourceMappingSettings(destination);
  return {
    FunctionName: functionName,
    EventSourceArn: queueArn,
    Enabled: enabled,
    ...settings,
    FunctionResponseTypes: [...settings.FunctionResponseTypes],
  };
}

/**
 * The UpdateEventSourceMapping input that brings a mapping to a destination's settings. A kind without
 * a maximum concurrency sends an empty ScalingConfig, which is how Lambda removes one set before.
 */
export function updateMappingInput(uuid: string, destination: Destination, enabled: boolean) {
  const settings = eventSourceMappingSettings(destination);
  return {
    UUID: uuid,
    Enabled: enabled,
    BatchSize: settings.BatchSize,
    MaximumBatchingWindowInSeconds: settings.MaximumBatchingWindowInSeconds,
    FunctionResponseTypes: [...settings.FunctionResponseTypes],
    ScalingConfig: settings.ScalingConfig ? { ...settings.ScalingConfig } : {},
  };
}

export interface LambdaMappingsOptions {
  /** Built with `maxAttempts: MAPPING_CLIENT_MAX_ATTEMPTS`, so throttles are retried with backoff. */
  readonly lambda: LambdaClient;
  readonly functions: DeliveryFunctions;
  /** The prefix of the queue names (core/resources.ts queueNames), to tell a queue's destination. */
  readonly namePrefix: string;
  /** Taken before every Lambda call (a token bucket). @default no pacing */
  readonly pace?: () => Promise<void>;
  /**
   * How long the mappings read by `list()` stand in for a read in `ensure`: a reconcile lists every
   * mapping once and then skips those already as they should be, instead of one read per destination.
   * Only a match is trusted; anything else is read again before it is changed.
   * @default 60_000
   */
  readonly snapshotTtlMs?: number;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** States in which Lambda refuses an update or a delete. */
const IN_TRANSITION = new Set(['Creating', 'Updating', 'Enabling', 'Disabling', 'Deleting']);

export function createLambdaMappings(options: LambdaMappingsOptions): MappingPort {
  const { lambda, namePrefix } = options;
  const pace = options.pace ?? (async () => undefined);
  const now = options.now ?? Date.now;
  const ttl = options.snapshotTtlMs ?? 60_000;
  const kindFunctions = Object.entries(options.functions).filter(
    (entry): entry is [DestinationType, string] => typeof entry[1] === 'string' && entry[1].length > 0,
  );
  const ourFunctionNames = new Set(kindFunctions.map(([, fn]) => functionNameOf(fn)));
  /** The queue ARNs seen per destination (ensure and list), so remove reads one queue's mappings. */
  const queueArns = new Map<string, string>();
  /** The mappings of the last `list()`, by queue ARN, and when they were read. */
  let snapshot: { at: number; byQueue: Map<string, EventSourceMappingConfiguration[]> } | undefined;

  function functionOf(destination: Destination): string {
    const fn = options.functions[destination.type];
    if (!fn) {
      throw new Error(
        `no consumer function for kind ${destination.type} in DELIVERY_FUNCTIONS (it names ${
          kindFunctions.map(([kind]) => kind).join(', ') || 'none'
        })`,
      );
    }
    return fn;
  }

  async function call<T>(send: () => Promise<T>): Promise<T> {
    await pace();
    try {
      return await send();
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ResourceInUseException' || name === 'ResourceConflictException') {
        throw new MappingInTransitionError(
          `Lambda is still changing the event source mapping (${name}: ${(error as Error).message})`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  async function listPages(
    query: { FunctionName?: string; EventSourceArn?: string },
    onPage: (mappings: EventSourceMappingConfiguration[]) => void,
  ): Promise<void> {
    let marker: string | undefined;
    do {
      const page = await call(() =>
        lambda.send(
          new ListEventSourceMappingsCommand({
            ...query,
            ...(marker ? { Marker: marker } : {}),
            MaxItems: 100,
          }),
        ),
      );
      onPage(page.EventSourceMappings ?? []);
      marker = page.NextMarker || undefined;
    } while (marker);
  }

  /** The mappings of a queue onto one function, read now. */
  async function read(functionName: string, queueArn: string): Promise<EventSourceMappingConfiguration[]> {
    const found: EventSourceMappingConfiguration[] = [];
    await listPages({ FunctionName: functionName, EventSourceArn: queueArn }, (page) => found.push(...page));
    return found;
  }

  function forget(queueArn: string): void {
    snapshot?.byQueue.delete(queueArn);
  }

  return {
    async ensure(destination, queue: MappingQueue, enabled) {
      const functionName = functionOf(destination);
      queueArns.set(destination.id, queue.queueArn);
      const cached = snapshot && now() - snapshot.at < ttl ? snapshot.byQueue.get(queue.queueArn) : undefined;
      if (cached && cached.length === 1 && cached[0] && isConverged(cached[0], destination, enabled)) return;

      const mappings = await read(functionName, queue.queueArn);
      const live = mappings.filter((m) => m.State !== 'Deleting');
      const current = live[0];
      if (!current) {
        if (mappings.length > 0) {
          // A destination deleted and created again under the same id: its queue has the same ARN, and
          // Lambda refuses a second mapping of it until the old one is gone.
          throw new MappingInTransitionError(
            `the previous event source mapping of ${queue.queueArn} is still Deleting`,
          );
        }
        await call(() =>
          lambda.send(
            new CreateEventSourceMappingCommand(
              createMappingInput(destination, functionName, queue.queueArn, enabled),
            ),
          ),
        );
        forget(queue.queueArn);
        return;
      }
      if (isConverged(current, destination, enabled)) return;
      if (IN_TRANSITION.has(current.State ?? '')) {
        throw new MappingInTransitionError(
          `the event source mapping ${current.UUID} of ${queue.queueArn} is ${current.State}`,
        );
      }
      await call(() =>
        lambda.send(
          new UpdateEventSourceMappingCommand(
            updateMappingInput(current.UUID as string, destination, enabled),
          ),
        ),
      );
      forget(queue.queueArn);
    },

    async remove(destinationId) {
      const known = queueArns.get(destinationId);
      const targets: EventSourceMappingConfiguration[] = [];
      if (known) {
        // One read of the queue's mappings, onto any function: the kind of a removed record is unknown.
        await listPages({ EventSourceArn: known }, (page) =>
          targets.push(...page.filter((m) => ourFunctionNames.has(functionNameOf(m.FunctionArn ?? '')))),
        );
      } else {
        for (const [, fn] of kindFunctions) {
          await listPages({ FunctionName: fn }, (page) =>
            targets.push(
              ...page.filter(
                (m) => destinationIdOfQueue(namePrefix, m.EventSourceArn ?? '') === destinationId,
              ),
            ),
          );
        }
      }
      for (const mapping of targets) {
        if (mapping.State === 'Deleting') continue; // on its way out already
        try {
          await call(() => lambda.send(new DeleteEventSourceMappingCommand({ UUID: mapping.UUID })));
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        if (mapping.EventSourceArn) forget(mapping.EventSourceArn);
      }
      queueArns.delete(destinationId);
    },

    async list() {
      const byQueue = new Map<string, EventSourceMappingConfiguration[]>();
      const ids = new Set<string>();
      const at = now();
      for (const [, fn] of kindFunctions) {
        await listPages({ FunctionName: fn }, (page) => {
          for (const mapping of page) {
            const arn = mapping.EventSourceArn ?? '';
            const id = destinationIdOfQueue(namePrefix, arn);
            if (!id) continue;
            byQueue.set(arn, [...(byQueue.get(arn) ?? []), mapping]);
            queueArns.set(id, arn);
            // A mapping being deleted is already on its way out: nothing for a reconcile to remove.
            if (mapping.State !== 'Deleting') ids.add(id);
          }
        });
      }
      snapshot = { at, byQueue };
      return [...ids];
    },
  };
}

/** Whether a mapping has (or is settling into) exactly the destination's settings and enabled state. */
function isConverged(mapping: EventSourceMappingConfiguration, destination: Destination, enabled: boolean) {
  const want = eventSourceMappingSettings(destination);
  const state = mapping.State ?? '';
  const enabledNow = state === 'Enabled' || state === 'Enabling';
  const disabledNow = state === 'Disabled' || state === 'Disabling';
  return (
    (enabled ? enabledNow : disabledNow) &&
    mapping.BatchSize === want.BatchSize &&
    (mapping.MaximumBatchingWindowInSeconds ?? 0) === want.MaximumBatchingWindowInSeconds &&
    (mapping.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures') &&
    mapping.ScalingConfig?.MaximumConcurrency === want.ScalingConfig?.MaximumConcurrency
  );
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'ResourceNotFoundException' || e.$metadata?.httpStatusCode === 404;
}

/** `my-fn` from `my-fn`, `arn:aws:lambda:r:a:function:my-fn` or `...:function:my-fn:alias`. */
export function functionNameOf(nameOrArn: string): string {
  const at = nameOrArn.indexOf('function:');
  if (at < 0) return nameOrArn;
  return nameOrArn.slice(at + 'function:'.length).split(':')[0] ?? '';
}
