import type { SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { EnqueueError } from '../core/errors.js';
import { SQS_MAX_BATCH_ENTRIES } from '../core/limits.js';
import { type BatchFailure, sendBatch, sendChunks } from './sqs-queue.js';

/** One message for one destination queue. */
export interface FanoutMessage {
  readonly destinationId: string;
  readonly queueName: string;
}

/** One event's view of the batcher. */
export interface FanoutParticipant {
  /** Enqueues the event's message to each target queue; resolves when every send has settled. */
  send(
    body: string,
    attributes: SendMessageBatchRequestEntry['MessageAttributes'],
    targets: readonly FanoutMessage[],
  ): Promise<FanoutOutcome>;
  /** The event needs no (more) sends: it was a duplicate, failed early, or already sent. */
  finish(): void;
}

export interface FanoutOutcome {
  readonly succeeded: readonly string[];
  readonly failed: readonly { readonly destinationId: string; readonly error: Error }[];
}

interface Pending {
  readonly body: string;
  readonly attributes: SendMessageBatchRequestEntry['MessageAttributes'];
  readonly settle: (error?: Error) => void;
}

/**
 * Batches the messages of one ingest request into full SendMessageBatch calls.
 *
 * Each event of a request is processed on its own (its own idempotency record), but one call per
 * event per queue would cost 10x the SQS requests. So every event joins this batcher; its messages
 * wait in a per-queue buffer that is sent as soon as it holds 10 entries (or 1 MiB), and whatever
 * is left is sent the moment every participant is either waiting here or finished — never on a timer,
 * so a 500-event request costs exactly ⌈500/10⌉ calls per queue.
 */
export class QueueFanout {
  private readonly buffers = new Map<string, Pending[]>();
  private running: number;

  public constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrlBase: string,
    participants: number,
  ) {
    this.running = participants;
  }

  /** A handle for one event of the request; each participant goes idle exactly once. */
  public participant(): FanoutParticipant {
    let idle = false;
    const goIdle = () => {
      if (idle) return;
      idle = true;
      this.running -= 1;
      if (this.running <= 0) for (const queueName of this.buffers.keys()) this.flush(queueName, true);
    };
    return {
      send: async (body, attributes, targets) => {
        const results = targets.map(
          (target) =>
            new Promise<{ destinationId: string; error?: Error }>((resolve) => {
              const queue = this.buffers.get(target.queueName) ?? [];
              this.buffers.set(target.queueName, queue);
              queue.push({
                body,
                attributes,
                settle: (error) => resolve({ destinationId: target.destinationId, error }),
              });
              if (queue.length >= SQS_MAX_BATCH_ENTRIES) this.flush(target.queueName, false);
            }),
        );
        goIdle(); // waiting on the batch now: if everyone else is too, the partial batches go out
        const settled = await Promise.all(results);
        return {
          succeeded: settled.filter((s) => !s.error).map((s) => s.destinationId),
          failed: settled.flatMap((s) =>
            s.error ? [{ destinationId: s.destinationId, error: s.error }] : [],
          ),
        };
      },
      finish: goIdle,
    };
  }

  /** Sends full batches; with `all`, also the last partial one. */
  private flush(queueName: string, all: boolean): void {
    const queue = this.buffers.get(queueName);
    if (!queue) return;
    // Cut as the adapter cuts: every batch but the last is full (by count or by bytes).
    const batches = sendChunks(queue);
    const last = batches.at(-1);
    const kept = !all && last && last.length < SQS_MAX_BATCH_ENTRIES ? (batches.pop() as Pending[]) : [];
    queue.splice(0, queue.length, ...kept);
    for (const batch of batches) void this.send(queueName, batch);
  }

  private async send(queueName: string, batch: Pending[]): Promise<void> {
    let sent: Pending[];
    let failed: BatchFailure<Pending>[];
    try {
      ({ sent, failed } = await sendBatch(
        this.sqs,
        `${this.queueUrlBase}${queueName}`,
        batch.map((p) => ({ key: p, body: p.body, attributes: p.attributes })),
      ));
    } catch (error) {
      // sendBatch reports rather than throws; this only keeps a bug from leaving the request waiting.
      [sent, failed] = [[], batch.map((key) => ({ key, reason: 'Error', cause: error }))];
    }
    for (const p of sent) p.settle();
    // The SDK already retried a failed call: the caller answers 5xx and the producer retries.
    for (const f of failed) f.key.settle(new EnqueueError(queueName, f.reason, { cause: f.cause }));
  }
}
