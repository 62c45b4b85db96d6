import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import pMap from 'p-map';
import type { DestinationStore, ProvisioningState } from '../adapters/destination-store.js';
import { pushrailLogger } from '../adapters/log-format.js';
import type { QueueAlarmPort } from '../adapters/queue-alarms.js';
import {
  deleteBatch,
  deleteQueue,
  ensureQueue,
  findQueueUrl,
  moveToDlq,
  OWNER_TAG,
  ownedQueueUrls,
  queueArn,
  queueDepth,
  receiveMessages,
} from '../adapters/sqs-queue.js';
import { deadLetterQueueAttributes, destinationQueueAttributes } from '../core/destination-queues.js';
import type { DestinationRecord, DestinationStatus } from '../core/destination-record.js';
import { MappingInTransitionError } from '../core/errors.js';
import { sanitizeReason } from '../core/failure-classification.js';
import { DESTINATION_DELETED } from '../core/failure-codes.js';
import { fromMessage } from '../core/queue-message.js';
import { queueNames } from '../core/resources.js';
import { createTokenBucket, type TokenBucket } from '../core/token-bucket.js';
import type { Destination } from '../destinations/index.js';

/**
 * The provisioner: converges each destination's real resources to its record in the destinations
 * table (DESIGN.md "Management API"), one destination at a time or all of them (the periodic
 * reconcile that repairs drift).
 *
 * For `desired` ACTIVE or PAUSED: the DLQ and the queue with the stack's attributes, their URLs on the
 * record, the mapping onto the kind's consumer (enabled only for ACTIVE), then the status. For
 * DELETED: status DELETING; with force, what is left in the queue moves to the DLQ; once the queue is
 * empty, the mapping, the queue and the secret Pushrail owns go, then the record. The DLQ stays for its
 * retention.
 *
 * Every step is idempotent ("already exists" and "already gone" are success) and reads the world
 * rather than remembering it, so a crash between any two steps converges on the next run. A step that
 * throws leaves the status FAILED with the (sanitized) AWS error; the next successful run clears it.
 * A mapping Lambda is still changing (MappingInTransitionError) is not a failure: the destination stays
 * PROVISIONING (with the reason) or DELETING, and the next run, the periodic reconcile at the latest,
 * goes on from there.
 */

/** The queue a mapping reads from. */
export interface MappingQueue {
  readonly queueUrl: string;
  readonly queueArn: string;
}

/**
 * The event source mappings of the destinations' queues onto their kinds' consumers: on AWS, Lambda
 * event source mappings; on the local runtime, queue pollers (local/local-mappings.ts). Every call
 * is idempotent.
 */
export interface MappingPort {
  /**
   * Brings the destination's mapping to this queue, its kind's batching, and enabled or disabled
   * (a paused destination's events wait in its queue). Disabling waits for the batch in hand.
   */
  ensure(destination: Destination, queue: MappingQueue, enabled: boolean): Promise<void>;
  /** Removes the destination's mapping; one already gone is done. */
  remove(destinationId: string): Promise<void>;
  /** The destinations that have a mapping, so a reconcile can remove those no longer in the table. */
  list(): Promise<readonly string[]>;
}

export interface ProvisionerLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export interface ProvisionerDeps {
  readonly store: Pick<DestinationStore, 'get' | 'list' | 'setProvisioning' | 'remove'>;
  readonly sqs: SQSClient;
  readonly mappings: MappingPort;
  /** Deletes a secret Pushrail owns (adapters/secret-deleter.ts); idempotent. */
  readonly deleteSecret: (secretArn: string) => Promise<void>;
  /** The prefix of the queue names (core/resources.ts queueNames). */
  readonly namePrefix: string;
  /**
   * Each destination's queue-age alarm (core/queue-age-alarm.ts), put with its queue and deleted with
   * it. @default none (the local runtime has no CloudWatch alarms)
   */
  readonly alarms?: QueueAlarmPort;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Mapping calls per second, at most, for this provisioner. Lambda allows about 15
   * Create/UpdateEventSourceMapping requests per second per account and Region, deploys included.
   * @default 10
   */
  readonly mappingCallsPerSecond?: number;
  /** Destinations converged at once by reconcileAll. @default 4 */
  readonly concurrency?: number;
  /** @default a Powertools logger, service pushrail-provisioner */
  readonly logger?: ProvisionerLogger;
  /**
   * How teardownAll retries the destinations it could not clear (a mapping Lambda is still creating
   * cannot be deleted yet). @default { rounds: 6, delayMs: 10_000 }
   */
  readonly teardownRetry?: { readonly rounds: number; readonly delayMs: number };
}

