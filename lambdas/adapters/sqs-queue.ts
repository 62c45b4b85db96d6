import {
  type BatchResultErrorEntry,
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { chunkBy } from '../core/chunks.js';
import { SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES } from '../core/limits.js';
import { type DeadLetterReason, deadLetterAttributes } from '../core/queue-message.js';

/**
 * The one SQS adapter: every batch call Pushrail makes (send, change visibility, delete, move to the
 * DLQ) goes through here, so they share one sizing rule and one retry policy.
 *
 * Nothing here throws for SQS's sake: a failed entry or call is reported per item, and the caller
 * decides (answer 5xx, keep the message in batchItemFailures, count it, log it). The queue lifecycle
 * calls at the end (create, depth, receive, delete a queue) are the exception: they are the
 * provisioner's steps, which throw so that the step is retried and its error reported.
 */

export interface OutgoingMessage<K> {
  /** The caller's handle for the message, returned in `sent` or `failed`. */
  readonly key: K;
  readonly body: string;
  readonly attributes?: Readonly<Record<string, MessageAttributeValue>> | undefined;
}

export interface BatchFailure<K> {
  readonly key: K;
  /** SQS's error code for the entry, or the name of the error that failed the whole call. */
  readonly reason: string;
  /** The error that failed the whole call; absent when SQS answered for the entry. */
  readonly cause?: unknown;
}

export interface SendResult<K> {
  readonly sent: K[];
  readonly failed: BatchFailure<K>[];
}

export interface SendOptions {
  /** Delay before the first retry of failed entries, doubled for each next one. @default 100 */
  readonly retryDelayMs?: number;
}

export interface VisibilityChange {
  readonly receiptHandle: string;
  readonly visibilityTimeout: number;
}

/** A message to dead-letter, with what its DLQ copy says about why. */
export interface DeadLetter<K> {
  readonly key: K;
  /** The message body as received: the DLQ copy is the same bytes. */
  readonly body: string;
  readonly reason: DeadLetterReason;
}

/**
 * Calls per chunk for entries SQS failed on its side (`SenderFault: false`: InternalError, throttling).
 * The SDK retries a failed call, not the failed entries of a call that succeeded, so that is done
 * here; an entry SQS blames on the sender would fail the same way again, and is reported at once.
 */
const ENTRY_ATTEMPTS = 3;
const RETRY_DELAY_MS = 100;

const SEND_LIMITS = { maxCount: SQS_MAX_BATCH_ENTRIES, maxBytes: SQS_MAX_BATCH_BYTES };
/** Receipt handles are small: only the entry count limits a visibility or delete batch. */
const HANDLE_LIMITS = { maxCount: SQS_MAX_BATCH_ENTRIES, maxBytes: Number.POSITIVE_INFINITY };

/**
 * A message's size as SQS counts it against the 1 MiB limits: the body plus, for each attribute, its
 * name, data type and value.
 */
export function messageBytes(message: Pick<OutgoingMessage<unknown>, 'body' | 'attributes'>): number {
  let bytes = Buffer.byteLength(message.body, 'utf8');
  for (const [name, value] of Object.entries(message.attributes ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '');
    bytes +=
      value.StringValue !== undefined
        ? Buffer.byteLength(value.StringValue)
        : (value.BinaryValue?.byteLength ?? 0);
  }
  return bytes;
}

/** Messages cut, in order, into SendMessageBatch calls of at most 10 entries and 1 MiB. */
export function sendChunks<M extends Pick<OutgoingMessage<unknown>, 'body' | 'attributes'>>(
  messages: readonly M[],
): M[][] {
  return chunkBy(messages, SEND_LIMITS, messageBytes);
}

/** Sends messages to one queue in SendMessageBatch calls of at most 10 entries and 1 MiB. */
export async function sendBatch<K>(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage<K>[],
  options: SendOptions = {},
): Promise<SendResult<K>> {
  return send(sqs, queueUrl, messages, {
    attempts: ENTRY_ATTEMPTS,
    delayMs: options.retryDelayMs ?? RETRY_DELAY_MS,
  });
}

/**
 * Moves messages to a DLQ with the reason as attributes (core/queue-message.ts DLQ_ATTRIBUTES).
 *
 * One call per chunk, no retry of failed entries: the message is still on its source queue, so the
 * caller keeps it in batchItemFailures and SQS hands it back, rather than this Lambda holding the
 * whole batch to retry a few entries.
 */
export async function moveToDlq<K>(
  sqs: SQSClient,
  dlqUrl: string,
  letters: readonly DeadLetter<K>[],
): Promise<{ moved: K[]; failed: BatchFailure<K>[] }> {
  const messages = letters.map((l) => ({
    key: l.key,
    body: l.body,
    attributes: deadLetterAttributes(l.reason),
  }));
  const { sent, failed } = await send(sqs, dlqUrl, messages, { attempts: 1, delayMs: 0 });
  return { moved: sent, failed };
}

/** Sets the visibility timeout of received messages; returns the ones it could not change. */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
): Promise<BatchFailure<string>[]> {
  const { failed } = await inBatches(
    chunkBy(changes, HANDLE_LIMITS, () => 0),
    (batch) =>
      sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((c, n) => ({
            Id: String(n),
            ReceiptHandle: c.receiptHandle,
            VisibilityTimeout: c.visibilityTimeout,
          })),
        }),
      ),
    { attempts: ENTRY_ATTEMPTS, delayMs: RETRY_DELAY_MS },
  );
  return failed.map((f) => ({ ...f, key: f.key.receiptHandle }));
}

