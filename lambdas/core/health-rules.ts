/**
 * The one rules table that turns a destination's health signals into a status (DESIGN.md "Trace,
 * health, audit"). The first rule that applies decides; the README renders this table
 * (`healthRulesMarkdown`) and test/unit/readme-health.test.ts fails if the two differ.
 *
 * Learned from Svix, whose endpoint auto-disable went silent on a 70% error rate: no rule here
 * disables, pauses or mutes a destination. `paused` only reports a pause someone (or a webhook's 410)
 * already made; every error rate of 50% or more reads `failing`, whatever the volume.
 */

export const HEALTH_STATUSES = ['healthy', 'degraded', 'failing', 'paused'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** What the rules look at: counts over the window (events, not calls) and the queues now. */
export interface HealthSignals {
  /** The destination is paused (DestinationRecord status PAUSED). */
  readonly paused: boolean;
  /** Events delivered by attempts in the window. */
  readonly delivered: number;
  /** Events in attempts that failed in the window (a retried event counts once per failed attempt). */
  readonly failed: number;
  /**
   * Events on-call replayed in the window: each settles one failure (a dead-lettered event failed,
   * was replayed, and its new attempt counts on its own), so a fix plus a replay reads healthy at once.
   */
  readonly replayed: number;
  /** Messages in the destination's DLQ now. */
  readonly dlqDepth: number;
  /** Age of the oldest message on the destination's queue, when known (CloudWatch); null when not. */
  readonly oldestAgeSeconds: number | null;
}

/** The thresholds the rules use, named once so the README and the tests quote the same numbers. */
export const HEALTH_THRESHOLDS = {
  /** Share of attempted events that failed, at or above which a destination is failing. */
  failingErrorRate: 0.5,
  /** Share of attempted events that failed, at or above which a destination is degraded. */
  degradedErrorRate: 0.05,
  /** A queue whose oldest message waits this long is stalled: failing. */
  failingOldestAgeSeconds: 60 * 60,
  /** A queue whose oldest message waits this long is behind: degraded. */
  degradedOldestAgeSeconds: 5 * 60,
} as const;

/** The window the counts, rates and latencies are taken over: the last 15 minutes. */
export const HEALTH_WINDOW_SECONDS = 15 * 60;

export interface HealthRule {
  readonly status: HealthStatus;
  /** The condition in words, as the README shows it. */
  readonly when: string;
  readonly applies: (signals: HealthSignals) => boolean;
}

/** Failures not settled by a replay: failed − replayed, at least 0. */
export function unsettledFailures(signals: Pick<HealthSignals, 'failed' | 'replayed'>): number {
  return Math.max(0, signals.failed - signals.replayed);
}

/**
 * unsettled ÷ (delivered + unsettled), unsettled = failed − replayed (at least 0); null when nothing
 * was attempted in the window.
 */
export function errorRate(signals: Pick<HealthSignals, 'delivered' | 'failed' | 'replayed'>): number | null {
  const unsettled = unsettledFailures(signals);
  const attempted = signals.delivered + unsettled;
  return attempted === 0 ? null : unsettled / attempted;
}

const rateAtLeast =
  (threshold: number) =>
  (s: HealthSignals): boolean => {
    const rate = errorRate(s);
    return rate !== null && rate >= threshold;
  };
const oldestOver =
  (seconds: number) =>
  (s: HealthSignals): boolean =>
    s.oldestAgeSeconds !== null && s.oldestAgeSeconds > seconds;

const pct = (rate: number) => `${Math.round(rate * 100)}%`;
const minutes = (seconds: number) => (seconds >= 3600 ? `${seconds / 3600} h` : `${seconds / 60} min`);

/** First match wins; the last rule always applies. */
export const HEALTH_RULES: readonly HealthRule[] = [
  {
    status: 'paused',
    when: 'the destination is paused (by an operator, or by a webhook answering 410); events wait in its queue',
    applies: (s) => s.paused,
  },
  {
    status: 'failing',
    when: `error rate over the window ≥ ${pct(HEALTH_THRESHOLDS.failingErrorRate)}, at any volume (error rate: failed events not since replayed ÷ those plus delivered events)`,
    applies: rateAtLeast(HEALTH_THRESHOLDS.failingErrorRate),
  },
  {
    status: 'failing',
    when: `oldest queued message older than ${minutes(HEALTH_THRESHOLDS.failingOldestAgeSeconds)} (deliveries stalled)`,
    applies: oldestOver(HEALTH_THRESHOLDS.failingOldestAgeSeconds),
  },
  {
    status: 'degraded',
    when: `error rate over the window ≥ ${pct(HEALTH_THRESHOLDS.degradedErrorRate)}`,
    applies: rateAtLeast(HEALTH_THRESHOLDS.degradedErrorRate),
  },
  {
    status: 'degraded',
    when: 'the DLQ holds at least one message (events wait for a replay)',
    applies: (s) => s.dlqDepth > 0,
  },
  {
    status: 'degraded',
    when: `oldest queued message older than ${minutes(HEALTH_THRESHOLDS.degradedOldestAgeSeconds)} (deliveries behind)`,
    applies: oldestOver(HEALTH_THRESHOLDS.degradedOldestAgeSeconds),
  },
  { status: 'healthy', when: 'none of the above', applies: () => true },
];

/** The status the first applying rule gives, and which rule (its index in HEALTH_RULES) it was. */
export function decideHealth(signals: HealthSignals): { status: HealthStatus; rule: number } {
  const rule = HEALTH_RULES.findIndex((r) => r.applies(signals));
  return { status: (HEALTH_RULES[rule] as HealthRule).status, rule };
}

/** The rules table as the README shows it (a Markdown table, one row per rule, in order). */
export function healthRulesMarkdown(): string {
  const rows = HEALTH_RULES.map((r, i) => `| ${i + 1} | \`${r.status}\` | ${r.when} |`);
  return ['| # | Status | When (first match wins) |', '| --- | --- | --- |', ...rows].join('\n');
}
