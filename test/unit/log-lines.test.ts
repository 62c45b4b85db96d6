import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SendMessageBatchCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AttemptLog } from '../../lambdas/adapters/attempt-log.js';
import { type DeliveryOutcome, runDeliveryBatch } from '../../lambdas/adapters/delivery-batch.js';
import { CompactLogFormatter, pushrailLogger } from '../../lambdas/adapters/log-format.js';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import { eventIdsField, MAX_LOGGED_EVENT_IDS } from '../../lambdas/core/log-summary.js';
import { requestSummary } from '../../lambdas/ingest/handler.js';

/**
 * Issue 12 item 5: one structured line per request and per batch, not per event, with the
 * correlation ids, event ids and destination, and no payloads at INFO.
 */

const sqsMock = mockClient(SQSClient);
const dynamoMock = mockClient(DynamoDBClient);
const SECRET_PAYLOAD = 'card-4242-do-not-log';
const NOW = new Date('2026-05-26T12:00:00Z');

function eventRecord(n: number): EventRecord {
  return {
    eventType: 'order.completed',
    occurredAt: '2026-05-26T11:21:08.493Z',
    source: 'billing-service',
    customerExternalId: 'acct_8K2zRq',
    idempotencyKey: `key-${n}`,
    correlationId: `corr-${n % 3}`,
    payload: { n, note: SECRET_PAYLOAD },
    eventId: deriveEventId('acct_8K2zRq', `key-${n}`),
    receivedAt: '2026-05-26T11:21:09.000Z',
  };
}

function sqsRecord(n: number): SQSRecord {
  const record = eventRecord(n);
  return {
    messageId: `m-${n}`,
    receiptHandle: `rh-${n}`,
    body: canonicalJson(record),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(NOW.getTime() - 5_000),
      SenderId: 'AIDA',
      ApproximateFirstReceiveTimestamp: String(NOW.getTime() - 1_000),
    },
    messageAttributes: { eventId: { dataType: 'String', stringValue: record.eventId } },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:pushrail-s3-archive',
    awsRegion: 'us-east-1',
  };
}

/** Runs `fn` with a Powertools logger at INFO whose lines are captured (stdout, stderr), and returns them. */
async function linesOf(fn: (logger: Logger) => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const written: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  // WARN and ERROR lines go to stderr.
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  try {
    await fn(new Logger({ serviceName: 'pushrail-s3-batcher', logLevel: 'INFO' }));
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return written
    .flatMap((w) => w.split('\n'))
    .filter((l) => l.startsWith('{') && l.includes('"level"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeEach(() => {
  sqsMock.reset();
  dynamoMock.reset();
  dynamoMock.on(PutItemCommand).resolves({});
  sqsMock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
    Successful: (input.Entries ?? []).map((e) => ({
      Id: e.Id,
      MessageId: `dlq-${e.Id}`,
      MD5OfMessageBody: '',
    })),
    Failed: [],
  }));
});

function deps(logger: Logger) {
  return {
    destinationId: 's3-archive',
    destinationType: 'S3' as const,
    sqs: new SQSClient({ region: 'us-east-1' }),
    sourceQueueUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/pushrail-s3-archive',
    dlqUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/pushrail-s3-archive-dlq',
    attempts: new AttemptLog(new DynamoDBClient({ region: 'us-east-1' }), 'attempts', 86_400),
    logger,
    now: () => NOW,
    random: () => 0.5,
  };
}

describe('a delivery batch logs one line', () => {
  it('for a batch of 50 events: the destination, every event id, the correlation ids, no payload', async () => {
    const n = 50;
    const records = Array.from({ length: n }, (_, i) => sqsRecord(i));
    const lines = await linesOf((logger) =>
      runDeliveryBatch(
        { Records: records },
        async (events) =>
          new Map<string, DeliveryOutcome>(events.map((e) => [e.record.eventId, { ok: true }])),
        deps(logger),
      ),
    );
    expect(lines).toHaveLength(1);
    const [line] = lines as [Record<string, unknown>];
    expect(line).toMatchObject({
      level: 'INFO',
      message: 'delivery batch',
      destinationId: 's3-archive',
      kind: 'S3',
      messages: n,
      delivered: n,
      retrying: 0,
      deadLettered: 0,
    });
    expect(line.eventIds).toEqual(records.map((_, i) => eventRecord(i).eventId));
    expect([...(line.correlationIds as string[])].sort()).toEqual(['corr-0', 'corr-1', 'corr-2']);
    expect(JSON.stringify(line)).not.toContain(SECRET_PAYLOAD);
  });

  it('at WARN with the codes when some events did not get through, still one line', async () => {
    const records = Array.from({ length: 10 }, (_, i) => sqsRecord(i));
    const lines = await linesOf((logger) =>
      runDeliveryBatch(
        { Records: records },
        async (events) =>
          new Map<string, DeliveryOutcome>(
            events.map((e, i) => [
              e.record.eventId,
              i < 3
                ? {
                    ok: false,
                    failure: { failureClass: 'permanent', code: 'NoSuchBucket', message: 'no bucket' },
                  }
                : { ok: true },
            ]),
          ),
        deps(logger),
      ),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'WARN',
      message: 'delivery batch',
      delivered: 7,
      deadLettered: 3,
      codes: ['NoSuchBucket'],
    });
    expect(JSON.stringify(lines)).not.toContain(SECRET_PAYLOAD);
  });
});

