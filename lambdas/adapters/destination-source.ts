import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import type { DestinationRecord } from '../core/destination-record.js';
import { DELIVERY_ENV } from '../core/function-env.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import { destinationIdOfQueue } from '../core/resources.js';
import type { Destination } from '../destinations/index.js';
import { DestinationStore } from './destination-store.js';

/** The destination a batch is delivered to, and the queues its messages come from and dead-letter to. */
export interface BatchDestination<D extends Destination> {
  readonly destination: D;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  /**
   * The record's version (table destinations): it goes up with every operator change, including a
   * rotation of keys posted to the management API, which changes the secret's value but not its ARN.
   * The delivery runtime rebuilds its credentials on a new revision, so rotated keys reach the next
   * batch within the catalog bound instead of the secret cache's minute.
   */
  readonly revision?: number;
}

/**
 * Where a delivery function finds the destination of a batch: asked once at the start of each batch,
 * so an update applies to batches that start after it, while a batch in flight keeps what it started
 * with. Undefined when the queue belongs to no destination (any more): the batch's messages are left
 * on the queue (the force-delete path moves them to the DLQ).
 */
export interface DestinationSource<D extends Destination> {
  forQueue(eventSourceArn: string): Promise<BatchDestination<D> | undefined>;
  /**
   * A destination by id, read now rather than from the cache (a test send right after an update must
   * see the update). Undefined when there is none of this function's kind.
   */
  byId(destinationId: string): Promise<D | undefined>;
}

/** One fixed destination, from the function's environment: the CDK stack's function per destination. */
export function staticDestinationSource<D extends Destination>(
  fixed: BatchDestination<D>,
): DestinationSource<D> {
  const answer = Promise.resolve(fixed);
  return {
    forQueue: () => answer,
    byId: async (id) => (id === fixed.destination.id ? fixed.destination : undefined),
  };
}

/** How often the catalog version is checked at most, by default: well inside the 30 s bound. */
export const DEFAULT_CATALOG_CHECK_MS = 5_000;
/** DESIGN.md: changes reach the consumers within 30 s. */
export const MAX_CATALOG_CHECK_MS = 30_000;

export interface TableDestinationSourceOptions<D extends Destination> {
  readonly store: Pick<DestinationStore, 'get' | 'catalogVersion'>;
  readonly namePrefix: string;
  /** Whether a destination is of the function's kind: a batch of another kind's queue is not delivered. */
  readonly accepts: (destination: Destination) => destination is D;
  /** @default DEFAULT_CATALOG_CHECK_MS (at most MAX_CATALOG_CHECK_MS) */
  readonly catalogCheckMs?: number;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/**
 * The destinations table as a DestinationSource, cached per container: each destination read is kept
 * until the catalog version changes, and the catalog is read at most every `catalogCheckMs`. When
 * nothing changed, a refresh costs one small read; after a change, one read per destination in use.
 */
export class TableDestinationSource<D extends Destination> implements DestinationSource<D> {
  private readonly records = new Map<string, DestinationRecord | null>();
  private catalog: number | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private readonly checkMs: number;
  private readonly now: () => number;

  public constructor(private readonly options: TableDestinationSourceOptions<D>) {
    this.checkMs = Math.min(options.catalogCheckMs ?? DEFAULT_CATALOG_CHECK_MS, MAX_CATALOG_CHECK_MS);
    this.now = options.now ?? Date.now;
  }

  public async forQueue(eventSourceArn: string): Promise<BatchDestination<D> | undefined> {
    const id = destinationIdOfQueue(this.options.namePrefix, eventSourceArn);
    if (id === undefined) return undefined;
    await this.refresh();
    let record = this.records.get(id);
    if (record === undefined) {
      record = (await this.options.store.get(id)) ?? null;
      this.records.set(id, record);
    }
    // No queue URLs yet: the provisioner has not finished; the messages wait for the next batch.
    if (!record?.queueUrl || !record.dlqUrl || !this.options.accepts(record.destination)) return undefined;
    return {
      destination: record.destination,
      queueUrl: record.queueUrl,
      dlqUrl: record.dlqUrl,
      revision: record.version,
    };
  }

  public async byId(destinationId: string): Promise<D | undefined> {
    const record = await this.options.store.get(destinationId);
    if (!record || record.desired === 'DELETED' || !this.options.accepts(record.destination))
      return undefined;
    return record.destination;
  }

  private async refresh(): Promise<void> {
    if (this.now() - this.checkedAt < this.checkMs) return;
    const version = await this.options.store.catalogVersion();
    this.checkedAt = this.now();
    if (version !== this.catalog) {
      this.records.clear();
      this.catalog = version;
    }
  }
}

export interface SourceOptions {
  /** How often the table source checks the catalog version. @default DEFAULT_CATALOG_CHECK_MS */
  readonly catalogCheckMs?: number;
}

/**
 * The destination source a delivery function's environment names (core/function-env.ts DELIVERY_ENV):
 * the table when `DESTINATIONS_TABLE` is set, else the one fixed destination.
 */
export function destinationSourceFromEnv<D extends Destination>(
  schema: z.ZodType<D>,
  accepts: (destination: Destination) => destination is D,
  env: NodeJS.ProcessEnv,
  options: SourceOptions = {},
): DestinationSource<D> {
  if (env[DELIVERY_ENV.destinationsTable]) {
    const table = readEnv(
      {
        [DELIVERY_ENV.destinationsTable]: z.string().min(1),
        [DELIVERY_ENV.namePrefix]: z.string().min(1),
      },
      env,
    );
    return new TableDestinationSource({
      store: new DestinationStore(new DynamoDBClient({}), table[DELIVERY_ENV.destinationsTable]),
      namePrefix: table[DELIVERY_ENV.namePrefix],
      accepts,
      ...(options.catalogCheckMs === undefined ? {} : { catalogCheckMs: options.catalogCheckMs }),
    });
  }
  const fixed = readEnv(
    {
      [DELIVERY_ENV.destination]: jsonOf(schema),
      [DELIVERY_ENV.sourceQueueUrl]: z.string().url(),
      [DELIVERY_ENV.dlqUrl]: z.string().url(),
    },
    env,
  );
  return staticDestinationSource({
    destination: fixed[DELIVERY_ENV.destination],
    queueUrl: fixed[DELIVERY_ENV.sourceQueueUrl],
    dlqUrl: fixed[DELIVERY_ENV.dlqUrl],
  });
}
