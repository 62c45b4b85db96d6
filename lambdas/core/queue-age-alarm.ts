import { type Destination, deliverySettings } from '../destinations/index.js';
import { queueNames } from './resources.js';

/**
 * The one alarm Pushrail keeps per destination: its queue's oldest message is older than the
 * destination's window allows. It is per destination because the window is (an S3 destination's
 * `flushIntervalSec`, EventBridge's 1 s): one stack-wide alarm could only use the largest window and
 * would miss a stalled destination with a short one. It costs one standard alarm metric a month per
 * destination (README "Alarms and dashboard").
 *
 * What it catches: a destination whose events wait (an outage retried with backoff, a paused or broken
 * mapping, a consumer that crashes before it classifies, throttling), and messages left on a queue
 * that has no destination any more (redriven to the DLQ only after `maxReceiveCount` receives).
 */
export interface QueueAgeAlarmSpec {
  readonly AlarmName: string;
  readonly AlarmDescription: string;
  readonly Namespace: 'AWS/SQS';
  readonly MetricName: 'ApproximateAgeOfOldestMessage';
  readonly Dimensions: readonly { readonly Name: 'QueueName'; readonly Value: string }[];
  readonly Statistic: 'Maximum';
  readonly Period: number;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm: number;
  readonly Threshold: number;
  readonly ComparisonOperator: 'GreaterThanThreshold';
  /** An idle queue publishes no data points: that is not a stall. */
  readonly TreatMissingData: 'notBreaching';
  readonly AlarmActions: readonly string[];
  readonly OKActions: readonly string[];
}

/** The suffix of every queue-age alarm name, after `<prefix>-<destination id>`. */
export const QUEUE_AGE_ALARM_SUFFIX = '-queue-age';

/** SQS publishes its metrics every minute; five breaching minutes in a row raise the alarm. */
const PERIOD_SECONDS = 60;
const EVALUATION_PERIODS = 5;

export function queueAgeAlarmName(namePrefix: string, destinationId: string): string {
  return `${namePrefix}-${destinationId}${QUEUE_AGE_ALARM_SUFFIX}`;
}

/**
 * The age the oldest message may reach before the alarm counts a minute as late: one batching window
 * to gather the batch, then one visibility timeout for the consumer to deliver it (which is itself the
 * function timeout with margin, core visibilityTimeoutSeconds). Any older and it has been retried, or
 * nobody is consuming.
 */
export function allowedAgeSeconds(destination: Destination): number {
  const settings = deliverySettings(destination);
  return settings.windowSeconds + settings.visibilityTimeoutSeconds;
}

export function queueAgeAlarm(
  namePrefix: string,
  destination: Destination,
  actions: readonly string[] = [],
): QueueAgeAlarmSpec {
  const allowed = allowedAgeSeconds(destination);
  return {
    AlarmName: queueAgeAlarmName(namePrefix, destination.id),
    AlarmDescription:
      `Pushrail destination ${destination.id} (${destination.type}): its oldest queued event is older than ` +
      `${allowed} s (window + one delivery attempt) for ${EVALUATION_PERIODS} minutes. ` +
      `Check: npx pushrail health --destination ${destination.id}`,
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateAgeOfOldestMessage',
    Dimensions: [{ Name: 'QueueName', Value: queueNames(namePrefix, destination.id).queue }],
    Statistic: 'Maximum',
    Period: PERIOD_SECONDS,
    EvaluationPeriods: EVALUATION_PERIODS,
    DatapointsToAlarm: EVALUATION_PERIODS,
    Threshold: allowed,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'notBreaching',
    AlarmActions: [...actions],
    OKActions: [...actions],
  };
}
