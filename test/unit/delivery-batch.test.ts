import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { S3ServiceException } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import {
  type Deliver,
  type DeliveryBatchDeps,
  type DeliveryOutcome,
  runDeliveryBatch,
} from '../../lambdas/adapters/delivery-batch.js';
import { decideRetry } from '../../lambdas/core/backoff.js';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import type { ClassifiedFailure } from '../../lambdas/core/failure-classification.js';
import { DLQ_ATTRIBUTES } from '../../lambdas/core/queue-message.js';

const sqsMock = mockClient(SQSClient);
const dynamoMock = mockClient(DynamoDBClient);
const SOURCE = 'https://sqs.us-east-1.amazonaws.com/111122223333/pushrail-s3-archive';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/111122223333/pushrail-s3-archive-dlq';
const NOW = new Date('2026-05-26T12:00:00Z');

function deps(overrides: Partial<DeliveryBatchDeps> = {}): DeliveryBatchDeps {
  return {
    destinationId: 's3-archive',
    destinationType: 'S3',
    sqs: new SQSClient({ region: 'us-east-1' }),
    sourceQueueUrl: SOURCE,
    dlqUrl: DLQ,
    attempts: new AttemptLog(new DynamoDBClient({ region: 'us-east-1' }), 'attempts', 86_400),
    logger: new Logger({ logLevel: 'SILENT' }),
    now: () => NOW,
    random: () => 0.5,
    ...overrides,
  };
}

function eventRecord(n: number): EventRecord {
  return {
    eventType: 'order.completed',
    occurredAt: '2026-05-26T11:21:08.493Z',
    source: 'billing-service',
    customerExternalId: 'acct_8K2zRq',
    idempotencyKey: `key-${n}`,
    payload: { n },
    eventId: deriveEventId('acct_8K2zRq', `key-${n}`),
    receivedAt: '2026-05-26T11:21:09.000Z',
  };
}

function sqsRecord(
  n: number,
  options: { body?: string; receiveCount?: number; firstReceivedAt?: Date } = {},
): SQSRecord {
  const record = eventRecord(n);
  return {
    messageId: `m-${n}`,
    receiptHandle: `rh-${n}`,
    body: options.body ?? canonicalJson(record),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(NOW.getTime() - 5_000),
      SenderId: 'AIDA',
      ApproximateFirstReceiveTimestamp: String(
        (options.firstReceivedAt ?? new Date(NOW.getTime() - 1000)).getTime(),
      ),
    },
    messageAttributes: { eventId: { dataType: 'String', stringValue: record.eventId } },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:pushrail-s3-archive',
    awsRegion: 'us-east-1',
  };
}

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const idOf = (n: number) => eventRecord(n).eventId;

const permanent: ClassifiedFailure = {
  failureClass: 'permanent',
  code: 'NoSuchBucket',
  message: 'The specified bucket does not exist',
  httpStatus: 404,
};
const transient: ClassifiedFailure = {
  failureClass: 'transient',
  code: 'SlowDown',
  message: 'Please reduce your request rate.',
  httpStatus: 503,
};

/** A deliver function that answers the given outcome per event number (ok when not listed). */
function deliverWith(outcomes: Record<number, ClassifiedFailure>): Deliver {
  return async (events) =>
    new Map<string, DeliveryOutcome>(
      events.map((e) => {
        const n = Number((e.record.payload as { n: number }).n);
        const failure = outcomes[n];
        return [e.record.eventId, failure ? { ok: false, failure } : { ok: true }];
      }),
    );
}

function dlqEntries() {
  return sqsMock
    .commandCalls(SendMessageBatchCommand)
    .flatMap((c) => (c.args[0].input as SendMessageBatchCommandInput).Entries ?? []);
}

function visibilityEntries() {
  return sqsMock
    .commandCalls(ChangeMessageVisibilityBatchCommand)
    .flatMap((c) => c.args[0].input.Entries ?? []);
}

function attemptItems() {
  return dynamoMock.commandCalls(PutItemCommand).map((c) => unmarshall(c.args[0].input.Item ?? {}));
}

beforeEach(() => {
  sqsMock.reset();
  dynamoMock.reset();
  sqsMock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
    Successful: (input.Entries ?? []).map((e) => ({
      Id: e.Id,
      MessageId: `dlq-${e.Id}`,
      MD5OfMessageBody: '',
    })),
    Failed: [],
  }));
  sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  dynamoMock.on(PutItemCommand).resolves({});
});

