import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { QueueFanout } from '../../lambdas/adapters/queue-fanout.js';
import { KiB } from '../../lambdas/core/limits.js';

const sqsMock = mockClient(SQSClient);
const sqs = new SQSClient({ region: 'us-east-1' });
const BASE = 'https://sqs.us-east-1.amazonaws.com/111122223333/';

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({
    Successful: input.Entries.map((e: { Id: string }) => ({
      Id: e.Id,
      MessageId: `m-${e.Id}`,
      MD5OfMessageBody: '',
    })),
    Failed: [],
  }));
});

/** Runs n participants that each send one message to the given queues. */
async function run(fanout: QueueFanout, bodies: string[], queues = ['q-a']) {
  return Promise.all(
    bodies.map(async (body) => {
      const p = fanout.participant();
      try {
        return await p.send(
          body,
          undefined,
          queues.map((q) => ({ destinationId: q, queueName: q })),
        );
      } finally {
        p.finish();
      }
    }),
  );
}

const calls = () => sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);

describe('QueueFanout', () => {
  it('sends 25 messages per queue as batches of 10, 10 and 5', async () => {
    const bodies = Array.from({ length: 25 }, (_, i) => `m${i}`);
    const outcomes = await run(new QueueFanout(sqs, BASE, 25), bodies, ['q-a', 'q-b']);
    expect(outcomes.every((o) => o.failed.length === 0 && o.succeeded.length === 2)).toBe(true);
    const sizes = (queue: string) =>
      calls()
        .filter((c) => c.QueueUrl === `${BASE}${queue}`)
        .map((c) => c.Entries?.length);
    expect(sizes('q-a')).toEqual([10, 10, 5]);
    expect(sizes('q-b')).toEqual([10, 10, 5]);
  });

  it('waits for every participant before sending a partial batch', async () => {
    const fanout = new QueueFanout(sqs, BASE, 3);
    const a = fanout.participant();
    const b = fanout.participant();
    const c = fanout.participant();
    const sentA = a.send('a', undefined, [{ destinationId: 'd', queueName: 'q' }]);
    const sentB = b.send('b', undefined, [{ destinationId: 'd', queueName: 'q' }]);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls()).toHaveLength(0); // c is still working: do not send a batch of 2
    c.finish(); // c turned out to be a duplicate
    await Promise.all([sentA, sentB]);
    expect(calls().map((x) => x.Entries?.length)).toEqual([2]);
  });

  it('splits batches so that no request exceeds 1 MiB', async () => {
    const big = 'x'.repeat(300 * KiB);
    await run(
      new QueueFanout(sqs, BASE, 7),
      Array.from({ length: 7 }, () => big),
    );
    const sizes = calls().map((c) =>
      (c.Entries ?? []).reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0),
    );
    expect(sizes.every((s) => s <= 1024 * KiB)).toBe(true);
    expect(calls().map((c) => c.Entries?.length)).toEqual([3, 3, 1]);
  });

  it('re-sends only the entries SQS reported as failed', async () => {
    let call = 0;
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => {
      call += 1;
      const entries = input.Entries as { Id: string; MessageBody: string }[];
      if (call === 1) {
        return {
          Successful: entries
            .filter((e) => e.Id !== '3')
            .map((e) => ({ Id: e.Id, MessageId: 'm', MD5OfMessageBody: '' })),
          Failed: [{ Id: '3', Code: 'InternalError', SenderFault: false }],
        };
      }
      return {
        Successful: entries.map((e) => ({ Id: e.Id, MessageId: 'm', MD5OfMessageBody: '' })),
        Failed: [],
      };
    });
    const outcomes = await run(new QueueFanout(sqs, BASE, 5), ['a', 'b', 'c', 'd', 'e']);
    expect(outcomes.every((o) => o.failed.length === 0)).toBe(true);
    expect(calls().map((c) => c.Entries?.map((e) => e.MessageBody))).toEqual([
      ['a', 'b', 'c', 'd', 'e'],
      ['d'],
    ]);
  });

  it('fails only the affected event when SQS blames the sender for one entry', async () => {
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: input.Entries.filter((e: { Id: string }) => e.Id !== '1').map((e: { Id: string }) => ({
        Id: e.Id,
        MessageId: 'm',
        MD5OfMessageBody: '',
      })),
      Failed: [{ Id: '1', Code: 'InvalidMessageContents', SenderFault: true }],
    }));
    const outcomes = await run(new QueueFanout(sqs, BASE, 3), ['a', 'b', 'c']);
    expect(outcomes.map((o) => o.failed.length)).toEqual([0, 1, 0]);
    expect(outcomes[1]?.failed[0]?.error.message).toContain('InvalidMessageContents');
    expect(calls()).toHaveLength(1);
  });

  it('fails every event of a batch whose call failed, and only those', async () => {
    sqsMock.on(SendMessageBatchCommand).rejects(new Error('throttled for good'));
    const outcomes = await run(new QueueFanout(sqs, BASE, 2), ['a', 'b']);
    expect(outcomes.map((o) => o.failed.map((f) => f.destinationId))).toEqual([['q-a'], ['q-a']]);
  });
});
