import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  changeVisibility,
  deleteBatch,
  messageBytes,
  moveToDlq,
  sendBatch,
} from '../../lambdas/adapters/sqs-queue.js';
import { MiB } from '../../lambdas/core/limits.js';
import { DLQ_ATTRIBUTES, toMessage } from '../../lambdas/core/queue-message.js';

const sqsMock = mockClient(SQSClient);
const sqs = new SQSClient({ region: 'us-east-1' });
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/111122223333/Pushrail-dest';
const DLQ = `${QUEUE}-dlq`;
const EVENT_ID = 'evt_0123456789abcdefghjkmnpqrs';

interface Entries<E> {
  readonly QueueUrl: string;
  readonly Entries: E[];
}
const inputs = <E>(command: unknown): Entries<E>[] =>
  sqsMock.commandCalls(command as never).map((c) => c.args[0].input as Entries<E>);
const sentBodies = () =>
  inputs<{ MessageBody: string }>(SendMessageBatchCommand).map((i) => i.Entries.map((e) => e.MessageBody));

/** Answers every entry of every call of the command as successful. */
function acceptAll(command: typeof SendMessageBatchCommand | typeof DeleteMessageBatchCommand) {
  sqsMock.on(command as never).callsFake((input: Entries<{ Id: string }>) => ({
    Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: '' })),
    Failed: [],
  }));
}

beforeEach(() => {
  sqsMock.reset();
});

describe('sendBatch', () => {
  it('retries the entries SQS failed on its side, and reports sender faults at once', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: '0', MessageId: 'a', MD5OfMessageBody: '' }],
        Failed: [
          { Id: '1', Code: 'InternalError', SenderFault: false },
          { Id: '2', Code: 'InvalidMessageContents', SenderFault: true },
        ],
      })
      .resolves({ Successful: [{ Id: '0', MessageId: 'b', MD5OfMessageBody: '' }], Failed: [] });
    const result = await sendBatch(
      sqs,
      QUEUE,
      ['a', 'b', 'c'].map((key) => ({ key, body: key })),
      { retryDelayMs: 1 },
    );
    expect(result).toEqual({ sent: ['a', 'b'], failed: [{ key: 'c', reason: 'InvalidMessageContents' }] });
    expect(sentBodies()).toEqual([['a', 'b', 'c'], ['b']]);
  });

  it('gives an entry SQS keeps failing on its side three calls, then reports it', async () => {
    sqsMock.on(SendMessageBatchCommand).callsFake((input: Entries<{ Id: string; MessageBody: string }>) => ({
      Successful: input.Entries.filter((e) => e.MessageBody !== 'b').map((e) => ({
        Id: e.Id,
        MessageId: 'x',
        MD5OfMessageBody: '',
      })),
      Failed: input.Entries.filter((e) => e.MessageBody === 'b').map((e) => ({
        Id: e.Id,
        Code: 'ServiceUnavailable',
        SenderFault: false,
      })),
    }));
    const result = await sendBatch(
      sqs,
      QUEUE,
      [
        { key: 'a', body: 'a' },
        { key: 'b', body: 'b' },
      ],
      {
        retryDelayMs: 1,
      },
    );
    expect(result).toEqual({ sent: ['a'], failed: [{ key: 'b', reason: 'ServiceUnavailable' }] });
    expect(sentBodies()).toEqual([['a', 'b'], ['b'], ['b']]);
  });

  it('reports every message of a failed call with its error, and still sends the other batches', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    let calls = 0;
    sqsMock.on(SendMessageBatchCommand).callsFake((input: Entries<{ Id: string }>) => {
      calls += 1;
      if (calls === 1) throw throttled;
      return {
        Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: 'x', MD5OfMessageBody: '' })),
        Failed: [],
      };
    });
    const keys = Array.from({ length: 12 }, (_, n) => n);
    const result = await sendBatch(
      sqs,
      QUEUE,
      keys.map((key) => ({ key, body: `m${key}` })),
    );
    expect(result.sent).toEqual([10, 11]);
    expect(result.failed).toEqual(
      keys.slice(0, 10).map((key) => ({ key, reason: 'ThrottlingException', cause: throttled })),
    );
    expect(sentBodies().map((b) => b.length)).toEqual([10, 2]); // a failed call is not retried here
  });

  it('reports an entry SQS gave no answer for instead of counting it sent', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: 'a', MD5OfMessageBody: '' }],
      Failed: [],
    });
    const result = await sendBatch(sqs, QUEUE, [
      { key: 'a', body: 'a' },
      { key: 'b', body: 'b' },
    ]);
    expect(result).toEqual({ sent: ['a'], failed: [{ key: 'b', reason: 'NoResult' }] });
  });

  it('splits at 10 entries per call', async () => {
    acceptAll(SendMessageBatchCommand);
    const result = await sendBatch(
      sqs,
      QUEUE,
      Array.from({ length: 25 }, (_, key) => ({ key, body: 'x' })),
    );
    expect(result.sent).toHaveLength(25);
    expect(sentBodies().map((b) => b.length)).toEqual([10, 10, 5]);
  });

  it('counts the attributes against the 1 MiB request limit, as SQS does', async () => {
    acceptAll(SendMessageBatchCommand);
    const attributeBytes = messageBytes(toMessage('', EVENT_ID));
    // 'eventId' + 'String' + the id: what SQS counts for the attribute.
    expect(attributeBytes).toBe('eventId'.length + 'String'.length + EVENT_ID.length);
    // Two bodies of half a MiB fit one request by themselves, but not with their attributes...
    const half = (key: string) => ({ key, ...toMessage('x'.repeat(MiB / 2 - 1), EVENT_ID) });
    await sendBatch(sqs, QUEUE, [half('a'), half('b')]);
    expect(sentBodies().map((b) => b.length)).toEqual([1, 1]);
    // ...while two messages of exactly half a MiB, attributes included, do.
    sqsMock.resetHistory();
    const exact = (key: string) => ({ key, ...toMessage('x'.repeat(MiB / 2 - attributeBytes), EVENT_ID) });
    expect(messageBytes(exact('a'))).toBe(MiB / 2);
    await sendBatch(sqs, QUEUE, [exact('a'), exact('b'), exact('c')]);
    expect(sentBodies().map((b) => b.length)).toEqual([2, 1]);
  });

  it('counts message sizes in UTF-8 bytes', () => {
    expect(messageBytes({ body: 'é€😀' })).toBe(2 + 3 + 4);
  });
});