/** What teardownAll removed. */
export interface TeardownReport {
  /** The destinations cleared: those of the table and those that only had a mapping. */
  readonly destinations: number;
  readonly queuesDeleted: number;
  readonly secretsDeleted: number;
}

export interface Provisioner {
  /** Converges one destination; throws the error of a failing step after recording it as FAILED. */
  converge(destinationId: string): Promise<void>;
  /**
   * Converges every destination of the table and removes the mappings of ids no longer in it. A
   * destination that fails is recorded (FAILED) and logged, and the others go on; it throws only
   * when the table or the mappings cannot be listed.
   */
  reconcileAll(): Promise<void>;
  /** Starts converging a destination now, without waiting (the management API calls it after a change). */
  notify(destinationId: string): void;
  /** Resolves once no converge is running in this process (a shutdown waits for it before the AWS clients go). */
  settle(): Promise<void>;
  /**
   * Removes everything the provisioner created, for the deletion of the stack: every mapping (those of
   * ids no longer in the table too), every destination queue and DLQ, every secret Pushrail owns.
   * The records stay: the table's fate is the stack's (its removal policy), and a stack deployed again
   * onto a retained table provisions them anew. Tries every destination, retries the ones that failed
   * (teardownRetry), then throws an error naming those still left, so a retry of the deletion finishes.
   */
  teardownAll(): Promise<TeardownReport>;
}

/** How long a forced delete hides the messages it is moving: time to copy them before they reappear. */
const MOVE_VISIBILITY_SECONDS = 60;