/** Deletes received messages by receipt handle; returns the ones it could not delete. */
export async function deleteBatch(
  sqs: SQSClient,
  queueUrl: string,
  receiptHandles: readonly string[],
): Promise<BatchFailure<string>[]> {
  const { failed } = await inBatches(
    chunkBy(receiptHandles, HANDLE_LIMITS, () => 0),
    (batch) =>
      sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((handle, n) => ({ Id: String(n), ReceiptHandle: handle })),
        }),
      ),
    { attempts: ENTRY_ATTEMPTS, delayMs: RETRY_DELAY_MS },
  );
  return failed;
}

interface RetryPolicy {
  readonly attempts: number;
  readonly delayMs: number;
}

async function send<K>(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage<K>[],
  policy: RetryPolicy,
): Promise<SendResult<K>> {
  const { done, failed } = await inBatches(
    sendChunks(messages),
    (batch) =>
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((m, n) => ({
            Id: String(n),
            MessageBody: m.body,
            MessageAttributes: m.attributes,
          })),
        }),
      ),
    policy,
  );
  return { sent: done.map((m) => m.key), failed: failed.map((f) => ({ ...f, key: f.key.key })) };
}

interface BatchOutput {
  readonly Successful?: readonly { readonly Id?: string | undefined }[] | undefined;
  readonly Failed?: readonly BatchResultErrorEntry[] | undefined;
}

/**
 * Runs one batch call per chunk, entry ids being the items' positions in the call, and retries the
 * entries SQS failed on its side, with exponential backoff, up to the policy's attempts.
 */
async function inBatches<T>(
  chunks: readonly (readonly T[])[],
  call: (batch: readonly T[]) => Promise<BatchOutput>,
  policy: RetryPolicy,
): Promise<{ done: T[]; failed: BatchFailure<T>[] }> {
  const done: T[] = [];
  const failed: BatchFailure<T>[] = [];
  for (const chunk of chunks) {
    let pending: readonly T[] = chunk;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const batch = pending;
      const retry: T[] = [];
      pending = retry;
      let output: BatchOutput;
      try {
        output = await call(batch);
      } catch (error) {
        // The SDK already retried the call itself (throttling, 5xx, network errors).
        const reason = error instanceof Error ? error.name : 'Error';
        for (const key of batch) failed.push({ key, reason, cause: error });
        continue;
      }
      const answered = new Set<number>();
      const entry = (id: string | undefined): number | undefined => {
        const n = Number(id);
        if (!Number.isInteger(n) || n < 0 || n >= batch.length || answered.has(n)) return undefined;
        answered.add(n);
        return n;
      };
      for (const ok of output.Successful ?? []) {
        const n = entry(ok.Id);
        if (n !== undefined) done.push(batch[n] as T);
      }
      for (const f of output.Failed ?? []) {
        const n = entry(f.Id);
        if (n === undefined) continue;
        if (f.SenderFault !== true && attempt < policy.attempts) retry.push(batch[n] as T);
        else failed.push({ key: batch[n] as T, reason: f.Code ?? 'unknown' });
      }
      // SQS answers for every entry; one it did not answer for is reported, never assumed done.
      batch.forEach((key, n) => {
        if (!answered.has(n)) failed.push({ key, reason: 'NoResult' });
      });
      if (retry.length > 0) await sleep(policy.delayMs * 2 ** (attempt - 1));
    }
  }
  return { done, failed };
}

