import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { Destination } from '../../../lambdas/destinations/index.js';
import { QueuePoller, type SqsHandler } from '../../../local/queue-poller.js';
import { CRASH_POINTS, type CrashPoint, type FaultPlan } from './faults.js';
import { pick } from './workload.js';

/**
 * The destination consumers of the suite: each destination's real handler, built the way the local
 * runtime builds it, under a QueuePoller with the deployed batch settings, wrapped so the test can
 * crash an invocation at a chosen step boundary and bring its messages back at once. The four
 * consumers run concurrently, as their event source mappings do; each runs one batch at a time.
 *
 * Visibility: a transient failure makes the consumer set the message's visibility to its backoff
 * delay (30 s and up); the suite gives both handlers `random = () => 0`, so that delay is 0. After a
 * crash (or a run that skips the delete) the batch would come back when the queue's visibility timeout
 * ends (12 min); the suite sets its visibility to 0 — that is the timeout passing, sooner. It does the
 * same for the reported failures, in case a handler sets a delay the seam does not cover.
 */

/** Thrown by the wrapper for an invocation that died at a step boundary (any other error fails the suite). */
export class SimulatedCrash extends Error {
  public constructor(point: CrashPoint) {
    super(`simulated crash at ${point}`);
    this.name = 'SimulatedCrash';
  }
}

interface Invocation {
  records: readonly SQSRecord[];
  response: SQSBatchResponse | undefined;
  crashed: CrashPoint | undefined;
}

export class SuiteConsumer {
  /** Crash points that must still happen at least once on this consumer. */
  public readonly pendingCrashes: CrashPoint[];
  public invocations = 0;
  public readonly poller: QueuePoller;
  private last: Invocation | undefined;

  public constructor(
    public readonly destination: Destination,
    /** The queue on moto (the poller reads it directly, not through the proxy). */
    public readonly queueUrl: string,
    public readonly dlqUrl: string,
    public readonly batchSize: number,
    private readonly plan: FaultPlan,
    poller: Omit<ConstructorParameters<typeof QueuePoller>[0], 'handler' | 'onError' | 'batchSize'>,
    handler: SqsHandler,
    onError: (error: unknown) => void,
  ) {
    this.pendingCrashes = [...CRASH_POINTS[destination.type]];
    const wrapped: SqsHandler = async (event, context) => {
      const invocation: Invocation = { records: event.Records, response: undefined, crashed: undefined };
      this.last = invocation;
      try {
        invocation.response = (await handler(event, context)) ?? undefined;
      } finally {
        invocation.crashed = this.plan.endInvocation(destination.id);
      }
      // The function died at that boundary: whatever it was about to answer is never seen.
      if (invocation.crashed && invocation.crashed !== 'before-delete')
        throw new SimulatedCrash(invocation.crashed);
      return invocation.response;
    };
    this.poller = new QueuePoller({ ...poller, batchSize, handler: wrapped, onError });
  }

  /** Takes the record of the invocation that just ran. */
  public takeLast(): Invocation | undefined {
    const last = this.last;
    this.last = undefined;
    return last;
  }
}

export class SuitePipeline {
  public readonly consumers: SuiteConsumer[] = [];
  public readonly unexpectedErrors: unknown[] = [];

  public constructor(
    private readonly sqs: SQSClient,
    private readonly plan: FaultPlan,
    private readonly random: () => number,
    /** After every crash point has happened once, the share of invocations that crash. */
    private readonly crashRate: number,
  ) {}

