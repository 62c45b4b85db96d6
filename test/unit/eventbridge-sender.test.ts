import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { ChangeMessageVisibilityBatchCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventBusVerifier, NEGATIVE_TTL_MS } from '../../lambdas/adapters/event-bus-verifier.js';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { DELIVERY_ENV } from '../../lambdas/core/function-env.js';
import { DLQ_ATTRIBUTES } from '../../lambdas/core/queue-message.js';
import { createDeliveryHandler as createEventBridgeSenderHandler } from '../../lambdas/destinations/eventbridge/handler.js';
import { seedEvent } from '../support/seed-event.js';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const eventsMock = mockClient(EventBridgeClient);
const sqsMock = mockClient(SQSClient);
const stsMock = mockClient(STSClient);
const dynamoMock = mockClient(DynamoDBClient);

const BUS = 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-events';
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/111122223333/pushrail-bus';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/111122223333/pushrail-bus-dlq';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const destination = {
  id: 'bus',
  type: 'EVENTBRIDGE',
  customerExternalId: 'acct_8K2zRq',
  name: 'Customer EventBridge bus',
  busArn: BUS,
  region: 'us-east-1',
  auth: {
    mode: 'ASSUME_ROLE',
    roleArn: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter',
    externalId: 'acme-ext-7Pq2',
  },
};

const env = {
  [DELIVERY_ENV.destination]: JSON.stringify(destination),
  [DELIVERY_ENV.vendor]: 'acme',
  [DELIVERY_ENV.attemptsTable]: 'attempts',
  [DELIVERY_ENV.sourceQueueUrl]: QUEUE,
  [DELIVERY_ENV.dlqUrl]: DLQ,
  [DELIVERY_ENV.retentionDays]: '30',
};

const context = { awsRequestId: 'req-1', functionName: 'pushrail-eventbridge-sender' } as unknown as Context;

function records(n: number): EventRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const idempotencyKey = `order-${i}`;
    return {
      ...structuredClone(seedEvent),
      idempotencyKey,
      eventId: deriveEventId(seedEvent.customerExternalId, idempotencyKey),
      receivedAt: '2026-05-26T14:21:09.001Z',
    } as EventRecord;
  });
}

function sqsEvent(recs: readonly EventRecord[]): SQSEvent {
  const now = String(Date.now());
  return {
    Records: recs.map(
      (r, i): SQSRecord => ({
        messageId: `m-${i}`,
        receiptHandle: `rh-${i}`,
        body: canonicalJson(r),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: now,
          SenderId: 'ingest',
          ApproximateFirstReceiveTimestamp: now,
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:pushrail-bus',
        awsRegion: 'us-east-1',
      }),
    ),
  };
}

const putEventsCalls = () =>
  eventsMock.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries ?? []);
const eventIdsOf = (entries: readonly PutEventsRequestEntry[]) =>
  entries.map((e) => JSON.parse(e.Detail ?? '{}').eventId as string);
const dlqEntries = () =>
  sqsMock
    .commandCalls(SendMessageBatchCommand)
    .filter((c) => c.args[0].input.QueueUrl === DLQ)
    .flatMap((c) => c.args[0].input.Entries ?? []);
const visibilityEntries = () =>
  sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).flatMap((c) => c.args[0].input.Entries ?? []);
const attemptItems = () =>
  dynamoMock.commandCalls(PutItemCommand).map((c) => unmarshall(c.args[0].input.Item ?? {}));
const errorCodeOf = (entry: { MessageAttributes?: Record<string, { StringValue?: string }> }) =>
  entry.MessageAttributes?.[DLQ_ATTRIBUTES.errorCode]?.StringValue;

const accepted = (entries: readonly unknown[]) => ({
  FailedEntryCount: 0,
  Entries: entries.map((_, i) => ({ EventId: `eb-${i}` })),
});

