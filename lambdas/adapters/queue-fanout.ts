import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES } from '../core/limits.js';

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
  readonly bytes: number;
  readonly settle: (error?: Error) => void;
}

/** Entry-level failures SQS reports as the sender's fault are not worth retrying. */
const MAX_ENTRY_ATTEMPTS = 3;

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
        const bytes = Buffer.byteLength(body, 'utf8') + attributeBytes(attributes);
        const results = targets.map(
          (target) =>
            new Promise<{ destinationId: string; error?: Error }>((resolve) => {
              const queue = this.buffers.get(target.queueName) ?? [];
              this.buffers.set(target.queueName, queue);
              queue.push({
                body,
                attributes,
                bytes,
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
    while (queue.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < queue.length && count < SQS_MAX_BATCH_ENTRIES) {
        const next = queue[count] as Pending;
        if (count > 0 && bytes + next.bytes > SQS_MAX_BATCH_BYTES) break;
        bytes += next.bytes;
        count += 1;
      }
      const full = count === SQS_MAX_BATCH_ENTRIES || count < queue.length;
      if (!full && !all) return;
      void this.sendBatch(queueName, queue.splice(0, count));
    }
  }

  private async sendBatch(queueName: string, batch: Pending[]): Promise<void> {
    let remaining = batch;
    for (let attempt = 1; remaining.length > 0; attempt += 1) {
      let output: SendMessageBatchCommandOutput;
      try {
        output = await this.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: `${this.queueUrlBase}${queueName}`,
            Entries: remaining.map((p, i) => ({
              Id: String(i),
              MessageBody: p.body,
              MessageAttributes: p.attributes,
            })),
          }),
        );
      } catch (error) {
        // The SDK already retried throttling and 5xx; the caller answers 5xx and the producer retries.
        for (const p of remaining) p.settle(error as Error);
        return;
      }
      for (const ok of output.Successful ?? []) remaining[Number(ok.Id)]?.settle();
      const retry: Pending[] = [];
      for (const failed of output.Failed ?? []) {
        const p = remaining[Number(failed.Id)];
        if (!p) continue;
        if (failed.SenderFault || attempt >= MAX_ENTRY_ATTEMPTS) {
          p.settle(new Error(`SQS rejected the message for ${queueName}: ${failed.Code ?? 'unknown'}`));
        } else {
          retry.push(p);
        }
      }
      remaining = retry;
      if (remaining.length > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
}

function attributeBytes(attributes: SendMessageBatchRequestEntry['MessageAttributes']): number {
  let n = 0;
  for (const [name, value] of Object.entries(attributes ?? {})) {
    n +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? '') +
      Buffer.byteLength(value.StringValue ?? '');
  }
  return n;
}
