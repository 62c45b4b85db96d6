import type { Logger } from '@aws-lambda-powertools/logger';
import type { HealthAnnouncer } from '../adapters/health-announcer.js';
import type { HealthPartition, HealthRollups, StoredHealthStatus } from '../adapters/health-rollups.js';
import type { QueueBacklog, QueueDepths } from '../adapters/queue-depths.js';
import { windowStats } from '../core/health-rollup.js';
import { decideHealth, HEALTH_WINDOW_SECONDS, type HealthStatus } from '../core/health-rules.js';

/**
 * Health of destinations (DESIGN.md "Trace, health, audit"): each destination's window from its
 * rollups, its queues now, the status from the one rules table (core/health-rules.ts), and the
 * announcement of a change.
 *
 * Whoever evaluates also announces: every health read (`GET /v1/health`, `GET
 * /v1/destinations/{id}/health`) and the provisioner's scheduled reconcile (every 5 minutes, so a
 * change is announced within about 5 minutes even when nobody looks). A change is announced once: the
 * stored status moves by a conditional write, and only the evaluator whose write won puts the event.
 * If that PutEvents fails, the status stays `announced: false` and the next evaluation puts it again.
 */

/** What health needs to know of a destination (from its DestinationRecord). */
export interface HealthTarget {
  readonly destinationId: string;
  readonly type: string;
  readonly customerExternalId: string;
  readonly paused: boolean;
  readonly createdAt: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
}

export interface DestinationHealth {
  readonly destinationId: string;
  readonly type: string;
  readonly status: HealthStatus;
  readonly since: string;
  /** ISO-8601 duration of the window the counts cover: `PT15M`. */
  readonly window: string;
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  readonly successRate: number | null;
  readonly latencyMs: { readonly p50: number | null; readonly p95: number | null };
  readonly backlog: {
    readonly queued: number;
    readonly inFlight: number;
    readonly oldestAgeSeconds: number | null;
  };
  readonly dlqDepth: number;
  readonly lastError?: { readonly at: string; readonly errorCode: string; readonly reason: string };
}

export interface HealthDeps {
  readonly rollups: Pick<HealthRollups, 'read' | 'transition' | 'markAnnounced'>;
  readonly queues: Pick<QueueDepths, 'backlog' | 'oldestAges'>;
  readonly announcer: Pick<HealthAnnouncer, 'announce'>;
  readonly logger: Pick<Logger, 'warn' | 'info'>;
  readonly now?: () => Date;
  /** Destinations evaluated at once (each is a Query and two SQS calls). @default 16 */
  readonly concurrency?: number;
}

export const HEALTH_WINDOW = `PT${HEALTH_WINDOW_SECONDS / 60}M`;

/** Evaluates the destinations' health, announcing changes; answers in the order given. */
export async function evaluateHealth(
  targets: readonly HealthTarget[],
  deps: HealthDeps,
): Promise<DestinationHealth[]> {
  const now = (deps.now ?? (() => new Date()))();
  const from = new Date(now.getTime() - HEALTH_WINDOW_SECONDS * 1000);
  const read = await pool(targets, deps.concurrency ?? 16, async (target) => {
    const [partition, backlog] = await Promise.all([
      deps.rollups.read(target.destinationId, from),
      deps.queues.backlog(target.queueUrl, target.dlqUrl),
    ]);
    return { target, partition, backlog };
  });
  // Ages are the one paid read (CloudWatch GetMetricData, per metric): only for queues holding messages.
  const busy = read.flatMap(({ target, backlog }) =>
    target.queueUrl && backlog.queued + backlog.inFlight > 0 ? [queueNameOf(target.queueUrl)] : [],
  );
  const ages = await deps.queues.oldestAges(busy, now).catch((error: unknown) => {
    deps.logger.warn('oldest message ages unavailable', { error });
    return new Map<string, number>();
  });
  return pool(read, deps.concurrency ?? 16, ({ target, partition, backlog }) =>
    evaluateOne(target, partition, backlog, deps, now, ages),
  );
}

