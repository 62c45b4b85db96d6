import { Logger } from '@aws-lambda-powertools/logger';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
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
import { ReplayInProgressError, ReplayLeaseLostError } from '../../lambdas/core/errors.js';
import { type ReplayRequest, replayId } from '../../lambdas/core/replay-request.js';
import { LEASE_MARGIN_MS } from '../../lambdas/replay/claim-run.js';
import { type ReplayDeps, runReplay } from '../../lambdas/replay/run-replay.js';
import { seedEvent } from '../support/seed-event.js';

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
/** The last write of the `replay#<id>` item: the checkpoint the invocation ended with. */
const checkpoint = () =>
  savedItems()
    .filter((i) => i.kind === 'replay')
    .at(-1);
const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

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
    invocationId: 'inv-1',
    logger: new Logger({ serviceName: 'test' }),
    now: () => NOW,
    ...overrides,
  };
}

/** The journal holds a stopped run of this request (written before revisions, unless `extra` says). */
function journalHolds(
  request: ReplayRequest,
  cursor?: ReplayCursor,
  startedAt = '2026-05-26T14:59:00.000Z',
  extra: Record<string, unknown> = {},
) {
  dynamoMock.on(GetItemCommand).resolves({ Item: storedRun(request, cursor, startedAt, extra) });
}

function storedRun(
  request: ReplayRequest,
  cursor?: ReplayCursor,
  startedAt = '2026-05-26T14:59:00.000Z',
  extra: Record<string, unknown> = {},
) {
  return marshall({
    destinationId: request.destinationId,
    sk: `replay#${replayId(request)}`,
    status: 'running',
    ...(cursor ? { cursor: JSON.stringify(cursor) } : {}),
    counts: { matched: 2, replayed: 2, skipped: 0, failed: 0 },
    startedAt,
    requestedBy: 'arn:aws:iam::1:user/jane',
    updatedAt: startedAt,
    ...extra,
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
    expect(result).toMatchObject({
      complete: true,
      matched: 1,
      replayed: 1,
      skipped: 1,
      failed: 0,
      resumed: false,
      startedAt: new Date(NOW).toISOString(),
      newerThanRun: 1,
    });
    expect(sentIds()).toEqual([id(1)]);
    expect(unhidden()).toEqual(['rh-2@0']);
    // SentTimestamp was asked for.
    expect(
      inputs<{ MessageSystemAttributeNames: string[] }>(sqsMock, ReceiveMessageCommand)[0],
    ).toMatchObject({
      MessageSystemAttributeNames: ['SentTimestamp'],
    });
  });

  it('keeps the cut-off of the run it resumes, and says so: resumed, its start, and the dead letters newer than it', async () => {
    const startedAt = new Date(NOW - 3_600_000).toISOString();
    journalHolds(request, undefined, startedAt);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 7_200_000), dlqMessage(2, NOW - 60_000)] })
      .resolves({ Messages: [] });
    const result = await runReplay(request, deps());
    expect(result).toMatchObject({
      complete: true,
      matched: 1,
      replayed: 1,
      skipped: 1,
      resumed: true,
      startedAt,
      newerThanRun: 1,
    });
    expect(sentIds()).toEqual([id(1)]);
    expect(checkpoint()?.counts).toEqual({ matched: 3, replayed: 3, skipped: 1, failed: 0 });
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

  it('counts as newer than the run only the dead letters the selection would replay', async () => {
    const window: ReplayRequest = {
      ...request,
      from: '2026-05-26T00:00:00Z',
      to: '2026-05-26T12:00:00Z',
    };
    const record = (n: number, receivedAt: string) =>
      JSON.stringify({ ...seedEvent, eventId: id(n), receivedAt });
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          { ...dlqMessage(1, NOW + 5), Body: record(1, '2026-05-26T10:00:00.000Z') },
          { ...dlqMessage(2, NOW + 5), Body: record(2, '2026-05-26T13:00:00.000Z') },
        ],
      })
      .resolves({ Messages: [] });
    const result = await runReplay(window, deps());
    expect(result).toMatchObject({ complete: true, matched: 0, skipped: 2, newerThanRun: 1 });
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
    expect(checkpoint()).toMatchObject({ status: 'running', cursor: JSON.stringify({ offset: 2 }) });

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
    expect(JSON.parse(checkpoint()?.cursor as string)).toEqual({ eventId: id(2) });

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

