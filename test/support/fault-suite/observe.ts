import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { canonicalJson } from '../../../lambdas/core/canonical.js';
import { type EventRecord, EventRecordSchema } from '../../../lambdas/core/event.js';
import { MiB } from '../../../lambdas/core/limits.js';
import { compareRecords, objectKey, partitionOf } from '../../../lambdas/destinations/s3/parts.js';
import type { S3DestinationConfig } from '../../../lambdas/destinations/s3/schema.js';

/** What the customer finds in an S3 destination's bucket, and what is wrong with it. */
export interface BucketView {
  /** Key → SHA-256 of its bytes. */
  readonly objects: Map<string, string>;
  /** eventId → rows holding it, over all objects. */
  readonly rows: Map<string, number>;
  readonly records: Map<string, EventRecord>;
  readonly problems: string[];
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * Reads every object of a destination's bucket as a data team would and checks the contract: the key
 * is `<prefix>event_type=…/dt=…/hour=…/part-<sha256 of the bytes>.ndjson` for the partition of every
 * line, each line is one canonical record, lines are in order, and the file is within the limits.
 */
export async function readBucket(s3: S3Client, destination: S3DestinationConfig): Promise<BucketView> {
  const view: BucketView = { objects: new Map(), rows: new Map(), records: new Map(), problems: [] };
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: destination.bucket, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      const key = o.Key as string;
      const got = await s3.send(new GetObjectCommand({ Bucket: destination.bucket, Key: key }));
      const bytes = Buffer.from(
        await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
      checkObject(destination, key, bytes, view);
    }
    token = page.NextContinuationToken;
  } while (token);
  return view;
}

function checkObject(destination: S3DestinationConfig, key: string, bytes: Buffer, view: BucketView): void {
  const hash = sha256(bytes);
  view.objects.set(key, hash);
  const problem = (text: string) => view.problems.push(`${key}: ${text}`);
  const text = bytes.toString('utf8');
  if (!text.endsWith('\n')) problem('does not end with a newline');
  if (bytes.length > destination.batchSizeMb * MiB) problem(`${bytes.length} bytes, over batchSizeMb`);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length > destination.maxEvents) problem(`${lines.length} lines, over maxEvents`);
  const records: EventRecord[] = [];
  for (const line of lines) {
    const parsed = EventRecordSchema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      problem(`a line is not an event record: ${line.slice(0, 80)}`);
      continue;
    }
    if (canonicalJson(JSON.parse(line)) !== line) problem('a line is not canonical JSON');
    const record = parsed.data as EventRecord;
    if (record.customerExternalId !== destination.customerExternalId)
      problem(`row of another customer: ${record.customerExternalId}`);
    records.push(record);
    view.rows.set(record.eventId, (view.rows.get(record.eventId) ?? 0) + 1);
    view.records.set(record.eventId, record);
  }
  const first = records[0];
  if (!first) return;
  if (key !== objectKey(destination.keyPrefix, partitionOf(first), hash))
    problem('key is not the partition of its first row plus the SHA-256 of its bytes');
  const partition = JSON.stringify(partitionOf(first));
  if (records.some((r) => JSON.stringify(partitionOf(r)) !== partition))
    problem('rows of several partitions');
  const sorted = [...records].sort(compareRecords);
  if (sorted.some((r, i) => r !== records[i])) problem('rows are not in canonical order');
}

/** An entry as the customer's catch-all rule put it in the inbox queue. */
export interface BusEvent {
  readonly source: string;
  readonly 'detail-type': string;
  readonly resources: string[];
  readonly detail: Record<string, unknown>;
}

/** Reads and deletes everything the inbox queue holds now. */
export async function drainInbox(sqs: SQSClient, queueUrl: string): Promise<BusEvent[]> {
  const out: BusEvent[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return out;
    out.push(...Messages.map((m) => JSON.parse(m.Body ?? '{}') as BusEvent));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}

/** The eventId a queue message carries (attribute, else body). */
export function eventIdOf(message: Message): string {
  return (
    message.MessageAttributes?.eventId?.StringValue ??
    String((JSON.parse(message.Body ?? '{}') as { eventId?: string }).eventId)
  );
}
