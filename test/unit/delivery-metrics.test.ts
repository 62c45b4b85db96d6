import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AttemptRecord } from '../../lambdas/adapters/attempt-log.js';
import {
  DeliveryMetrics,
  METRIC_DIMENSIONS,
  METRIC_NAMES,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  metricsEnabled,
} from '../../lambdas/adapters/delivery-metrics.js';

interface EmfDocument {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}

/** Runs `fn` and returns the EMF documents written to stdout meanwhile. */
function capture(fn: () => void): EmfDocument[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as EmfDocument);
}

const base = { destinationId: 'acme-s3-raw', destinationType: 'S3' } as const;
const attempts: AttemptRecord[] = [
  { ...base, eventIds: ['e1', 'e2', 'e3'], outcome: 'delivered', latencyMs: 120 },
  { ...base, eventIds: ['e4'], outcome: 'failed', failureClass: 'transient', errorCode: 'SlowDown' },
  {
    ...base,
    eventIds: ['e5', 'e6'],
    outcome: 'failed',
    failureClass: 'permanent',
    errorCode: 'NoSuchBucket',
  },
  { ...base, eventIds: ['e5', 'e6'], outcome: 'dead-lettered', failureClass: 'permanent', target: 'dlq' },
  {
    destinationId: 'acme-bus',
    destinationType: 'EVENTBRIDGE',
    eventIds: ['e7'],
    outcome: 'delivered',
    latencyMs: 40,
  },
];

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('delivery metrics (EMF)', () => {
  it('uses only the kind and failure class as dimensions, never a destination', () => {
    const metrics = new DeliveryMetrics(true);
    const docs = capture(() => {
      for (const a of attempts) metrics.record(a);
      metrics.flush();
    });
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      for (const directive of doc._aws.CloudWatchMetrics) {
        expect(directive.Namespace).toBe(METRICS_NAMESPACE);
        for (const set of directive.Dimensions) {
          for (const name of set) expect(METRIC_DIMENSIONS).toContain(name);
        }
      }
      expect(doc.service).toBe(METRICS_SERVICE);
      // Nothing of the destination is in the document, not even as metadata (a log field).
      expect(JSON.stringify(doc)).not.toContain('acme');
    }
  });

  it('counts events delivered, failed by class and dead-lettered, and the latency, per kind', () => {
    const metrics = new DeliveryMetrics(true);
    const docs = capture(() => {
      for (const a of attempts) metrics.record(a);
      metrics.flush();
    });
    const find = (kind: string, failureClass?: string) =>
      docs.find((d) => d.kind === kind && d.failureClass === failureClass);
    expect(find('S3')).toMatchObject({
      [METRIC_NAMES.delivered]: 3,
      [METRIC_NAMES.latency]: 120,
      [METRIC_NAMES.deadLettered]: 2,
    });
    expect(find('S3', 'transient')).toMatchObject({ [METRIC_NAMES.failed]: 1 });
    expect(find('S3', 'permanent')).toMatchObject({ [METRIC_NAMES.failed]: 2 });
    expect(find('EVENTBRIDGE')).toMatchObject({ [METRIC_NAMES.delivered]: 1, [METRIC_NAMES.latency]: 40 });
    // One line per dimension set per flush, not per attempt.
    expect(docs).toHaveLength(4);
  });

  it('leaves test sends and replay decisions out, and writes nothing on an empty flush', () => {
    const metrics = new DeliveryMetrics(true);
    const docs = capture(() => {
      metrics.record({ ...base, eventIds: ['t'], outcome: 'delivered', latencyMs: 5, test: true });
      metrics.record({ ...base, eventIds: ['r'], outcome: 'replayed' });
      metrics.flush();
      metrics.flush();
    });
    expect(docs).toEqual([]);
  });

  it('writes nothing when disabled', () => {
    const metrics = new DeliveryMetrics(false);
    const docs = capture(() => {
      for (const a of attempts) metrics.record(a);
      metrics.flush();
    });
    expect(docs).toEqual([]);
  });

  it('is on in Lambda only, unless POWERTOOLS_METRICS_DISABLED says otherwise', () => {
    expect(metricsEnabled({})).toBe(false);
    expect(metricsEnabled({ AWS_LAMBDA_FUNCTION_NAME: 'f' })).toBe(true);
    expect(metricsEnabled({ AWS_LAMBDA_FUNCTION_NAME: 'f', POWERTOOLS_METRICS_DISABLED: 'true' })).toBe(
      false,
    );
    expect(metricsEnabled({ POWERTOOLS_METRICS_DISABLED: 'false' })).toBe(true);
  });
});
