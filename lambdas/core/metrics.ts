/**
 * The names of Pushrail's custom metrics, shared by the emitter (adapters/delivery-metrics.ts) and the
 * stack's alarms and dashboard (lib/observability.ts). Dimensions are the destination kind and, for
 * failures, the failure class, never a destination: custom metrics are billed per name and dimension
 * set.
 */

/** The namespace of every Pushrail custom metric (the alarms and the dashboard read it). */
export const METRICS_NAMESPACE = 'Pushrail';

/**
 * The `service` dimension Powertools always adds, pinned to one value: the consumers and the replay
 * function then write the same dimension sets, and the stack's alarms can name them exactly.
 */
export const METRICS_SERVICE = 'pushrail';

/** Metric names, in one place for the emitter, the alarms and the dashboard. */
export const METRIC_NAMES = {
  delivered: 'EventsDelivered',
  failed: 'EventsFailed',
  deadLettered: 'EventsDeadLettered',
  latency: 'DeliveryLatency',
} as const;

/** Every dimension a Pushrail custom metric may carry (an infra test holds the code to it). */
export const METRIC_DIMENSIONS = ['service', 'kind', 'failureClass'] as const;
export type MetricDimension = (typeof METRIC_DIMENSIONS)[number];
