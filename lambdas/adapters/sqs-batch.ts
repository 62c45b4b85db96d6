import { type MessageAttributeValue, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { chunkBy } from '../core/chunks.js';
import { SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES } from '../core/limits.js';

export interface OutgoingMessage<K> {
  /** The caller's handle for the message, returned in `sent` or `failed`. */
  readonly key: K;
  readonly body: string;
  readonly attributes?: Record<string, MessageAttributeValue>;
}

/** Room for attributes next to the body when sizing batches (reason attributes stay well below it). */
const ATTRIBUTE_ALLOWANCE = 1024;

/**
 * Sends messages to one queue in SendMessageBatch calls of at most 10 entries and 1 MiB. A failed call
 * or entry is reported, not thrown, so the caller decides per message (retry, keep, count).
 */
export async function sendMessages<K>(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage<K>[],
): Promise<{ sent: K[]; failed: { key: K; reason: string }[] }> {
  const sent: K[] = [];
  const failed: { key: K; reason: string }[] = [];
  const limits = { maxCount: SQS_MAX_BATCH_ENTRIES, maxBytes: SQS_MAX_BATCH_BYTES };
  for (const chunk of chunkBy(messages, limits, (m) => Buffer.byteLength(m.body) + ATTRIBUTE_ALLOWANCE)) {
    try {
      const res = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((m, n) => ({
            Id: String(n),
            MessageBody: m.body,
            MessageAttributes: m.attributes,
          })),
        }),
      );
      for (const ok of res.Successful ?? []) sent.push((chunk[Number(ok.Id)] as OutgoingMessage<K>).key);
      for (const f of res.Failed ?? [])
        failed.push({ key: (chunk[Number(f.Id)] as OutgoingMessage<K>).key, reason: f.Code ?? 'unknown' });
    } catch (error) {
      for (const m of chunk) failed.push({ key: m.key, reason: (error as Error).name });
    }
  }
  return { sent, failed };
}