beforeEach(() => {
  // Full jitter at 0: the in-call retries do not sleep, the runtime's backoff delays are 0.
  vi.spyOn(Math, 'random').mockReturnValue(0);
  eventsMock.reset();
  sqsMock.reset();
  stsMock.reset();
  dynamoMock.reset();
  stsMock.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIAEXAMPLEEXAMPLE01',
      SecretAccessKey: SECRET,
      SessionToken: 'session-token',
      Expiration: new Date(Date.now() + 3600_000),
    },
  });
  eventsMock.on(DescribeEventBusCommand).resolves({ Arn: BUS, Name: 'pushrail-events' });
  eventsMock.on(PutEventsCommand).callsFake((input) => accepted(input.Entries));
  sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({
    Successful: input.Entries.map((e: { Id: string }) => ({
      Id: e.Id,
      MessageId: `d-${e.Id}`,
      MD5OfMessageBody: '',
    })),
    Failed: [],
  }));
  sqsMock.on(ChangeMessageVisibilityBatchCommand).callsFake((input) => ({
    Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })),
    Failed: [],
  }));
  dynamoMock.on(PutItemCommand).resolves({});
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('EventBridge sender', () => {
  it('sends 25 events as exactly 3 PutEvents calls of 10, 10 and 5 entries, after one bus check', async () => {
    const recs = records(25);
    const res = await createEventBridgeSenderHandler(env)(sqsEvent(recs), context);
    expect(res.batchItemFailures).toEqual([]);
    expect(putEventsCalls().map((c) => c.length)).toEqual([10, 10, 5]);
    expect(putEventsCalls().flatMap(eventIdsOf)).toEqual(recs.map((r) => r.eventId));
    const first = putEventsCalls()[0]?.[0];
    expect(first).toMatchObject({
      Source: 'pushrail.acme',
      DetailType: 'order.completed',
      Resources: ['acct_8K2zRq', 'order-0'],
      EventBusName: BUS,
      Detail: canonicalJson(recs[0]),
    });
    expect(eventsMock.commandCalls(DescribeEventBusCommand).map((c) => c.args[0].input)).toEqual([
      { Name: BUS },
    ]);
    expect(stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input).toMatchObject({
      RoleArn: destination.auth.roleArn,
      ExternalId: 'acme-ext-7Pq2',
    });
    expect(dlqEntries()).toEqual([]);
    // The three calls are one delivery to the bus: one attempt record.
    const delivered = attemptItems().filter((a) => a.outcome === 'delivered');
    expect(delivered.map((a) => [a.eventCount, a.calls])).toEqual([[25, 3]]);
    expect(delivered.every((a) => a.credentialsMode === 'ASSUME_ROLE')).toBe(true);
  });

  it('re-sends exactly the 2 entries that failed with retryable codes and never the 8 that succeeded', async () => {
    const recs = records(10);
    let call = 0;
    eventsMock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => {
      call += 1;
      if (call > 1) return accepted(input.Entries);
      return {
        FailedEntryCount: 2,
        Entries: input.Entries.map((_, i): PutEventsResultEntry => {
          if (i === 3) return { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' };
          if (i === 7) return { ErrorCode: 'InternalFailure', ErrorMessage: 'internal' };
          return { EventId: `eb-${i}` };
        }),
      };
    });
    const res = await createEventBridgeSenderHandler(env)(sqsEvent(recs), context);
    expect(res.batchItemFailures).toEqual([]);
    const calls = putEventsCalls();
    expect(calls.map((c) => c.length)).toEqual([10, 2]);
    expect(eventIdsOf(calls[1] ?? [])).toEqual([recs[3]?.eventId, recs[7]?.eventId]);
    // Across every call, each of the other 8 events was sent exactly once.
    const sent = calls.flatMap(eventIdsOf);
    for (const [i, r] of recs.entries()) {
      expect(sent.filter((id) => id === r.eventId)).toHaveLength(i === 3 || i === 7 ? 2 : 1);
    }
    // The audit trail says what happened in the batch: 10 delivered in 2 calls (8, then the 2 retried),
    // and each failure of the first call with its code.
    const attempts = attemptItems().map((a) => [
      a.target,
      a.outcome,
      a.errorCode ?? null,
      a.eventCount,
      a.calls,
    ]);
    expect(attempts).toEqual([
      [BUS, 'delivered', null, 10, 2],
      [BUS, 'failed', 'ThrottlingException', 1, 1],
      [BUS, 'failed', 'InternalFailure', 1, 1],
    ]);
  });

  it('backs off only the message whose entry is still throttled after the in-call retries', async () => {
    const recs = records(4);
    eventsMock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => {
      const entries = input.Entries.map(
        (e): PutEventsResultEntry =>
          JSON.parse(e.Detail ?? '{}').eventId === recs[2]?.eventId
            ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }
            : { EventId: 'ok' },
      );
      return { FailedEntryCount: entries.filter((e) => e.ErrorCode).length, Entries: entries };
    });
    const res = await createEventBridgeSenderHandler(env)(sqsEvent(recs), context);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm-2' }]);
    expect(putEventsCalls().map((c) => c.length)).toEqual([4, 1, 1]);
    expect(visibilityEntries().map((e) => e.ReceiptHandle)).toEqual(['rh-2']);
    expect(dlqEntries()).toEqual([]);
  });

  it('dead-letters the one event whose entry is MalformedDetail and delivers the rest', async () => {
    const recs = records(5);
    eventsMock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => ({
      FailedEntryCount: 1,
      Entries: input.Entries.map(
        (_, i): PutEventsResultEntry =>
          i === 1
            ? { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' }
            : { EventId: `eb-${i}` },
      ),
    }));
    const res = await createEventBridgeSenderHandler(env)(sqsEvent(recs), context);
    expect(res.batchItemFailures).toEqual([]);
    expect(putEventsCalls()).toHaveLength(1); // a permanent code is not retried
    const dlq = dlqEntries();
    expect(dlq).toHaveLength(1);
    expect(dlq[0]?.MessageBody).toBe(canonicalJson(recs[1]));
    expect(errorCodeOf(dlq[0] ?? {})).toBe('MalformedDetail');
    expect(dlq[0]?.MessageAttributes?.[DLQ_ATTRIBUTES.failureClass]?.StringValue).toBe('permanent');
    expect(visibilityEntries()).toEqual([]);
  });

  it('backs off every message when the whole call is throttled, without trying the other requests', async () => {
    const recs = records(25);
    eventsMock.on(PutEventsCommand).rejects(
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const res = await createEventBridgeSenderHandler(env)(sqsEvent(recs), context);
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      recs.map((_, i) => `m-${i}`).sort(),
    );
    expect(putEventsCalls()).toHaveLength(1);
    expect(
      visibilityEntries()
        .map((e) => e.ReceiptHandle)
        .sort(),
    ).toEqual(recs.map((_, i) => `rh-${i}`).sort());
    expect(dlqEntries()).toEqual([]);
  });

  it('dead-letters every message on AccessDeniedException', async () => {
    const recs = records(3);
    eventsMock.on(PutEventsCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: events:PutEvents'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const res = await createEventBridgeSenderHandler(env)(sqsEvent(recs), context);
    expect(res.batchItemFailures).toEqual([]);
    expect(dlqEntries().map(errorCodeOf)).toEqual([
      'AccessDeniedException',
      'AccessDeniedException',
      'AccessDeniedException',
    ]);
    expect(visibilityEntries()).toEqual([]);
  });

  it('dead-letters every message with EventBusNotFound and sends nothing when the bus does not exist', async () => {
    const recs = records(12);
    eventsMock.on(DescribeEventBusCommand).rejects(
      Object.assign(new Error('Event bus pushrail-events does not exist.'), {
        name: 'ResourceNotFoundException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const handler = createEventBridgeSenderHandler(env);
    const res = await handler(sqsEvent(recs), context);
    expect(res.batchItemFailures).toEqual([]);
    expect(putEventsCalls()).toEqual([]);
    const dlq = dlqEntries();
    expect(dlq).toHaveLength(12);
    expect(dlq.every((e) => errorCodeOf(e) === 'EventBusNotFound')).toBe(true);
    expect(dlq[0]?.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue).toContain(BUS);
    // The negative answer is cached: the next batch does not ask again.
    await handler(sqsEvent(records(1)), context);
    expect(eventsMock.commandCalls(DescribeEventBusCommand)).toHaveLength(1);
    expect(putEventsCalls()).toEqual([]);
  });

  it('puts no credential into attempt records or DLQ attributes', async () => {
    eventsMock.on(PutEventsCommand).rejects(
      Object.assign(new Error(`denied for ASIAEXAMPLEEXAMPLE01 secretAccessKey=${SECRET}`), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await createEventBridgeSenderHandler(env)(sqsEvent(records(2)), context);
    const stored = JSON.stringify([attemptItems(), dlqEntries().map((e) => e.MessageAttributes)]);
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain('ASIAEXAMPLEEXAMPLE01');
    expect(stored).not.toContain('session-token');
  });
});

describe('EventBusVerifier', () => {
  const notFound = Object.assign(new Error('Event bus x does not exist.'), {
    name: 'ResourceNotFoundException',
    $metadata: { httpStatusCode: 400 },
  });
  const target = { destinationId: 'bus', busArn: BUS, credentialsKey: 'ASIA1' };
  const client = new EventBridgeClient({ region: 'us-east-1' });

  it('keeps a missing bus for a minute, then asks again and picks up the created bus', async () => {
    let now = 1_000_000;
    const verifier = new EventBusVerifier(() => now);
    eventsMock.on(DescribeEventBusCommand).rejects(notFound);
    expect(await verifier.verify(client, target)).toMatchObject({
      ok: false,
      failure: { code: 'EventBusNotFound' },
    });
    now += NEGATIVE_TTL_MS - 1;
    expect((await verifier.verify(client, target)).ok).toBe(false);
    expect(eventsMock.commandCalls(DescribeEventBusCommand)).toHaveLength(1);
    eventsMock.on(DescribeEventBusCommand).resolves({ Arn: BUS });
    now += 2;
    expect(await verifier.verify(client, target)).toEqual({ ok: true });
    now += 10 * NEGATIVE_TTL_MS;
    expect(await verifier.verify(client, target)).toEqual({ ok: true });
    expect(eventsMock.commandCalls(DescribeEventBusCommand)).toHaveLength(2);
  });

  it('checks again for new credentials and does not cache a transient error', async () => {
    const verifier = new EventBusVerifier();
    eventsMock
      .on(DescribeEventBusCommand)
      .rejectsOnce(
        Object.assign(new Error('slow down'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .resolves({ Arn: BUS });
    expect(await verifier.verify(client, target)).toMatchObject({
      ok: false,
      failure: { failureClass: 'transient' },
    });
    expect(await verifier.verify(client, target)).toEqual({ ok: true });
    expect(await verifier.verify(client, { ...target, credentialsKey: 'ASIA2' })).toEqual({ ok: true });
    expect(eventsMock.commandCalls(DescribeEventBusCommand)).toHaveLength(3);
  });
});
