import { Duration } from 'aws-cdk-lib';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE_SETTINGS, queueNames } from '../lambdas/core/resources.js';

export interface DestinationQueueProps {
  /** Prefix of the physical queue names: the stack name. */
  readonly namePrefix: string;
  /** The destination's `id` from the config. */
  readonly destinationId: string;
  /**
   * Visibility timeout of the work queue. It must come from the queue's consumer
   * (`visibilityTimeoutSeconds` of its function timeout and batching window), so a message is
   * not handed out again while an invocation may still be working on it.
   */
  readonly visibilityTimeout: Duration;
}

/**
 * One destination's work queue and its dead-letter queue.
 *
 * Names are explicit (`queueNames`) because the ingest function builds queue URLs from them. Both
 * queues use SQS-managed encryption (no KMS key to pay for or grant) and deny non-TLS requests.
 * Retention and `maxReceiveCount` come from QUEUE_SETTINGS, where the reasons are written down; the
 * visibility timeout comes from the consumer (see `visibilityTimeout`).
 *
 * The queues are deleted with the stack: an event that was accepted is still in the retained events
 * table, from which `replay --source events` can re-enqueue it.
 */
export class DestinationQueue extends Construct {
  public readonly queue: IQueue;
  public readonly dlq: IQueue;

  public constructor(scope: Construct, id: string, props: DestinationQueueProps) {
    super(scope, id);
    const names = queueNames(props.namePrefix, props.destinationId);

    this.dlq = new Queue(this, 'Dlq', {
      queueName: names.dlq,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(QUEUE_SETTINGS.dlqRetentionSeconds),
    });

    this.queue = new Queue(this, 'Queue', {
      queueName: names.queue,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(QUEUE_SETTINGS.retentionSeconds),
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount },
    });
  }
}
