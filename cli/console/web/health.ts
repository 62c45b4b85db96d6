import { getJson, type Health } from './api.js';
import { errorBox, h, replace, time } from './dom.js';
import { poll } from './poll.js';

/** Health evaluates every destination (a rollup Query and queue attributes each): every 15 s is plenty. */
const REFRESH_MS = 15_000;

/** Health per destination: status colour, counts, backlog, DLQ depth and the last error. */
export function mountHealth(root: HTMLElement): () => void {
  const body = h('tbody', { 'data-testid': 'health' });
  const status = h('p', { class: 'muted' });
  root.append(
    h('h2', {}, 'Health'),
    h(
      'table',
      { class: 'grid' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...[
            'destination',
            'status',
            'since',
            'delivered',
            'failed',
            'success',
            'p95',
            'backlog',
            'oldest',
            'DLQ',
            'last error',
          ].map((c) => h('th', {}, c)),
        ),
      ),
      body,
    ),
    status,
  );
  const refresher = poll(refresh, REFRESH_MS);
  async function refresh(): Promise<void> {
    try {
      const { destinations } = await getJson<{ destinations: Health[] }>('/api/health');
      replace(body, ...destinations.map(row));
      replace(status, `updated ${time(new Date().toISOString())} · window 15 minutes`);
    } catch (error) {
      replace(status, errorBox(error));
    }
  }
  refresher.now();
  return refresher.stop;
}

function row(d: Health): HTMLElement {
  const rate =
    d.successRate === null || d.successRate === undefined ? '-' : `${(d.successRate * 100).toFixed(2)}%`;
  const backlog = d.backlog ? `${d.backlog.queued ?? 0} queued, ${d.backlog.inFlight ?? 0} in flight` : '-';
  const oldest = d.backlog?.oldestAgeSeconds ? `${d.backlog.oldestAgeSeconds} s` : '-';
  return h(
    'tr',
    { 'data-destination': d.destinationId, 'data-status': d.status },
    h('td', {}, `${d.destinationId} (${d.type.toLowerCase()})`),
    h('td', {}, h('span', { class: `status status-${d.status}`, 'data-testid': 'status' }, d.status)),
    h('td', {}, time(d.since)),
    h('td', {}, d.delivered ?? 0),
    h('td', {}, d.failed ?? 0),
    h('td', {}, rate),
    h('td', {}, d.latencyMs?.p95 === null || d.latencyMs?.p95 === undefined ? '-' : `${d.latencyMs.p95} ms`),
    h('td', {}, backlog),
    h('td', {}, oldest),
    h('td', { 'data-testid': 'dlq' }, d.dlqDepth ?? 0),
    h(
      'td',
      { class: 'reason' },
      d.lastError
        ? `${time(d.lastError.at)} ${d.lastError.errorCode ?? ''}: ${d.lastError.reason ?? ''}`
        : '-',
    ),
  );
}