describe('moveToDlq', () => {
  const reason = {
    failure: {
      failureClass: 'permanent',
      code: 'NoSuchBucket',
      message: 'The specified bucket does not exist',
    },
    destinationId: 'archive',
    failedAt: new Date('2026-05-26T12:00:00.000Z'),
    firstAttemptAt: new Date('2026-05-26T11:00:00.000Z'),
    attempts: 2,
    eventId: EVENT_ID,
  } as const;

  it('sends the body unchanged with the reason as attributes', async () => {
    acceptAll(SendMessageBatchCommand);
    const body = '{"b":1,"a":2}'; // not canonical: a DLQ copy is the bytes received, never re-serialized
    const result = await moveToDlq(sqs, DLQ, [{ key: 'm-1', body, reason }]);
    expect(result).toEqual({ moved: ['m-1'], failed: [] });
    const [call] = inputs<{ MessageBody: string; MessageAttributes: unknown }>(SendMessageBatchCommand);
    expect(call?.QueueUrl).toBe(DLQ);
    expect(call?.Entries[0]?.MessageBody).toBe(body);
    expect(call?.Entries[0]?.MessageAttributes).toEqual({
      [DLQ_ATTRIBUTES.failureClass]: { DataType: 'String', StringValue: 'permanent' },
      [DLQ_ATTRIBUTES.errorCode]: { DataType: 'String', StringValue: 'NoSuchBucket' },
      [DLQ_ATTRIBUTES.reason]: { DataType: 'String', StringValue: 'The specified bucket does not exist' },
      [DLQ_ATTRIBUTES.destinationId]: { DataType: 'String', StringValue: 'archive' },
      [DLQ_ATTRIBUTES.failedAt]: { DataType: 'String', StringValue: '2026-05-26T12:00:00.000Z' },
      [DLQ_ATTRIBUTES.firstAttemptAt]: { DataType: 'String', StringValue: '2026-05-26T11:00:00.000Z' },
      [DLQ_ATTRIBUTES.attempts]: { DataType: 'Number', StringValue: '2' },
      [DLQ_ATTRIBUTES.eventId]: { DataType: 'String', StringValue: EVENT_ID },
    });
  });

  it('makes one call per batch and reports a failed entry: the source queue hands the message back', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: 'd', MD5OfMessageBody: '' }],
      Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false }],
    });
    const result = await moveToDlq(sqs, DLQ, [
      { key: 'm-1', body: 'a', reason },
      { key: 'm-2', body: 'b', reason },
    ]);
    expect(result).toEqual({ moved: ['m-1'], failed: [{ key: 'm-2', reason: 'InternalError' }] });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });
});

