import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

/** An SQS-triggered handler, as the destination Lambdas export it. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  /** The event source mapping's BatchSize. */
  readonly batchSize: number;
  /** The event source mapping's MaximumBatchingWindowInSeconds. */
  readonly windowSeconds: number;
  readonly handler: SqsHandler;
  readonly functionName: string;
  /** Longest long poll of one ReceiveMessage (0-20). @default 20 */
  readonly waitSeconds?: number;
  /** Lambda timeout, for the context's getRemainingTimeInMillis. */
  readonly timeoutSeconds?: number;
  readonly onError?: (error: unknown) => void;
}

export interface BatchResult {
  readonly received: number;
  readonly failed: number;
  /** Messages deleted after the handler (received minus reported failures). */
  readonly deleted: number;
}

/** The event source mapping's invocation payload limit. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * A local stand-in for the SQS event source mapping: gathers up to `batchSize` messages for at most
 * `windowSeconds` after the first one arrives (or until the 6 MB invocation payload is reached), invokes
 * the handler, and deletes the messages it did not report in `batchItemFailures` — everything when it
 * throws stays. Failed messages come back when their visibility ends, which the handler may have set.
 */
export class QueuePoller {
  private running = false;
  /** Set by stop() until the next start(): a gather under way hands its messages back. */
  private stopping = false;
  private loop: Promise<void> | undefined;
  private abort = new AbortController();

  public constructor(private readonly options: PollerOptions) {}

  public start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.abort = new AbortController();
    this.loop = (async () => {
      while (this.running) {
        try {
          await this.runOnce();
        } catch (error) {
          if (!this.running) break;
          this.options.onError?.(error);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
  }

  /**
   * Stops polling and waits for the batch in hand to finish. By default a receive under way is
   * aborted (shutdown: fast, and what it was about to get comes back after the visibility timeout).
   * `graceful` lets it return instead and hands back what it got at once: a pause or a delete must
   * not leave messages hidden, and an aborted long poll can still take messages off the queue (the
   * server does not know the client went away).
   */
  public async stop(options: { readonly graceful?: boolean } = {}): Promise<void> {
    this.running = false;
    this.stopping = true;
    if (!options.graceful) this.abort.abort();
    await this.loop;
  }

  /**
   * Gathers one batch and runs it. With `deleteAfter: false` the handler runs but nothing is deleted,
   * as when a function crashes after doing its work: the messages come back after their visibility.
   */
  public async runOnce(
    options: { readonly deleteAfter?: boolean; readonly maxWaitSeconds?: number } = {},
  ): Promise<BatchResult> {
    const messages = await this.gather(options.maxWaitSeconds ?? 20);
    if (messages.length === 0) return { received: 0, failed: 0, deleted: 0 };
    const event: SQSEvent = { Records: messages.map((m) => this.toRecord(m)) };
    let response: SQSBatchResponse | undefined;
    try {
      response = await this.options.handler(event, this.context());
    } catch (error) {
      this.options.onError?.(error);
      return { received: messages.length, failed: messages.length, deleted: 0 };
    }
    const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    if (options.deleteAfter !== false) await this.delete(done);
    return {
      received: messages.length,
      failed: failed.size,
      deleted: options.deleteAfter === false ? 0 : done.length,
    };
  }

  private async gather(maxWaitSeconds: number): Promise<Message[]> {
    const { sqs, queueUrl, batchSize, windowSeconds } = this.options;
    const batch: Message[] = [];
    let bytes = 0;
    let deadline = Number.POSITIVE_INFINITY;
    const giveUpAt = Date.now() + maxWaitSeconds * 1000;
    while (batch.length < batchSize && bytes < MAX_PAYLOAD_BYTES) {
      const now = Date.now();
      const until = batch.length === 0 ? giveUpAt : deadline;
      if (now >= until) break;
      const wait = Math.min(this.options.waitSeconds ?? 20, Math.max(0, Math.floor((until - now) / 1000)));
      let out: ReceiveMessageCommandOutput;
      try {
        out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, batchSize - batch.length),
            WaitTimeSeconds: wait,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.abort.signal },
        );
      } catch (error) {
        // Stopped while gathering (a pause): hand back what was gathered now rather than after the
        // queue's visibility timeout (minutes), so a resume or a forced delete finds it at once.
        if (this.abort.signal.aborted && batch.length > 0) await this.release(batch).catch(() => undefined);
        throw error;
      }
      for (const m of out.Messages ?? []) {
        if (batch.length === 0) deadline = Date.now() + windowSeconds * 1000;
        batch.push(m);
        bytes += Buffer.byteLength(m.Body ?? '');
      }
      if (this.stopping) {
        // Stopped (gracefully) while gathering: the batch is not run; its messages go back now.
        if (batch.length > 0) await this.release(batch);
        return [];
      }
      if ((out.Messages ?? []).length === 0 && batch.length > 0 && wait === 0) break;
    }
    return batch;
  }

  private toRecord(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    return {
      messageId: m.MessageId ?? randomUUID(),
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? 'local',
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: toLambdaAttributes(m.MessageAttributes),
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queueArn,
      awsRegion: this.options.region,
    };
  }

  private context(): Context {
    const deadline = Date.now() + (this.options.timeoutSeconds ?? 120) * 1000;
    const requestId = randomUUID();
    return {
      callbackWaitsForEmptyEventLoop: false,
      functionName: this.options.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.options.region}:000000000000:function:${this.options.functionName}`,
      memoryLimitInMB: '1024',
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${this.options.functionName}`,
      logStreamName: 'local',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
  }

  private async release(messages: readonly Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      await this.options.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: messages
            .slice(i, i + 10)
            .map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '', VisibilityTimeout: 0 })),
        }),
      );
    }
  }

  private async delete(messages: readonly Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      await this.options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: chunk.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }
}

function toLambdaAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    out[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return out;
}