describe('runDeliveryBatch', () => {
  it('reports nothing and touches no queue when every event is delivered', async () => {
    const res = await runDeliveryBatch(batch(sqsRecord(1), sqsRecord(2)), deliverWith({}), deps());
    expect(res).toEqual({ batchItemFailures: [] });
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('sends a permanent failure to the DLQ with the reason attributes and leaves it out of batchItemFailures', async () => {
    const res = await runDeliveryBatch(
      batch(sqsRecord(1), sqsRecord(2, { receiveCount: 3 })),
      deliverWith({ 2: permanent }),
      deps(),
    );
    expect(res.batchItemFailures).toEqual([]);
    const [entry, ...more] = dlqEntries();
    expect(more).toEqual([]);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.QueueUrl).toBe(DLQ);
    expect(entry?.MessageBody).toBe(canonicalJson(eventRecord(2)));
    expect(entry?.MessageAttributes).toEqual({
      [DLQ_ATTRIBUTES.failureClass]: { DataType: 'String', StringValue: 'permanent' },
      [DLQ_ATTRIBUTES.errorCode]: { DataType: 'String', StringValue: 'NoSuchBucket' },
      [DLQ_ATTRIBUTES.reason]: { DataType: 'String', StringValue: 'The specified bucket does not exist' },
      [DLQ_ATTRIBUTES.destinationId]: { DataType: 'String', StringValue: 's3-archive' },
      [DLQ_ATTRIBUTES.failedAt]: { DataType: 'String', StringValue: NOW.toISOString() },
      [DLQ_ATTRIBUTES.firstAttemptAt]: {
        DataType: 'String',
        StringValue: new Date(NOW.getTime() - 1000).toISOString(),
      },
      [DLQ_ATTRIBUTES.attempts]: { DataType: 'Number', StringValue: '3' },
      [DLQ_ATTRIBUTES.eventId]: { DataType: 'String', StringValue: idOf(2) },
    });
    expect(visibilityEntries()).toEqual([]);
    expect(attemptItems()).toEqual([
      expect.objectContaining({
        destinationId: 's3-archive',
        outcome: 'dead-lettered',
        failureClass: 'permanent',
        errorCode: 'NoSuchBucket',
        eventIds: [idOf(2)],
      }),
    ]);
  });

  it('backs off a transient failure: visibility set to the backoff delay, reported in batchItemFailures', async () => {
    const res = await runDeliveryBatch(
      batch(sqsRecord(1), sqsRecord(2, { receiveCount: 4 })),
      deliverWith({ 2: transient }),
      deps(),
    );
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm-2' }]);
    const expected = decideRetry({
      firstAttemptAt: new Date(NOW.getTime() - 1000),
      now: NOW,
      attempt: 4,
      random: () => 0.5,
    });
    expect(expected).toEqual({ action: 'retry', delaySeconds: 120 }); // ceiling 240 s, jitter 0.5
    expect(sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand)[0]?.args[0].input).toEqual({
      QueueUrl: SOURCE,
      Entries: [{ Id: '0', ReceiptHandle: 'rh-2', VisibilityTimeout: 120 }],
    });
    expect(dlqEntries()).toEqual([]);
  });

  it('dead-letters a transient failure once 24 h have passed since the first receive', async () => {
    const res = await runDeliveryBatch(
      batch(sqsRecord(1, { receiveCount: 14, firstReceivedAt: new Date(NOW.getTime() - 24 * 3600_000) })),
      deliverWith({ 1: transient }),
      deps(),
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(visibilityEntries()).toEqual([]);
    const attributes = dlqEntries()[0]?.MessageAttributes ?? {};
    expect(attributes[DLQ_ATTRIBUTES.failureClass]?.StringValue).toBe('transient');
    expect(attributes[DLQ_ATTRIBUTES.errorCode]?.StringValue).toBe('SlowDown');
    expect(attributes[DLQ_ATTRIBUTES.reason]?.StringValue).toMatch(/24 h.*Please reduce your request rate/);
    expect(attributes[DLQ_ATTRIBUTES.attempts]?.StringValue).toBe('14');
  });

  it('keeps a message in batchItemFailures when the DLQ send fails', async () => {
    sqsMock.on(SendMessageBatchCommand).rejects(new Error('DLQ unavailable'));
    const res = await runDeliveryBatch(
      batch(sqsRecord(1), sqsRecord(2), sqsRecord(3)),
      deliverWith({ 1: permanent, 3: transient }),
      deps(),
    );
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-1', 'm-3']);
    expect(attemptItems()).toEqual([]); // nothing was moved, so no dead-letter record
  });

  it('keeps only the entries the DLQ rejected in batchItemFailures', async () => {
    sqsMock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: [{ Id: '0', MessageId: 'dlq-0', MD5OfMessageBody: '' }],
      Failed: (input.Entries ?? [])
        .slice(1)
        .map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
    }));
    const res = await runDeliveryBatch(
      batch(sqsRecord(1), sqsRecord(2)),
      deliverWith({ 1: permanent, 2: permanent }),
      deps(),
    );
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm-2' }]);
  });

  it('reports every record when deliver throws — never an empty list after a whole-batch failure', async () => {
    const deliver: Deliver = async () => {
      throw new Error('socket hang up');
    };
    const records = [1, 2, 3, 4, 5].map((n) => sqsRecord(n));
    const res = await runDeliveryBatch(batch(...records), deliver, deps());
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      records.map((r) => r.messageId),
    );
    expect(visibilityEntries()).toHaveLength(5);
    expect(dlqEntries()).toEqual([]);
  });

  it('dead-letters every record when deliver throws a permanent error, and reports any it could not move', async () => {
    const deliver: Deliver = async () => {
      throw new S3ServiceException({
        name: 'AccessDenied',
        message: 'User is not authorized to perform sts:AssumeRole',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
      });
    };
    const ok = await runDeliveryBatch(batch(sqsRecord(1), sqsRecord(2)), deliver, deps());
    expect(ok.batchItemFailures).toEqual([]);
    expect(dlqEntries().map((e) => e.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue)).toEqual([
      'AccessDenied',
      'AccessDenied',
    ]);

    sqsMock.on(SendMessageBatchCommand).rejects(new Error('DLQ unavailable'));
    const res = await runDeliveryBatch(batch(sqsRecord(1), sqsRecord(2)), deliver, deps());
    expect(res.batchItemFailures).toHaveLength(2);
  });

  it('dead-letters a malformed body as MalformedMessage without handing it to deliver', async () => {
    const deliver = vi.fn(deliverWith({}));
    const res = await runDeliveryBatch(
      batch(
        sqsRecord(1, { body: 'not json' }),
        sqsRecord(2, { body: JSON.stringify({ ...eventRecord(2), eventId: 'nope' }) }),
        sqsRecord(3),
      ),
      deliver,
      deps(),
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(deliver).toHaveBeenCalledTimes(1);
    expect(deliver.mock.calls[0]?.[0].map((q) => q.messageId)).toEqual(['m-3']);
    const entries = dlqEntries();
    expect(entries.map((e) => e.MessageBody)).toEqual([
      'not json',
      JSON.stringify({ ...eventRecord(2), eventId: 'nope' }),
    ]);
    for (const [i, entry] of entries.entries()) {
      expect(entry.MessageAttributes?.[DLQ_ATTRIBUTES.failureClass]?.StringValue).toBe('permanent');
      expect(entry.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue).toBe('MalformedMessage');
      // The eventId the message was sent with, so on-call can still trace it.
      expect(entry.MessageAttributes?.[DLQ_ATTRIBUTES.eventId]?.StringValue).toBe(idOf(i + 1));
    }
  });

  it('does not call deliver at all for a batch of only malformed messages', async () => {
    const deliver = vi.fn(deliverWith({}));
    const res = await runDeliveryBatch(batch(sqsRecord(1, { body: '{}' })), deliver, deps());
    expect(deliver).not.toHaveBeenCalled();
    expect(res.batchItemFailures).toEqual([]);
    expect(dlqEntries()).toHaveLength(1);
  });

  it('retries an event deliver gave no outcome for', async () => {
    const deliver: Deliver = async () => new Map();
    const res = await runDeliveryBatch(batch(sqsRecord(1)), deliver, deps());
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
  });

  it('gives duplicate messages of one event the same outcome', async () => {
    const twin = { ...sqsRecord(1), messageId: 'm-1-again', receiptHandle: 'rh-1-again' };
    const res = await runDeliveryBatch(batch(sqsRecord(1), twin), deliverWith({ 1: transient }), deps());
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-1', 'm-1-again']);
  });

  it('splits DLQ moves and visibility changes into SQS batches of 10', async () => {
    const failures: Record<number, ClassifiedFailure> = {};
    for (let n = 0; n < 25; n += 1) failures[n] = n % 2 ? permanent : transient;
    const records = Array.from({ length: 25 }, (_, n) => sqsRecord(n));
    const res = await runDeliveryBatch(batch(...records), deliverWith(failures), deps());
    expect(res.batchItemFailures).toHaveLength(13);
    for (const call of sqsMock.commandCalls(SendMessageBatchCommand))
      expect(call.args[0].input.Entries?.length).toBeLessThanOrEqual(10);
    for (const call of sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand))
      expect(call.args[0].input.Entries?.length).toBeLessThanOrEqual(10);
    expect(dlqEntries()).toHaveLength(12);
    expect(visibilityEntries()).toHaveLength(13);
  });

  it('still reports a transient failure when setting its visibility fails (the queue timeout applies)', async () => {
    sqsMock.on(ChangeMessageVisibilityBatchCommand).rejects(new Error('throttled'));
    const res = await runDeliveryBatch(batch(sqsRecord(1)), deliverWith({ 1: transient }), deps());
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
  });

  it('never puts a credential into DLQ attributes or the attempts table', async () => {
    const leaky: ClassifiedFailure = {
      failureClass: 'permanent',
      code: 'InvalidAccessKeyId',
      // As if a service had echoed the key pair; classifyFailure sanitizes, and so must everything after it.
      message:
        'key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY X-Amz-Security-Token=IQoJb3JpZ2luX2Vj',
    };
    const deliver: Deliver = async () => {
      throw Object.assign(new Error(leaky.message), { name: 'InvalidAccessKeyId' });
    };
    await runDeliveryBatch(batch(sqsRecord(1)), deliver, deps());
    const stored = JSON.stringify([dlqEntries(), attemptItems()]);
    expect(stored).toContain('InvalidAccessKeyId');
    expect(stored).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(stored).not.toContain('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    expect(stored).not.toContain('IQoJb3JpZ2luX2Vj');
  });
});
