import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Every message of a queue, left in place: received once each (hidden while the scan runs), then made
 * visible again. The scan hides for an hour: on moto a receive walks the whole queue, so scanning a
 * few thousand messages can outlast a short timeout, and the first ones would come back and be
 * received again without end.
 */
export async function peekQueue(sqs: SQSClient, queueUrl: string): Promise<Message[]> {
  const out: Message[] = [];
  const ids = new Set<string>();
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 3600,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    const fresh = Messages.filter((m) => !ids.has(m.MessageId ?? ''));
    if (fresh.length === 0) break;
    for (const m of fresh) ids.add(m.MessageId ?? '');
    out.push(...fresh);
  }
  for (let i = 0; i < out.length; i += 10) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: out
          .slice(i, i + 10)
          .map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '', VisibilityTimeout: 0 })),
      }),
    );
  }
  return out;
}
