import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import type { StoredRouting } from '../../lambdas/adapters/event-store.js';
import { type ReplayCursor, ReplayJournal } from '../../lambdas/adapters/replay-journal.js';
import { sendMessages } from '../../lambdas/adapters/sqs-batch.js';
import { type ReplayRequest, replayId } from '../../lambdas/core/replay-request.js';
import { type ReplayDeps, runReplay } from '../../lambdas/replay/run-replay.js';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const sqsMock = mockClient(SQSClient);
const dynamoMock = mockClient(DynamoDBClient);

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/111122223333/Pushrail-dest';
const DLQ = `${QUEUE}-dlq`;
const NOW = Date.parse('2026-05-26T15:00:00.000Z');
const id = (n: number) => `evt_${String(n).padStart(26, '0')}`;

function dlqMessage(n: number, sentAt: number): Message {
  return {
    MessageId: `m-${n}`,
    ReceiptHandle: `rh-${n}`,
    Body: JSON.stringify({ eventId: id(n) }),
    Attributes: { SentTimestamp: String(sentAt) },
    MessageAttributes: { eventId: { DataType: 'String', StringValue: id(n) } },
  };
}

const stored = (n: number, destinations = ['dest']): StoredRouting => ({
  eventId: id(n),
  record: JSON.stringify({ eventId: id(n) }),
  receivedAt: '2026-05-26T14:00:00.000Z',
  destinations,
});

/** The request body of every call of a command, in call order. */
const inputs = <T>(mock: typeof sqsMock | typeof dynamoMock, command: unknown): T[] =>
  mock.commandCalls(command as never).map((c) => c.args[0].input as T);

const sentIds = () =>
  inputs<{ Entries: { MessageBody: string }[] }>(sqsMock, SendMessageBatchCommand).flatMap((i) =>
    i.Entries.map((e) => (JSON.parse(e.MessageBody) as { eventId: string }).eventId),
  );
const unhidden = () =>
  inputs<{ Entries: { ReceiptHandle: string; VisibilityTimeout: number }[] }>(
    sqsMock,
    ChangeMessageVisibilityBatchCommand,
  ).flatMap((i) => i.Entries.map((e) => `${e.ReceiptHandle}@${e.VisibilityTimeout}`));
const savedItems = () =>
  inputs<{ Item: Record<string, never> }>(dynamoMock, PutItemCommand).map((i) => unmarshall(i.Item));

function deps(overrides: Partial<ReplayDeps> = {}): ReplayDeps {
  const dynamodb = new DynamoDBClient({ region: 'us-east-1' });
  return {
    sqs: new SQSClient({ region: 'us-east-1' }),
    attempts: new AttemptLog(dynamodb, 'attempts', 86_400),
    journal: new ReplayJournal(dynamodb, 'attempts', 86_400),
    destinationType: () => 'S3',
    queueUrl: QUEUE,
    dlqUrl: DLQ,
    readEvents: async () => new Map(),
    scanWindow: async () => ({ items: [], cursor: undefined }),
    remainingMs: () => 900_000,
    logger: new Logger({ serviceName: 'test' }),
    now: () => NOW,
    ...overrides,
  };
}

/** The journal holds a stopped run of this request. */
function journalHolds(request: ReplayRequest, cursor?: ReplayCursor, startedAt = '2026-05-26T14:59:00.000Z') {
  dynamoMock.on(GetItemCommand).resolves({
    Item: marshall({
      destinationId: request.destinationId,
      sk: `replay#${replayId(request)}`,
      status: 'running',
      ...(cursor ? { cursor: JSON.stringify(cursor) } : {}),
      counts: { matched: 2, replayed: 2, skipped: 0, failed: 0 },
      startedAt,
    }),
  });
}

