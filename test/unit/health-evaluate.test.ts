import { describe, expect, it } from 'vitest';
import type { HealthChange } from '../../lambdas/adapters/health-announcer.js';
import type { HealthPartition, StoredHealthStatus } from '../../lambdas/adapters/health-rollups.js';
import type { HealthStatus } from '../../lambdas/core/health-rules.js';
import { evaluateHealth, type HealthDeps, type HealthTarget } from '../../lambdas/observe/health.js';

/**
 * Evaluation and announcement (lambdas/observe/health.ts) over in-memory stand-ins with the
 * DynamoDB adapter's conditional semantics: a change is announced once, by the evaluator whose
 * conditional write won, and again only if its PutEvents failed.
 */

const NOW = new Date('2026-12-01T12:00:00.000Z');
const TARGET: HealthTarget = {
  destinationId: 'acme-s3',
  type: 'S3',
  customerExternalId: 'acct_1',
  paused: false,
  createdAt: '2026-11-01T00:00:00.000Z',
  queueUrl: 'http://sqs/123456789012/p-acme-s3',
  dlqUrl: 'http://sqs/123456789012/p-acme-s3-dlq',
};

function fakes(minutes: HealthPartition['minutes'], options: { announceFails?: number } = {}) {
  let stored: StoredHealthStatus | undefined;
  const announced: HealthChange[] = [];
  let failures = options.announceFails ?? 0;
  const ageQueries: string[][] = [];
  const deps: HealthDeps = {
    rollups: {
      read: async () => ({ minutes, ...(stored ? { status: { ...stored } } : {}), readUnits: 0.5 }),
      transition: async (_id, from, to: HealthStatus, at) => {
        const holds = from ? stored?.status === from.status && stored.since === from.since : !stored;
        if (!holds) return false;
        stored = { status: to, since: at.toISOString(), announced: false, from: from?.status ?? 'healthy' };
        return true;
      },
      markAnnounced: async (_id, since) => {
        if (stored?.since === since) stored = { ...stored, announced: true };
      },
    },
    queues: {
      backlog: async () => ({ queued: 2, inFlight: 0, dlqDepth: 0 }),
      oldestAges: async (names) => {
        ageQueries.push([...names]);
        return new Map(names.map((n) => [n, 7]));
      },
    },
    announcer: {
      announce: async (change) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('PutEvents failed');
        }
        announced.push(change);
      },
    },
    logger: { warn: () => undefined, info: () => undefined },
    now: () => NOW,
  };
  return { deps, announced, ageQueries, stored: () => stored };
}

const failing = [
  { failed: 10, lastError: { at: NOW.toISOString(), errorCode: 'NoSuchBucket', reason: 'gone' } },
];

describe('health evaluation', () => {
  it('announces a change once, however many evaluations see it', async () => {
    const { deps, announced } = fakes(failing);
    const [first] = await evaluateHealth([TARGET], deps);
    await evaluateHealth([TARGET], deps);
    await evaluateHealth([TARGET], deps);
    expect(first).toMatchObject({
      status: 'failing',
      since: NOW.toISOString(),
      backlog: { oldestAgeSeconds: 7 },
    });
    expect(announced).toEqual([
      {
        destinationId: 'acme-s3',
        customerExternalId: 'acct_1',
        from: 'healthy',
        to: 'failing',
        at: NOW.toISOString(),
        lastError: { at: NOW.toISOString(), errorCode: 'NoSuchBucket', reason: 'gone' },
      },
    ]);
  });

  it('lets only the evaluator whose conditional write won announce, when two run at once', async () => {
    const { deps, announced } = fakes(failing);
    await Promise.all([evaluateHealth([TARGET], deps), evaluateHealth([TARGET], deps)]);
    expect(announced).toHaveLength(1);
  });

  it('puts an announcement again when PutEvents failed, and then never again', async () => {
    const { deps, announced, stored } = fakes(failing, { announceFails: 1 });
    await evaluateHealth([TARGET], deps);
    expect(announced).toHaveLength(0);
    expect(stored()).toMatchObject({ status: 'failing', announced: false });
    await evaluateHealth([TARGET], deps);
    await evaluateHealth([TARGET], deps);
    expect(announced.map((a) => [a.from, a.to])).toEqual([['healthy', 'failing']]);
  });

  it('writes and announces nothing for a destination that is and was healthy', async () => {
    const { deps, announced, stored } = fakes([{ delivered: 100 }]);
    const [h] = await evaluateHealth([TARGET], deps);
    expect(h).toMatchObject({ status: 'healthy', since: TARGET.createdAt, successRate: 1 });
    expect(stored()).toBeUndefined();
    expect(announced).toEqual([]);
  });

  it('asks CloudWatch only for queues that hold messages', async () => {
    const { deps, ageQueries } = fakes([]);
    const idle = { ...TARGET, destinationId: 'idle', queueUrl: 'http://sqs/1/p-idle' };
    deps.queues.backlog = async (queueUrl) =>
      queueUrl === idle.queueUrl
        ? { queued: 0, inFlight: 0, dlqDepth: 0 }
        : { queued: 1, inFlight: 0, dlqDepth: 0 };
    const [busy, quiet] = await evaluateHealth([TARGET, idle], deps);
    expect(ageQueries).toEqual([['p-acme-s3']]);
    expect(busy?.backlog.oldestAgeSeconds).toBe(7);
    expect(quiet?.backlog.oldestAgeSeconds).toBeNull();
  });
});
