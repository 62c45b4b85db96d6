import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import { queueAgeAlarm, queueAgeAlarmName } from '../core/queue-age-alarm.js';
import { createTokenBucket } from '../core/token-bucket.js';
import type { Destination } from '../destinations/index.js';

/** The provisioner's per-destination alarm (core/queue-age-alarm.ts): put with the queue, deleted with it. */
export interface QueueAlarmPort {
  /** Creates or updates the destination's queue-age alarm; idempotent. */
  ensure(destination: Destination): Promise<void>;
  /** Deletes the alarms of these destinations; those already gone are done. */
  remove(destinationIds: readonly string[]): Promise<void>;
}

export interface CloudWatchQueueAlarmsOptions {
  readonly cloudwatch: Pick<CloudWatchClient, 'send'>;
  readonly namePrefix: string;
  /** Where the alarms notify (the stack's alarm topic). @default none */
  readonly actions?: readonly string[];
  /**
   * PutMetricAlarm and DeleteAlarms calls per second, at most: CloudWatch's default quota for them is
   * low (a few per second per account and Region), and the reconcile visits every destination.
   * @default 2
   */
  readonly callsPerSecond?: number;
}

/** DeleteAlarms takes at most 100 names per call. */
const DELETE_BATCH = 100;

/**
 * The alarms on CloudWatch. PutMetricAlarm overwrites, so `ensure` is idempotent; it is called only
 * when the alarm's settings differ from what this container last put, so the 5-minute reconcile of
 * 1,000 destinations does not put 1,000 alarms each time (a cold start puts each once more).
 */
export function cloudWatchQueueAlarms(options: CloudWatchQueueAlarmsOptions): QueueAlarmPort {
  const pace = createTokenBucket({ ratePerSecond: options.callsPerSecond ?? 2 });
  const put = new Map<string, string>();
  return {
    async ensure(destination) {
      const spec = queueAgeAlarm(options.namePrefix, destination, options.actions ?? []);
      const key = JSON.stringify(spec);
      if (put.get(spec.AlarmName) === key) return;
      await pace.take();
      await options.cloudwatch.send(
        new PutMetricAlarmCommand({
          ...spec,
          Dimensions: [...spec.Dimensions],
          AlarmActions: [...spec.AlarmActions],
          OKActions: [...spec.OKActions],
        }),
      );
      put.set(spec.AlarmName, key);
    },
    async remove(destinationIds) {
      const names = destinationIds.map((id) => queueAgeAlarmName(options.namePrefix, id));
      for (let i = 0; i < names.length; i += DELETE_BATCH) {
        const batch = names.slice(i, i + DELETE_BATCH);
        await pace.take();
        try {
          await options.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: batch }));
        } catch (error) {
          // One missing name fails the whole call (and deletes none): delete them one by one, a
          // missing one counting as deleted.
          if (!isNotFound(error)) throw error;
          for (const name of batch) {
            await pace.take();
            try {
              await options.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: [name] }));
            } catch (e) {
              if (!isNotFound(e)) throw e;
            }
          }
        }
        for (const name of batch) put.delete(name);
      }
    },
  };
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && error.name === 'ResourceNotFound';
}
