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
 * Calls per chunk for entries SQS failed on its side (`SenderFault: false`, e.g. InternalError or
 * throttling). The SDK retries a failed call, not the failed entries of a successful one.
 */
const ENTRY_ATTEMPTS = 3;

/**
 * Sends messages to one queue in SendMessageBatch calls of at most 10 entries and 1 MiB. A failed call
 * or entry is reported, not thrown, so the caller decides per message (retry, keep, count). Entries
 * SQS failed on its side are retried a few times first; entries it rejected as the sender's fault are
 * reported at once.
 */
export async function sendMessages<K>(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage<K>[],
  options: { readonly retryDelayMs?: number } = {},
): Promise<{ sent: K[]; failed: { key: K; reason: string }[] }> {
  const sent: K[] = [];
  const failed: { key: K; reason: string }[] = [];
  const limits = { maxCount: SQS_MAX_BATCH_ENTRIES, maxBytes: SQS_MAX_BATCH_BYTES };
  for (const chunk of chunkBy(messages, limits, (m) => Buffer.byteLength(m.body) + ATTRIBUTE_ALLOWANCE)) {
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const batch = pending;
      pending = [];
      try {
        const res = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((m, n) => ({
              Id: String(n),
              MessageBody: m.body,
              MessageAttributes: m.attributes,
            })),
          }),
        );
        for (const ok of res.Successful ?? []) sent.push((batch[Number(ok.Id)] as OutgoingMessage<K>).key);
        for (const f of res.Failed ?? []) {
          const m = batch[Number(f.Id)] as OutgoingMessage<K>;
          if (f.SenderFault !== true && attempt < ENTRY_ATTEMPTS) pending.push(m);
          else failed.push({ key: m.key, reason: f.Code ?? 'unknown' });
        }
      } catch (error) {
        // The SDK already retried the call itself.
        for (const m of batch) failed.push({ key: m.key, reason: (error as Error).name });
      }
      if (pending.length > 0)
        await new Promise((r) => setTimeout(r, (options.retryDelayMs ?? 100) * 2 ** (attempt - 1)));
    }
  }
  return { sent, failed };
}
