import { type Delivery, destinations, getJson, type Health } from './api.js';
import { errorBox, h, replace, time } from './dom.js';
import { poll } from './poll.js';

/** How often the live list asks for the newest deliveries (one feed Query, see the README's cost). */
const REFRESH_MS = 3000;
/**
 * How often the summary line reads health: it evaluates every destination (a rollup Query and the
 * queue attributes of each), far more than the feed's one Query, so not on every refresh.
 */
const SUMMARY_MS = 30_000;

const OUTCOMES = ['delivered', 'failed', 'retry-scheduled', 'dead-lettered', 'replayed'];

/** Live deliveries: the feed's newest attempts, filtered, refreshed every few seconds. */
export function mountLive(root: HTMLElement): () => void {
  const destination = h(
    'select',
    { name: 'destination', 'aria-label': 'destination' },
    h('option', { value: '' }, 'all destinations'),
  );
  const customer = h('input', {
    name: 'customer',
    placeholder: 'customerExternalId',
    'aria-label': 'customer',
  });
  const outcome = h(
    'select',
    { name: 'outcome', 'aria-label': 'outcome' },
    h('option', { value: '' }, 'any outcome'),
    ...OUTCOMES.map((o) => h('option', { value: o }, o)),
  );
  const summary = h('p', { class: 'summary', 'data-testid': 'summary' }, '…');
  const list = h('ol', { class: 'deliveries', 'data-testid': 'deliveries' });
  const status = h('p', { class: 'muted' });
  root.append(
    h('h2', {}, 'Live deliveries'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, destination, customer, outcome),
    summary,
    list,
    status,
  );
  const refresher = poll(refresh, REFRESH_MS);
  for (const input of [destination, outcome, customer]) input.addEventListener('change', refresher.now);

  void destinations()
    .then((all) =>
      destination.append(
        ...all.map((d) => h('option', { value: d.id }, `${d.id} (${d.type.toLowerCase()})`)),
      ),
    )
    .catch(() => undefined);

  let summaryAt = 0;
  async function refresh(): Promise<void> {
    try {
      const summaryDue = Date.now() - summaryAt >= SUMMARY_MS;
      const [feed, health] = await Promise.all([
        getJson<{ deliveries: Delivery[] }>('/api/deliveries', {
          destinationId: destination.value,
          customerExternalId: customer.value.trim(),
          outcome: outcome.value,
          limit: '50',
        }),
        summaryDue ? getJson<{ destinations: Health[] }>('/api/health') : undefined,
      ]);
      replace(
        list,
        ...(feed.deliveries.length
          ? feed.deliveries.map(row)
          : [h('li', { class: 'muted' }, 'no deliveries in the last day')]),
      );
      if (health) {
        summaryAt = Date.now();
        replace(summary, summaryOf(health.destinations));
      }
      replace(status, `updated ${time(new Date().toISOString())} · every ${REFRESH_MS / 1000} s`);
    } catch (error) {
      replace(status, errorBox(error));
    }
  }
  refresher.now();
  return refresher.stop;
}

/** `order.paid → acme-prod (webhook)   202 · 38ms`, as the delivery layer's page draws it. */
function row(d: Delivery): HTMLElement {
  const what = d.eventTypes?.join(', ') ?? d.eventIds[0] ?? '';
  const more = (d.eventCount ?? d.eventIds.length) > 1 ? ` +${(d.eventCount ?? d.eventIds.length) - 1}` : '';
  const result =
    d.outcome === 'delivered'
      ? `OK${d.latencyMs !== undefined ? ` · ${d.latencyMs}ms` : ''}`
      : `${d.outcome}${d.errorCode ? ` · ${d.errorCode}` : ''}`;
  return h(
    'li',
    {
      class: `delivery outcome-${d.outcome}`,
      'data-outcome': d.outcome,
      'data-destination': d.destinationId,
    },
    h('time', { datetime: d.at }, time(d.at)),
    h(
      'a',
      {
        class: 'what',
        href: d.eventIds[0] ? `#trace/${d.eventIds[0]}` : undefined,
        title: d.eventIds.join(' '),
      },
      `${what}${more}`,
    ),
    h('span', { class: 'to' }, `→ ${d.destinationId} (${d.type.toLowerCase()})`),
    h('span', { class: 'customer muted' }, d.customerExternalId ?? ''),
    h('span', { class: 'result', title: d.reason ?? d.target ?? '' }, result),
    d.test ? h('span', { class: 'badge' }, 'test') : null,
  );
}

/** "Last 15 minutes 14,827 delivered · 99.97% success", from health's window over every destination. */
function summaryOf(all: readonly Health[]): string {
  const delivered = all.reduce((n, d) => n + (d.delivered ?? 0), 0);
  const failed = all.reduce((n, d) => n + (d.failed ?? 0), 0);
  const rate =
    delivered + failed > 0
      ? `${((100 * delivered) / (delivered + failed)).toFixed(2)}% success`
      : 'no traffic';
  return `Last 15 minutes: ${delivered.toLocaleString()} delivered · ${rate}`;
}