describe('one invocation of a selection at a time', () => {
  const request: ReplayRequest = {
    destinationId: 'dest',
    source: 'dlq',
    requestedBy: 'arn:aws:iam::1:user/sam',
  };
  const claimedAt = new Date(NOW - 120_000).toISOString();
  const leaseUntil = NOW + 840_000;
  const leased = (until: number, revision = 4) =>
    storedRun(request, undefined, '2026-05-26T14:00:00.000Z', {
      updatedAt: claimedAt,
      leaseOwner: 'inv-0',
      leaseUntil: until,
      revision,
    });

  it('claims the run with a write conditional on the revision it read, leased for its time plus a margin, and saves only while it owns the lease', async () => {
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [] });
    await runReplay(request, deps());
    const puts = inputs<{ Item: Record<string, never>; ConditionExpression: string }>(
      dynamoMock,
      PutItemCommand,
    );
    expect(puts[0]?.ConditionExpression).toBe('attribute_not_exists(revision)');
    expect(unmarshall(puts[0]?.Item ?? {})).toMatchObject({
      status: 'running',
      startedAt: new Date(NOW).toISOString(),
      leaseOwner: 'inv-1',
      leaseUntil: NOW + 900_000 + LEASE_MARGIN_MS,
      revision: 1,
    });
    expect(puts[1]).toMatchObject({
      ConditionExpression: 'leaseOwner = :owner',
      ExpressionAttributeValues: { ':owner': { S: 'inv-1' } },
    });
    const saved = unmarshall(puts[1]?.Item ?? {});
    expect(saved).toMatchObject({ status: 'complete', revision: 2 });
    expect(saved).not.toHaveProperty('leaseOwner');
    expect(saved).not.toHaveProperty('leaseUntil');
  });

  it('refuses while another invocation holds the lease, naming the replay, who started it, when, and when to retry, before touching the DLQ', async () => {
    dynamoMock.on(GetItemCommand).resolves({ Item: leased(leaseUntil) });
    const error = await runReplay(request, deps()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayInProgressError);
    const message = (error as Error).message;
    expect(message).toContain(replayId(request));
    expect(message).toContain('requested by arn:aws:iam::1:user/jane');
    expect(message).toContain(claimedAt);
    expect(message).toContain('invocation inv-0');
    expect(message).toContain(`retry after ${new Date(leaseUntil).toISOString()}`);
    expect(sqsMock.calls()).toHaveLength(0);
    expect(dynamoMock.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it('refuses when another invocation claimed the run between its read and its write', async () => {
    dynamoMock
      .on(GetItemCommand)
      .resolvesOnce({})
      .resolves({ Item: leased(leaseUntil, 1) });
    dynamoMock.on(PutItemCommand).rejects(conditionFailed());
    const error = await runReplay(request, deps()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayInProgressError);
    expect(sqsMock.calls()).toHaveLength(0);
    expect(dynamoMock.commandCalls(PutItemCommand)).toHaveLength(1);
  });

  it('claims again, from the new revision, when another invocation ran the whole selection between its read and its write', async () => {
    const finished = storedRun(request, undefined, '2026-05-26T14:00:00.000Z', {
      status: 'complete',
      revision: 2,
    });
    dynamoMock.on(GetItemCommand).resolvesOnce({}).resolves({ Item: finished });
    dynamoMock.on(PutItemCommand).rejectsOnce(conditionFailed()).resolves({});
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const result = await runReplay(request, deps());
    expect(result).toMatchObject({ complete: true, resumed: false, startedAt: new Date(NOW).toISOString() });
    const conditions = inputs<{ ConditionExpression: string; ExpressionAttributeValues?: unknown }>(
      dynamoMock,
      PutItemCommand,
    );
    expect(conditions[1]).toMatchObject({
      ConditionExpression: 'revision = :seen',
      ExpressionAttributeValues: { ':seen': { N: '2' } },
    });
  });

  it('takes over the lapsed lease of a crashed invocation and continues its run', async () => {
    dynamoMock.on(GetItemCommand).resolves({ Item: leased(NOW - 1) });
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 7_200_000)] })
      .resolves({ Messages: [] });
    const result = await runReplay(request, deps());
    expect(result).toMatchObject({ resumed: true, startedAt: '2026-05-26T14:00:00.000Z', replayed: 1 });
    expect(checkpoint()).toMatchObject({
      status: 'complete',
      counts: { matched: 3, replayed: 3, skipped: 0, failed: 0 },
      revision: 6,
    });
  });

  it('gives its lease up when the run fails, keeping what it moved in the counts', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 60_000)] })
      .rejects(new Error('SQS is down'));
    await expect(runReplay(request, deps())).rejects.toThrow('SQS is down');
    const released = checkpoint();
    expect(released).toMatchObject({
      status: 'running',
      counts: { matched: 1, replayed: 1, skipped: 0, failed: 0 },
    });
    expect(released).not.toHaveProperty('leaseOwner');
    expect(
      inputs<{ ConditionExpression: string }>(dynamoMock, PutItemCommand).at(-1)?.ConditionExpression,
    ).toBe('leaseOwner = :owner');
  });

  it('fails, journaling nothing more, when its lease was taken over before it saved', async () => {
    dynamoMock.on(PutItemCommand).resolvesOnce({}).rejects(conditionFailed());
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 60_000)] })
      .resolves({ Messages: [] });
    const error = await runReplay(request, deps()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayLeaseLostError);
    expect((error as Error).message).toContain('matched 1, replayed 1, skipped 0, failed 0');
    expect(savedItems().filter((i) => i.kind === 'replay-run')).toEqual([]);
  });

  it('a dry run takes no lease: it neither reads nor writes the journal, even while a run holds it', async () => {
    dynamoMock.on(GetItemCommand).resolves({ Item: leased(leaseUntil) });
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 60_000)] })
      .resolves({ Messages: [] });
    const result = await runReplay({ ...request, dryRun: true }, deps());
    expect(result).toMatchObject({ dryRun: true, matched: 1, replayed: 0, resumed: false });
    expect(dynamoMock.calls()).toHaveLength(0);
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
    // The claim, the checkpoint that releases it, and the finished run.
    expect(items.map((i) => i.sk)).toEqual([
      `replay#${replayId(request)}`,
      `replay#${replayId(request)}`,
      `replay#${replayId(request)}#${new Date(NOW).toISOString()}`,
    ]);
    expect(items[2]).toMatchObject({
      kind: 'replay-run',
      requestedBy: 'arn:aws:iam::1:user/a',
      request: JSON.stringify(request),
      counts: { matched: 0, replayed: 0, skipped: 0, failed: 0 },
    });
  });
});