export function createProvisioner(deps: ProvisionerDeps): Provisioner {
  const now = deps.now ?? (() => new Date());
  const logger = deps.logger ?? pushrailLogger('pushrail-provisioner');
  const pace: TokenBucket = createTokenBucket({ ratePerSecond: deps.mappingCallsPerSecond ?? 10 });
  const mappings: MappingPort = {
    ensure: async (destination, queue, enabled) => {
      await pace.take();
      await deps.mappings.ensure(destination, queue, enabled);
    },
    remove: async (id) => {
      await pace.take();
      await deps.mappings.remove(id);
    },
    list: () => deps.mappings.list(),
  };
  // Teardown finds the queues it made by this tag, DLQs of deleted destinations included.
  const owned = { [OWNER_TAG]: deps.namePrefix };
  // One run per destination at a time in this process: a notify during a reconcile waits its turn.
  const running = new Map<string, Promise<void>>();

  function converge(destinationId: string): Promise<void> {
    const previous = running.get(destinationId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => convergeOnce(destinationId));
    running.set(destinationId, run);
    void run
      .finally(() => {
        if (running.get(destinationId) === run) running.delete(destinationId);
      })
      .catch(() => undefined);
    return run;
  }

  async function convergeOnce(destinationId: string): Promise<void> {
    const record = await deps.store.get(destinationId);
    if (!record) {
      // Removed (by us, or by hand): nothing may keep consuming its queue.
      await mappings.remove(destinationId).catch(inTransition(destinationId));
      return;
    }
    try {
      if (record.desired === 'DELETED') await deleteDestination(record).catch(inTransition(destinationId));
      else await provide(record);
    } catch (error) {
      const reason = sanitizeReason(`${(error as Error).name ?? 'Error'}: ${(error as Error).message}`);
      logger.error('provisioning step failed', { destinationId, reason });
      await deps.store
        .setProvisioning(destinationId, record.version, { status: 'FAILED', statusReason: reason })
        .catch((writeError: unknown) =>
          logger.error('could not record the failure', { destinationId, error: writeError }),
        );
      throw error;
    }
  }

  /** ACTIVE or PAUSED: queues, URLs on the record, mapping, status. */
  async function provide(record: DestinationRecord): Promise<void> {
    const { destination, version } = record;
    const names = queueNames(deps.namePrefix, destination.id);
    const dlqUrl = await ensureQueue(deps.sqs, names.dlq, deadLetterQueueAttributes(), owned);
    const queueUrl = await ensureQueue(
      deps.sqs,
      names.queue,
      destinationQueueAttributes(destination, await queueArn(deps.sqs, dlqUrl)),
      owned,
    );
    let current: ProvisioningState = record;
    const write = async (state: ProvisioningState): Promise<boolean> => {
      if (sameState(current, state)) return true;
      // False: an operator changed the record meanwhile; the run their change triggers converges it.
      if (!(await deps.store.setProvisioning(destination.id, version, state))) return false;
      current = state;
      return true;
    };
    // The URLs go on the record before the mapping exists: the consumer finds its queues there.
    if (current.queueUrl !== queueUrl || current.dlqUrl !== dlqUrl) {
      if (!(await write({ status: 'PROVISIONING', queueUrl, dlqUrl }))) return;
    }
    const enabled = record.desired === 'ACTIVE';
    await deps.alarms?.ensure(destination);
    try {
      await mappings.ensure(destination, { queueUrl, queueArn: await queueArn(deps.sqs, queueUrl) }, enabled);
    } catch (error) {
      if (!(error instanceof MappingInTransitionError)) throw error;
      logger.info('mapping in transition; the next run goes on', { destinationId: destination.id });
      await write({ status: 'PROVISIONING', statusReason: sanitizeReason(error.message), queueUrl, dlqUrl });
      return;
    }
    const status: DestinationStatus = enabled ? 'ACTIVE' : 'PAUSED';
    // A pause Pushrail made itself (a webhook's 410) keeps its reason in view while it lasts.
    const reason = !enabled && record.pauseReason ? { statusReason: record.pauseReason } : {};
    await write({ status, ...reason, queueUrl, dlqUrl });
  }

  /** DELETED: DELETING, (force: leftovers to the DLQ), wait for empty, then mapping, queue, secret, record. */
  async function deleteDestination(record: DestinationRecord): Promise<void> {
    const { destination, version } = record;
    const id = destination.id;
    if (record.status !== 'DELETING' || record.statusReason !== undefined) {
      const state: ProvisioningState = {
        status: 'DELETING',
        ...(record.queueUrl ? { queueUrl: record.queueUrl } : {}),
        ...(record.dlqUrl ? { dlqUrl: record.dlqUrl } : {}),
      };
      if (!(await deps.store.setProvisioning(id, version, state))) return;
    }
    const names = queueNames(deps.namePrefix, id);
    const queueUrl = await findQueueUrl(deps.sqs, names.queue);
    if (queueUrl) {
      const queue = { queueUrl, queueArn: await queueArn(deps.sqs, queueUrl) };
      if (record.forceDelete) {
        // Stop consuming first, so nothing is delivered while the rest moves to the DLQ.
        await mappings.ensure(destination, queue, false);
        await moveLeftovers(id, queueUrl, names.dlq);
      } else {
        // Drain: a destination paused before its delete must deliver what waits for it.
        await mappings.ensure(destination, queue, true);
      }
      const depth = await queueDepth(deps.sqs, queueUrl);
      const left = depth ? depth.visible + depth.inFlight + depth.delayed : 0;
      if (left > 0) {
        logger.info('destination still draining', { destinationId: id, left });
        return;
      }
    }
    await mappings.remove(id);
    if (queueUrl) await deleteQueue(deps.sqs, queueUrl);
    await deps.alarms?.remove([id]);
    if (record.ownedSecretArn) await deps.deleteSecret(record.ownedSecretArn);
    if (record.signingSecretArn) await deps.deleteSecret(record.signingSecretArn);
    await deps.store.remove(id, version);
    logger.info('destination removed', { destinationId: id });
  }

  /**
   * Moves every visible message of the queue to the DLQ with reason DestinationDeleted, then deletes
   * it from the queue. A crash between the two leaves a copy in both; the next run moves it again (one
   * more DLQ copy: at least once, never none). Messages in flight come back and move on a later run.
   */
  async function moveLeftovers(destinationId: string, queueUrl: string, dlqName: string): Promise<void> {
    const dlqUrl = await ensureQueue(deps.sqs, dlqName, deadLetterQueueAttributes(), owned);
    for (;;) {
      const messages = await receiveMessages(deps.sqs, queueUrl, MOVE_VISIBILITY_SECONDS);
      if (messages.length === 0) return;
      const at = now();
      const { moved, failed } = await moveToDlq(
        deps.sqs,
        dlqUrl,
        messages.map((m) => ({ key: m, body: m.Body ?? '', reason: leftoverReason(destinationId, m, at) })),
      );
      if (failed.length > 0) {
        const error = new Error(
          `could not move ${failed.length} message(s) to the DLQ (${failed[0]?.reason})`,
        );
        error.name = 'DlqMoveFailed';
        throw error;
      }
      const notDeleted = await deleteBatch(
        deps.sqs,
        queueUrl,
        moved.map((m) => m.ReceiptHandle ?? ''),
      );
      if (notDeleted.length > 0) {
        const error = new Error(`could not delete ${notDeleted.length} moved message(s) from the queue`);
        error.name = 'DeleteMovedFailed';
        throw error;
      }
    }
  }

  /** A mapping still changing stops this run without failing it (DELETING stays DELETING). */
  function inTransition(destinationId: string) {
    return (error: unknown): void => {
      if (!(error instanceof MappingInTransitionError)) throw error;
      logger.info('mapping in transition; the next run goes on', { destinationId, reason: error.message });
    };
  }

  async function teardownAll(): Promise<TeardownReport> {
    const records = await deps.store.list();
    // A destination's stored credentials and, for a webhook, its signing secrets.
    const secrets = new Map(
      records.map((r) => [
        r.destination.id,
        [r.ownedSecretArn, r.signingSecretArn].filter((arn): arn is string => arn !== undefined),
      ]),
    );
    const all = [...new Set([...secrets.keys(), ...(await deps.mappings.list())])];
    let pending = all;
    const retry = deps.teardownRetry ?? { rounds: 6, delayMs: 10_000 };
    let queuesDeleted = 0;
    let secretsDeleted = 0;
    const failures = new Map<string, string>();
    for (let round = 0; pending.length > 0 && round < retry.rounds; round += 1) {
      if (round > 0) await new Promise((r) => setTimeout(r, retry.delayMs));
      failures.clear();
      await pMap(
        pending,
        async (id) => {
          try {
            await mappings.remove(id);
            await deps.alarms?.remove([id]);
            const names = queueNames(deps.namePrefix, id);
            // The DLQs go too: they were the stack's to delete when destinations were stack resources,
            // and what they hold is still in the events table, which the stack retains.
            for (const name of [names.queue, names.dlq]) {
              const url = await findQueueUrl(deps.sqs, name);
              if (url) {
                await deleteQueue(deps.sqs, url);
                queuesDeleted += 1;
              }
            }
            // Each one leaves the list once deleted, so a retry round deletes only what is left.
            const left = secrets.get(id) ?? [];
            for (let arn = left[0]; arn !== undefined; arn = left[0]) {
              await deps.deleteSecret(arn);
              left.shift();
              secretsDeleted += 1;
            }
          } catch (error) {
            failures.set(id, sanitizeReason(`${(error as Error).name}: ${(error as Error).message}`));
          }
        },
        { concurrency: deps.concurrency ?? 4 },
      );
      pending = [...failures.keys()];
    }
    // What is left of ours: the DLQs of destinations deleted earlier (kept for their retention), and
    // queues whose record went without them.
    try {
      for (const url of await ownedQueueUrls(deps.sqs, deps.namePrefix)) {
        await deleteQueue(deps.sqs, url);
        queuesDeleted += 1;
      }
    } catch (error) {
      failures.set(
        '(tagged queues)',
        sanitizeReason(`${(error as Error).name}: ${(error as Error).message}`),
      );
    }
    if (failures.size > 0) {
      const list = [...failures].slice(0, 10).map(([id, reason]) => `${id} (${reason})`);
      throw new Error(
        `teardown left ${failures.size} destination(s) behind after ${retry.rounds} round(s): ${list.join('; ')}`,
      );
    }
    const destinations = all.length;
    logger.info('teardown finished', { destinations, queuesDeleted, secretsDeleted });
    return { destinations, queuesDeleted, secretsDeleted };
  }

  async function reconcileAll(): Promise<void> {
    const records = await deps.store.list();
    const ids = new Set(records.map((r) => r.destination.id));
    const orphans = (await deps.mappings.list()).filter((id) => !ids.has(id));
    await pMap(
      [...ids, ...orphans],
      async (id) => {
        try {
          await converge(id);
        } catch {
          // Recorded as FAILED and logged by converge; the next reconcile tries again.
        }
      },
      { concurrency: deps.concurrency ?? 4 },
    );
  }

  return {
    converge,
    reconcileAll,
    teardownAll,
    notify(destinationId) {
      converge(destinationId).catch(() => {
        // Recorded and logged by converge; the periodic reconcile retries.
      });
    },
    async settle() {
      while (running.size > 0) await Promise.allSettled([...running.values()]);
    },
  };
}

function sameState(a: ProvisioningState, b: ProvisioningState): boolean {
  return (
    a.status === b.status &&
    a.statusReason === b.statusReason &&
    a.queueUrl === b.queueUrl &&
    a.dlqUrl === b.dlqUrl
  );
}

function leftoverReason(destinationId: string, message: Message, at: Date) {
  const attributes = message.Attributes ?? {};
  return {
    failure: {
      failureClass: 'permanent' as const,
      code: DESTINATION_DELETED,
      message: 'the destination was deleted with force=true before this event was delivered',
    },
    destinationId,
    failedAt: at,
    firstAttemptAt: new Date(
      Number(attributes.ApproximateFirstReceiveTimestamp ?? attributes.SentTimestamp) || at.getTime(),
    ),
    attempts: Number(attributes.ApproximateReceiveCount) || 1,
    eventId: fromMessage(message).eventId,
  };
}
