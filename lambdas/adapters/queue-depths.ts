import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * A destination's backlog, from SQS and CloudWatch:
 *
 * - counts from SQS GetQueueAttributes (`ApproximateNumberOfMessages` + `...Delayed` queued,
 *   `...NotVisible` in flight, which includes messages waiting out a retry's backoff), two calls per
 *   destination (its queue and its DLQ);
 * - the oldest message's age from CloudWatch's `AWS/SQS ApproximateAgeOfOldestMessage`, a free
 *   per-queue metric (SQS has no attribute for it), read for up to 500 queues per GetMetricData call.
 *   The emulator has no SQS metrics, and a queue with no datapoint in the last 10 minutes has none:
 *   the age is then null (unknown), never 0.
 */

export interface QueueBacklog {
  readonly queued: number;
  readonly inFlight: number;
  readonly dlqDepth: number;
}

export class QueueDepths {
  public constructor(
    private readonly sqs: SQSClient,
    private readonly cloudWatch?: CloudWatchClient,
  ) {}

  public async backlog(queueUrl: string | undefined, dlqUrl: string | undefined): Promise<QueueBacklog> {
    const none: Record<string, string | undefined> = {};
    const [queue, dlq] = await Promise.all([
      queueUrl
        ? this.attributes(queueUrl, [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesDelayed',
            'ApproximateNumberOfMessagesNotVisible',
          ])
        : none,
      dlqUrl ? this.attributes(dlqUrl, ['ApproximateNumberOfMessages']) : none,
    ]);
    const n = (v: string | undefined) => Number(v ?? 0) || 0;
    return {
      queued: n(queue.ApproximateNumberOfMessages) + n(queue.ApproximateNumberOfMessagesDelayed),
      inFlight: n(queue.ApproximateNumberOfMessagesNotVisible),
      dlqDepth: n(dlq.ApproximateNumberOfMessages),
    };
  }

  /** Oldest message age (seconds) per queue name: the latest 1-minute maximum of the last 10 minutes. */
  public async oldestAges(queueNames: readonly string[], now: Date): Promise<Map<string, number>> {
    const ages = new Map<string, number>();
    if (!this.cloudWatch || queueNames.length === 0) return ages;
    for (let start = 0; start < queueNames.length; start += 500) {
      const names = queueNames.slice(start, start + 500);
      let next: string | undefined;
      do {
        const res = await this.cloudWatch.send(
          new GetMetricDataCommand({
            StartTime: new Date(now.getTime() - 10 * 60_000),
            EndTime: now,
            ScanBy: 'TimestampDescending',
            MetricDataQueries: names.map((name, i) => ({
              Id: `q${i}`,
              MetricStat: {
                Metric: {
                  Namespace: 'AWS/SQS',
                  MetricName: 'ApproximateAgeOfOldestMessage',
                  Dimensions: [{ Name: 'QueueName', Value: name }],
                },
                Period: 60,
                Stat: 'Maximum',
              },
            })),
            ...(next ? { NextToken: next } : {}),
          }),
        );
        for (const result of res.MetricDataResults ?? []) {
          const name = names[Number(result.Id?.slice(1))];
          const value = result.Values?.[0];
          if (name !== undefined && value !== undefined && !ages.has(name)) ages.set(name, value);
        }
        next = res.NextToken;
      } while (next);
    }
    return ages;
  }

  private async attributes(queueUrl: string, names: string[]): Promise<Record<string, string | undefined>> {
    const res = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names as never }),
    );
    return res.Attributes ?? {};
  }
}