beforeEach(() => {
  sqsMock.reset();
  dynamoMock.reset();
  dynamoMock.on(GetItemCommand).resolves({});
  dynamoMock.on(PutItemCommand).resolves({});
  sqsMock.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({
    Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `new-${e.Id}`, MD5OfMessageBody: '' })),
    Failed: [],
  }));
  sqsMock.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('runReplay from the DLQ', () => {
  const request: ReplayRequest = { destinationId: 'dest', source: 'dlq' };

  it('leaves messages dead-lettered after the run started for the next run, so a still-broken destination cannot ping-pong', async () => {
    // m-2 is a replayed message that failed again during this run and came back to the DLQ.
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 60_000), dlqMessage(2, NOW + 5)] })
      .resolves({ Messages: [] });
    const result = await runReplay(request, deps());
    expect(result).toMatchObject({ complete: true, matched: 1, replayed: 1, skipped: 1, failed: 0 });
    expect(sentIds()).toEqual([id(1)]);
    expect(unhidden()).toEqual(['rh-2@0']);
    // SentTimestamp was asked for.
    expect(
      inputs<{ MessageSystemAttributeNames: string[] }>(sqsMock, ReceiveMessageCommand)[0],
    ).toMatchObject({
      MessageSystemAttributeNames: ['SentTimestamp'],
    });
  });

  it('keeps the cut-off of the run it resumes', async () => {
    journalHolds(request, undefined, new Date(NOW - 3_600_000).toISOString());
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 7_200_000), dlqMessage(2, NOW - 60_000)] })
      .resolves({ Messages: [] });
    const result = await runReplay(request, deps());
    expect(result).toMatchObject({ complete: true, matched: 1, replayed: 1, skipped: 1 });
    expect(sentIds()).toEqual([id(1)]);
    const checkpoint = savedItems().find((i) => i.kind === 'replay');
    expect(checkpoint?.counts).toEqual({ matched: 3, replayed: 3, skipped: 1, failed: 0 });
  });

  it('does not count messages past the limit as skipped, and leaves them visible for the next invocation', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [1, 2, 3, 4, 5].map((n) => dlqMessage(n, NOW - 60_000)) });
    const result = await runReplay({ ...request, limit: 3 }, deps());
    expect(result).toMatchObject({ complete: false, matched: 3, replayed: 3, skipped: 0, failed: 0 });
    expect(sentIds()).toEqual([id(1), id(2), id(3)]);
    expect(unhidden().sort()).toEqual(['rh-4@0', 'rh-5@0']);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
  });

  it('keeps a message whose send failed in the DLQ (visible again), and counts it failed', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 60_000), dlqMessage(2, NOW - 60_000)] })
      .resolves({ Messages: [] });
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: 'x', MD5OfMessageBody: '' }],
      Failed: [{ Id: '1', Code: 'InvalidParameterValue', SenderFault: true }],
    });
    const result = await runReplay(request, deps());
    expect(result).toMatchObject({ complete: true, matched: 2, replayed: 1, failed: 1 });
    const deleted = inputs<{ Entries: { ReceiptHandle: string }[] }>(
      sqsMock,
      DeleteMessageBatchCommand,
    ).flatMap((i) => i.Entries.map((e) => e.ReceiptHandle));
    expect(deleted).toEqual(['rh-1']);
    expect(unhidden()).toEqual(['rh-2@0']);
  });
});

describe('runReplay of stored events by id', () => {
  const request: ReplayRequest = {
    destinationId: 'dest',
    source: 'events',
    eventIds: [id(1), id(2), id(3), id(4)],
  };
  // id(3) was routed elsewhere only.
  const readEvents = async (ids: readonly string[]) =>
    new Map(
      ids.map(
        (e) =>
          [e, e === id(3) ? stored(3, ['other']) : stored(Number(e.slice(4)))] as [string, StoredRouting],
      ),
    );

  it('stops at the limit with complete: false and an offset, and the next invocation continues after it', async () => {
    const first = await runReplay({ ...request, limit: 2 }, deps({ readEvents }));
    expect(first).toMatchObject({ complete: false, matched: 2, replayed: 2, skipped: 0 });
    expect(sentIds()).toEqual([id(1), id(2)]);
    const checkpoint = savedItems().find((i) => i.kind === 'replay');
    expect(checkpoint).toMatchObject({ status: 'running', cursor: JSON.stringify({ offset: 2 }) });

    sqsMock.resetHistory();
    journalHolds(request, { offset: 2 });
    const second = await runReplay({ ...request, limit: 10 }, deps({ readEvents }));
    expect(second).toMatchObject({ complete: true, matched: 1, replayed: 1, skipped: 1 });
    expect(sentIds()).toEqual([id(4)]);
  });

  it('sends an id given twice once', async () => {
    const result = await runReplay({ ...request, eventIds: [id(1), id(1), id(2)] }, deps({ readEvents }));
    expect(result).toMatchObject({ complete: true, matched: 2, replayed: 2 });
    expect(sentIds()).toEqual([id(1), id(2)]);
  });
});