describe('the audit entries of a replay', () => {
  const request: ReplayRequest = {
    destinationId: 'dest',
    source: 'dlq',
    requestedBy: 'arn:aws:iam::1:user/a',
  };

  it('writes replay.started before anything moves; a failed replay.finished write does not fail the replay', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [dlqMessage(1, NOW - 60_000)] })
      .resolves({ Messages: [] });
    const order: string[] = [];
    sqsMock.on(SendMessageBatchCommand).callsFake(() => {
      order.push('moved');
      return { Successful: [{ Id: '0', MessageId: 'x' }], Failed: [] };
    });
    const audit = {
      append: async (entry: { action: string }) => {
        order.push(entry.action);
        if (entry.action === 'replay.finished') throw new Error('audit table throttled');
      },
    };
    const result = await runReplay(request, deps({ audit, customerExternalId: 'acct_1' }));
    expect(result).toMatchObject({ complete: true, matched: 1, replayed: 1 });
    expect(order).toEqual(['replay.started', 'moved', 'replay.finished']);
  });

  it('writes nothing for a dry run, and no replay.started when it continues a run', async () => {
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const actions: string[] = [];
    const audit = { append: async (entry: { action: string }) => void actions.push(entry.action) };
    await runReplay({ ...request, dryRun: true }, deps({ audit }));
    expect(actions).toEqual([]);
    journalHolds(request, undefined, new Date(NOW - 60_000).toISOString());
    await runReplay(request, deps({ audit }));
    expect(actions).toEqual(['replay.finished']);
  });
});