describe('an ingest request logs one line', () => {
  it('with counts, event ids, correlation ids, destinations and refusal codes, no payload', () => {
    const events = [0, 1, 2].map((i) => ({ event: eventRecord(i) }));
    const summary = requestSummary(events, [
      { ok: true, result: { eventId: 'e0', duplicate: false, destinations: ['a', 'b'] } },
      { ok: true, result: { eventId: 'e1', duplicate: true, destinations: ['a'] } },
      {
        ok: false,
        error: new ValidationError('invalid event', [{ field: 'eventType', message: 'required' }]),
      },
    ]);
    expect(summary).toMatchObject({
      events: 3,
      accepted: 2,
      duplicates: 1,
      refused: 1,
      eventIds: ['e0', 'e1'],
      destinations: ['a', 'b'],
    });
    expect(summary.correlationIds).toEqual(['corr-0', 'corr-1', 'corr-2']);
    expect((summary.codes as string[]).length).toBe(1);
    expect(JSON.stringify(summary)).not.toContain(SECRET_PAYLOAD);
  });

  it('leaves out zero counts and empty lists: a plain single-event POST says only what happened', () => {
    const summary = requestSummary(
      [{ event: { ...eventRecord(0), correlationId: undefined } }],
      [{ ok: true, result: { eventId: 'e0', duplicate: false, destinations: ['a'] } }],
    );
    expect(summary).toEqual({ events: 1, accepted: 1, eventIds: ['e0'], destinations: ['a'] });
  });

  it('caps the event ids of a huge batch, counting the rest', () => {
    const ids = Array.from({ length: MAX_LOGGED_EVENT_IDS + 7 }, (_, i) => `e${i}`);
    expect(eventIdsField(ids)).toEqual({ eventIds: ids.slice(0, MAX_LOGGED_EVENT_IDS), eventIdsOmitted: 7 });
  });
});

describe("Pushrail's log line (adapters/log-format.ts)", () => {
  it('keeps the request id, level, service, time and correlation id, without the keys the log group repeats', async () => {
    const written: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }),
    );
    const context = {
      awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
      functionName: 'pushrail-ingest-IngestFunction-0123456789ab',
      invokedFunctionArn:
        'arn:aws:lambda:us-east-1:111122223333:function:pushrail-ingest-IngestFunction-0123456789ab',
      memoryLimitInMB: '512',
      functionVersion: '$LATEST',
    } as unknown as Context;
    try {
      const logger = pushrailLogger('pushrail-ingest');
      logger.setLogLevel('INFO');
      logger.addContext(context);
      logger.setCorrelationId('corr-1');
      logger.info('request accepted', { events: 1 });
      logger.addContext(context);
      logger.info('request accepted', { events: 2 });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const lines = written
      .flatMap((w) => w.split('\n'))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'request accepted',
      service: 'pushrail-ingest',
      function_request_id: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
      correlation_id: 'corr-1',
      events: 1,
    });
    expect(typeof lines[0]?.timestamp).toBe('string');
    // A warm invocation says nothing of cold starts; a cold one says so.
    expect(lines[1]).not.toHaveProperty('cold_start');
    const cold = new CompactLogFormatter().formatAttributes(
      {
        logLevel: 'INFO',
        message: 'm',
        timestamp: new Date(),
        serviceName: 's',
        sampleRateValue: 0,
        lambdaContext: { ...context, coldStart: true },
      } as unknown as Parameters<CompactLogFormatter['formatAttributes']>[0],
      {},
    );
    expect(cold.getAttributes()).toMatchObject({
      cold_start: true,
      function_request_id: context.awsRequestId,
    });
    for (const line of lines)
      for (const key of ['function_arn', 'function_name', 'function_memory_size', 'sampling_rate'])
        expect(line).not.toHaveProperty(key);
  });
});