describe('runReplay of a stored-event window', () => {
  const request: ReplayRequest = {
    destinationId: 'dest',
    source: 'events',
    from: '2026-05-26T00:00:00Z',
    to: '2026-05-27T00:00:00Z',
  };

  it('stopping at the limit inside a page, continues right after the last event sent: none twice, none skipped', async () => {
    const pages = new Map<string, { items: StoredRouting[]; cursor: ReplayCursor | undefined }>([
      ['start', { items: [stored(1), stored(2), stored(3)], cursor: { eventId: id(3) } }],
      [id(2), { items: [stored(3)], cursor: { eventId: id(3) } }],
      [id(3), { items: [stored(4)], cursor: undefined }],
    ]);
    const scanned: (ReplayCursor | undefined)[] = [];
    const scanWindow = async (cursor: ReplayCursor | undefined) => {
      scanned.push(cursor);
      return pages.get(cursor ? String(cursor.eventId) : 'start') ?? { items: [], cursor: undefined };
    };
    const first = await runReplay({ ...request, limit: 2 }, deps({ scanWindow }));
    expect(first).toMatchObject({ complete: false, matched: 2, replayed: 2 });
    const checkpoint = savedItems().find((i) => i.kind === 'replay');
    expect(JSON.parse(checkpoint?.cursor as string)).toEqual({ eventId: id(2) });

    sqsMock.resetHistory();
    journalHolds(request, { eventId: id(2) });
    const second = await runReplay(request, deps({ scanWindow }));
    expect(second).toMatchObject({ complete: true, matched: 2, replayed: 2 });
    expect(sentIds()).toEqual([id(3), id(4)]);
    expect(scanned).toEqual([undefined, { eventId: id(2) }, { eventId: id(3) }]);
  });

  it('counts a dry run without sending or journaling anything', async () => {
    const scanWindow = async () => ({ items: [stored(1), stored(2)], cursor: undefined });
    const result = await runReplay({ ...request, dryRun: true }, deps({ scanWindow }));
    expect(result).toMatchObject({ dryRun: true, complete: true, matched: 2, replayed: 0 });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(savedItems()).toEqual([]);
  });
});

describe('the replay journal', () => {
  it('keeps each finished run as its own item, so replaying the same selection again does not erase it', async () => {
    const request: ReplayRequest = {
      destinationId: 'dest',
      source: 'dlq',
      requestedBy: 'arn:aws:iam::1:user/a',
    };
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [] });
    await runReplay(request, deps());
    const items = savedItems();
    expect(items.map((i) => i.sk)).toEqual([
      `replay#${replayId(request)}`,
      `replay#${replayId(request)}#${new Date(NOW).toISOString()}`,
    ]);
    expect(items[1]).toMatchObject({
      kind: 'replay-run',
      requestedBy: 'arn:aws:iam::1:user/a',
      request: JSON.stringify(request),
      counts: { matched: 0, replayed: 0, skipped: 0, failed: 0 },
    });
  });
});

describe('sendMessages', () => {
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
    const result = await sendMessages(
      new SQSClient({ region: 'us-east-1' }),
      QUEUE,
      ['a', 'b', 'c'].map((key) => ({ key, body: key })),
      { retryDelayMs: 1 },
    );
    expect(result).toEqual({ sent: ['a', 'b'], failed: [{ key: 'c', reason: 'InvalidMessageContents' }] });
    const calls = inputs<{ Entries: { MessageBody: string }[] }>(sqsMock, SendMessageBatchCommand);
    expect(calls.map((c) => c.Entries.map((e) => e.MessageBody))).toEqual([['a', 'b', 'c'], ['b']]);
  });
});