describe('changeVisibility', () => {
  it('changes in batches of 10, retrying what SQS failed on its side', async () => {
    let calls = 0;
    sqsMock
      .on(ChangeMessageVisibilityBatchCommand)
      .callsFake((input: Entries<{ Id: string; ReceiptHandle: string }>) => {
        calls += 1;
        const flaky = calls === 1 ? input.Entries.filter((e) => e.ReceiptHandle === 'rh-3') : [];
        return {
          Successful: input.Entries.filter((e) => !flaky.includes(e)).map((e) => ({ Id: e.Id })),
          Failed: flaky.map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
        };
      });
    const handles = Array.from({ length: 12 }, (_, n) => `rh-${n}`);
    const failed = await changeVisibility(
      sqs,
      QUEUE,
      handles.map((receiptHandle) => ({ receiptHandle, visibilityTimeout: 30 })),
    );
    expect(failed).toEqual([]);
    const entries = inputs<{ Id: string; ReceiptHandle: string; VisibilityTimeout: number }>(
      ChangeMessageVisibilityBatchCommand,
    ).map((i) => i.Entries.map((e) => e.ReceiptHandle));
    expect(entries).toEqual([handles.slice(0, 10), ['rh-3'], handles.slice(10)]);
  });

  it('reports each handle of a call that failed', async () => {
    sqsMock.on(ChangeMessageVisibilityBatchCommand).rejects(new Error('socket hang up'));
    const failed = await changeVisibility(sqs, QUEUE, [{ receiptHandle: 'rh-1', visibilityTimeout: 0 }]);
    expect(failed).toEqual([{ key: 'rh-1', reason: 'Error', cause: expect.any(Error) }]);
  });
});

describe('deleteBatch', () => {
  it('deletes in batches of 10 and reports a handle SQS refused', async () => {
    sqsMock
      .on(DeleteMessageBatchCommand)
      .callsFake((input: Entries<{ Id: string; ReceiptHandle: string }>) => ({
        Successful: input.Entries.filter((e) => e.ReceiptHandle !== 'stale').map((e) => ({ Id: e.Id })),
        Failed: input.Entries.filter((e) => e.ReceiptHandle === 'stale').map((e) => ({
          Id: e.Id,
          Code: 'ReceiptHandleIsInvalid',
          SenderFault: true,
        })),
      }));
    const handles = [...Array.from({ length: 10 }, (_, n) => `rh-${n}`), 'stale'];
    const failed = await deleteBatch(sqs, DLQ, handles);
    expect(failed).toEqual([{ key: 'stale', reason: 'ReceiptHandleIsInvalid' }]);
    expect(inputs(DeleteMessageBatchCommand).map((i) => i.Entries.length)).toEqual([10, 1]);
  });
});