/** Maps with at most `concurrency` calls at once; answers in the order given. */
async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  map: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await map(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

async function evaluateOne(
  target: HealthTarget,
  partition: HealthPartition,
  backlog: QueueBacklog,
  deps: HealthDeps,
  now: Date,
  ages: ReadonlyMap<string, number>,
): Promise<DestinationHealth> {
  // Only the minutes inside the window (the Query starts at the window's first minute).
  const stats = windowStats(partition.minutes);
  const oldestAgeSeconds = target.queueUrl ? (ages.get(queueNameOf(target.queueUrl)) ?? null) : null;
  const { status } = decideHealth({
    paused: target.paused,
    delivered: stats.delivered,
    failed: stats.failed,
    replayed: stats.replayed,
    dlqDepth: backlog.dlqDepth,
    oldestAgeSeconds,
  });
  const since = await settle(target, partition.status, status, stats.lastError, now, deps);
  return {
    destinationId: target.destinationId,
    type: target.type,
    status,
    since,
    window: HEALTH_WINDOW,
    delivered: stats.delivered,
    failed: stats.failed,
    deadLettered: stats.deadLettered,
    successRate: stats.successRate,
    latencyMs: stats.latencyMs,
    backlog: { queued: backlog.queued, inFlight: backlog.inFlight, oldestAgeSeconds },
    dlqDepth: backlog.dlqDepth,
    ...(stats.lastError ? { lastError: stats.lastError } : {}),
  };
}

/**
 * Stores and announces a change of status; answers since when the status holds. With nothing stored
 * a destination counts as healthy since its creation, so a new healthy destination writes nothing.
 */
async function settle(
  target: HealthTarget,
  stored: StoredHealthStatus | undefined,
  status: HealthStatus,
  lastError: DestinationHealth['lastError'],
  now: Date,
  deps: HealthDeps,
): Promise<string> {
  const current = stored?.status ?? 'healthy';
  const announce = async (from: string, at: string) => {
    try {
      await deps.announcer.announce({
        destinationId: target.destinationId,
        customerExternalId: target.customerExternalId,
        from,
        to: status,
        at,
        lastError: lastError ?? null,
      });
      await deps.rollups.markAnnounced(target.destinationId, at);
      deps.logger.info('destination health changed', {
        destinationId: target.destinationId,
        from,
        to: status,
      });
    } catch (error) {
      deps.logger.warn('could not announce the health change; the next evaluation retries', {
        destinationId: target.destinationId,
        error,
      });
    }
  };
  if (current === status) {
    if (stored && !stored.announced) await announce(stored.from ?? 'healthy', stored.since);
    return stored?.since ?? target.createdAt;
  }
  const at = now.toISOString();
  if (await deps.rollups.transition(target.destinationId, stored, status, now)) {
    await announce(current, at);
    return at;
  }
  // Another evaluator moved it first and announces; this answer is as of now.
  return at;
}

/** A queue's name: the last path segment of its URL. */
function queueNameOf(queueUrl: string): string {
  return queueUrl.slice(queueUrl.lastIndexOf('/') + 1);
}

/** The health target of a stored destination (the provisioner's scheduled evaluation). */
export function healthTargetOfRecord(record: {
  readonly destination: { readonly id: string; readonly type: string; readonly customerExternalId: string };
  readonly status: string;
  readonly desired: string;
  readonly createdAt: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
}): HealthTarget {
  return {
    destinationId: record.destination.id,
    type: record.destination.type,
    customerExternalId: record.destination.customerExternalId,
    paused: record.status === 'PAUSED',
    createdAt: record.createdAt,
    ...(record.queueUrl ? { queueUrl: record.queueUrl } : {}),
    ...(record.dlqUrl ? { dlqUrl: record.dlqUrl } : {}),
  };
}