  public add(options: {
    destination: Destination;
    queueUrl: string;
    queueArn: string;
    dlqUrl: string;
    handler: SqsHandler;
    batchSize: number;
    windowSeconds: number;
    timeoutSeconds: number;
    region: string;
  }): void {
    this.consumers.push(
      new SuiteConsumer(
        options.destination,
        options.queueUrl,
        options.dlqUrl,
        options.batchSize,
        this.plan,
        {
          sqs: this.sqs,
          queueUrl: options.queueUrl,
          queueArn: options.queueArn,
          region: options.region,
          windowSeconds: options.windowSeconds,
          timeoutSeconds: options.timeoutSeconds,
          functionName: `fault-suite-${options.destination.id}`,
        },
        options.handler,
        (error) => {
          if (!(error instanceof SimulatedCrash)) this.unexpectedErrors.push(error);
        },
      ),
    );
  }

  /** One invocation of a consumer, crashing it at a step boundary when one is due. */
  public async invoke(consumer: SuiteConsumer): Promise<void> {
    const id = consumer.destination.id;
    let point: CrashPoint | undefined = consumer.pendingCrashes[0];
    if (!point && this.random() < this.crashRate)
      point = pick(this.random, CRASH_POINTS[consumer.destination.type]);
    if (point) this.plan.arm(id, point, consumer.batchSize);
    const result = await consumer.poller.runOnce({
      deleteAfter: point !== 'before-delete',
      maxWaitSeconds: 1,
    });
    const last = consumer.takeLast();
    if (result.received === 0) {
      this.plan.disarm(id);
      return;
    }
    consumer.invocations += 1;
    if (!last) throw new Error(`consumer ${id} received messages but its handler did not run`);
    if (last.crashed) {
      const at = consumer.pendingCrashes.indexOf(last.crashed);
      if (at >= 0) consumer.pendingCrashes.splice(at, 1);
    }
    // Whatever is still in flight comes back now: the whole batch after a crash, a skipped delete or
    // an unexpected throw; the reported failures otherwise.
    const everything = last.crashed !== undefined || last.response === undefined;
    const failed = new Set((last.response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    await this.makeVisible(
      consumer.queueUrl,
      last.records.filter((r) => everything || failed.has(r.messageId)).map((r) => r.receiptHandle),
    );
  }

  /**
   * Runs the given consumers, concurrently, until each one's queue is empty (nothing visible, nothing in flight);
   * `afterInvocation` runs after each invocation of a consumer (the suite reads the bus inboxes there).
   */
  public async drain(options: {
    /** The destinations whose consumers run. */
    readonly only: readonly string[];
    readonly maxInvocations: number;
    readonly afterInvocation?: (consumer: SuiteConsumer) => Promise<void>;
  }): Promise<void> {
    await Promise.all(
      this.consumers
        .filter((c) => options.only.includes(c.destination.id))
        .map(async (consumer) => {
          let stuckSince: number | undefined;
          for (let n = 0; ; ) {
            const counts = await queueCounts(this.sqs, consumer.queueUrl);
            if (counts.visible + counts.inFlight === 0) return;
            if (counts.visible > 0) {
              stuckSince = undefined;
              await this.invoke(consumer);
              await options.afterInvocation?.(consumer);
              n += 1;
              if (n >= options.maxInvocations)
                throw new Error(`${consumer.destination.id}: queue not drained after ${n} invocations`);
              continue;
            }
            // Only in-flight messages: nothing the suite leaves invisible should stay so for long.
            stuckSince ??= Date.now();
            if (Date.now() - stuckSince > 15_000)
              throw new Error(
                `${consumer.destination.id}: ${counts.inFlight} messages stay invisible with no invocation running`,
              );
            await new Promise((r) => setTimeout(r, 250));
          }
        }),
    );
  }

  private async makeVisible(queueUrl: string, receiptHandles: readonly string[]): Promise<void> {
    for (let i = 0; i < receiptHandles.length; i += 10) {
      await this.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: receiptHandles
            .slice(i, i + 10)
            .map((h, n) => ({ Id: String(n), ReceiptHandle: h, VisibilityTimeout: 0 })),
        }),
      );
    }
  }
}

export async function queueCounts(
  sqs: SQSClient,
  queueUrl: string,
): Promise<{ visible: number; inFlight: number }> {
  const { Attributes: a } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(a?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}
