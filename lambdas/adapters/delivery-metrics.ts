import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { FailureClass } from '../core/failure-classification.js';
import { METRIC_NAMES, METRICS_NAMESPACE, METRICS_SERVICE, type MetricDimension } from '../core/metrics.js';
import type { DestinationType } from '../destinations/index.js';
import type { AttemptRecord } from './attempt-log.js';

export { METRIC_DIMENSIONS, METRIC_NAMES, METRICS_NAMESPACE, METRICS_SERVICE } from '../core/metrics.js';

/**
 * Pushrail's custom metrics (CloudWatch EMF through Powertools Metrics), fed from the one place every
 * delivery attempt passes: AttemptLog.record.
 *
 * Custom metrics are billed per unique name and dimension set, so the dimensions are the destination
 * KIND and, for failures, the failure class: a fixed handful of metrics whatever the number of
 * destinations. Per-destination detail comes from what is free or already paid for: SQS's own
 * per-queue metrics and the attempts table (trace, health). Never add a destination id here.
 */

/** The dimensions of one metric: by kind, and by failure class for failures. */
export function dimensionsOf(
  kind: DestinationType,
  failureClass?: FailureClass,
): Readonly<Record<Exclude<MetricDimension, 'service'>, string>> | Readonly<{ kind: string }> {
  return failureClass ? { kind, failureClass } : { kind };
}

/**
 * Whether metrics are written: in a Lambda function only, unless `POWERTOOLS_METRICS_DISABLED` says
 * otherwise. The local runtime and the tests run the same handlers off Lambda, where EMF lines would
 * only be noise on stdout (nothing ingests them).
 */
export function metricsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env.POWERTOOLS_METRICS_DISABLED?.trim().toLowerCase();
  if (flag !== undefined && flag !== '') return !['1', 'true', 'yes', 'on'].includes(flag);
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
}

/**
 * The metrics of one process: one Powertools `Metrics` per dimension set (EMF gives every metric of
 * one document the same dimensions), each buffering until `flush`, which the handler calls once per
 * invocation.
 */
export class DeliveryMetrics {
  private readonly sets = new Map<string, Metrics>();

  public constructor(private readonly enabled: boolean = metricsEnabled()) {}

  /** Counts one attempt record: delivered, failed (by class), dead-lettered, with its latency. */
  public record(attempt: AttemptRecord): void {
    // A test send is a synthetic event (POST /v1/destinations/{id}/test), not traffic.
    if (!this.enabled || attempt.test) return;
    const events = attempt.eventIds.length;
    const kind = attempt.destinationType;
    switch (attempt.outcome) {
      case 'delivered':
        this.set(kind).addMetric(METRIC_NAMES.delivered, MetricUnit.Count, events);
        if (attempt.latencyMs !== undefined)
          this.set(kind).addMetric(METRIC_NAMES.latency, MetricUnit.Milliseconds, attempt.latencyMs);
        break;
      case 'failed':
        this.set(kind, attempt.failureClass ?? 'transient').addMetric(
          METRIC_NAMES.failed,
          MetricUnit.Count,
          events,
        );
        break;
      case 'dead-lettered':
        this.set(kind).addMetric(METRIC_NAMES.deadLettered, MetricUnit.Count, events);
        break;
      default:
        // retry-scheduled and replayed are decisions about messages, not delivery outcomes.
        break;
    }
  }

  /** Writes what was buffered (one EMF line per dimension set) and empties the buffers. */
  public flush(): void {
    // Only the sets with something stored: Powertools warns on an empty publish.
    for (const metrics of this.sets.values()) if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }

  private set(kind: DestinationType, failureClass?: FailureClass): Metrics {
    const key = `${kind}/${failureClass ?? ''}`;
    let metrics = this.sets.get(key);
    if (!metrics) {
      metrics = new Metrics({
        namespace: METRICS_NAMESPACE,
        serviceName: METRICS_SERVICE,
        defaultDimensions: dimensionsOf(kind, failureClass),
      });
      this.sets.set(key, metrics);
    }
    return metrics;
  }
}

/** The process's metrics: AttemptLog.record feeds them, the handlers flush them per invocation. */
export const deliveryMetrics = new DeliveryMetrics();

/** Runs `fn`, then flushes the metrics it recorded, whether it succeeded or threw. */
export async function withMetricsFlush<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    deliveryMetrics.flush();
  }
}