// --- Queue lifecycle (the provisioner and the local runtime) -----------------------------------------

/** SQS's names for a queue that does not exist (the SDK's and the older query protocol's). */
const QUEUE_MISSING = ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'NonExistentQueue'];

function queueMissing(error: unknown): boolean {
  return error instanceof Error && QUEUE_MISSING.includes(error.name);
}

/**
 * Creates a queue, or brings an existing one to the given attributes. CreateQueue alone is idempotent
 * only while the attributes are unchanged; an older run (or a consumer that tuned the visibility
 * timeout) must not make the next one fail.
 */
export async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
  tags?: Record<string, string>,
): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes, ...(tags ? { tags } : {}) }),
    );
    if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
    return QueueUrl;
  } catch (error) {
    const exists = error instanceof Error && ['QueueNameExists', 'QueueAlreadyExists'].includes(error.name);
    if (!exists) throw error;
  }
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`GetQueueUrl ${name} returned no QueueUrl`);
  if (Object.keys(attributes).length > 0) {
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
  }
  return QueueUrl;
}

/** The URL of a queue by name, or undefined when there is no such queue (any more). */
export async function findQueueUrl(sqs: SQSClient, name: string): Promise<string | undefined> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    return QueueUrl;
  } catch (error) {
    if (queueMissing(error)) return undefined;
    throw error;
  }
}

export async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

/** What a queue holds, by SQS's approximate counts; undefined when the queue is gone. */
export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<QueueDepth | undefined> {
  try {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  } catch (error) {
    if (queueMissing(error)) return undefined;
    throw error;
  }
}

/** Up to 10 visible messages with their attributes, hidden for `visibilityTimeout` seconds; no long poll. */
export async function receiveMessages(
  sqs: SQSClient,
  queueUrl: string,
  visibilityTimeout: number,
): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: visibilityTimeout,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return Messages;
}

/**
 * The tag the provisioner puts on the queues it creates, with the stack's name prefix as its value: a
 * name prefix alone cannot tell them apart from another stack's whose prefix starts the same
 * (`pushrail` and `pushrail-staging`).
 */
export const OWNER_TAG = 'pushrail:name-prefix';

/** The URLs of the queues named `<namePrefix>-...` that carry OWNER_TAG with this prefix. */
export async function ownedQueueUrls(sqs: SQSClient, namePrefix: string): Promise<string[]> {
  const owned: string[] = [];
  let token: string | undefined;
  do {
    const page = await sqs.send(
      new ListQueuesCommand({
        QueueNamePrefix: `${namePrefix}-`,
        MaxResults: 1000,
        ...(token ? { NextToken: token } : {}),
      }),
    );
    for (const url of page.QueueUrls ?? []) {
      try {
        const { Tags } = await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }));
        if (Tags?.[OWNER_TAG] === namePrefix) owned.push(url);
      } catch (error) {
        if (!queueMissing(error)) throw error;
      }
    }
    token = page.NextToken;
  } while (token);
  return owned;
}

/** Deletes a queue; a queue already gone is done. */
export async function deleteQueue(sqs: SQSClient, queueUrl: string): Promise<void> {
  try {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
  } catch (error) {
    if (!queueMissing(error)) throw error;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
