import { getJson } from './api.js';
import { errorBox, h, replace, time } from './dom.js';

interface Attempt {
  readonly at: string;
  readonly outcome: string;
  readonly latencyMs?: number;
  readonly errorCode?: string;
  readonly reason?: string;
  readonly target?: string;
}

interface Trace {
  readonly eventId: string;
  readonly customerExternalId: string;
  readonly eventType: string;
  readonly occurredAt: string;
  readonly receivedAt: string;
  readonly idempotencyKey: string;
  readonly correlationId?: string;
  readonly payload?: unknown;
  readonly deliveries: readonly {
    readonly destinationId: string;
    readonly type: string;
    readonly status: string;
    readonly deliveredAt?: string;
    readonly target?: string;
    readonly nextAttemptAt?: string;
    readonly reason?: string;
    readonly attempts: readonly Attempt[];
  }[];
}

/**
 * Trace search by eventId: the event and, per destination, its status and timeline of attempts. The
 * payload is fetched only when the operator asks for it (`?include=payload`), and only for that event.
 */
export function mountTrace(root: HTMLElement, initial?: string): () => void {
  const input = h('input', {
    name: 'eventId',
    placeholder: 'evt_…',
    'aria-label': 'eventId',
    size: 34,
    value: initial ?? '',
  });
  const out = h('div', { 'data-testid': 'trace' });
  const form = h('form', { class: 'filters' }, input, h('button', { type: 'submit' }, 'Trace'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void search(input.value.trim());
  });
  root.append(h('h2', {}, 'Trace'), form, out);

  async function search(eventId: string): Promise<void> {
    if (!eventId) return;
    replace(out, h('p', { class: 'muted' }, 'searching…'));
    try {
      const trace = await getJson<Trace>(`/api/events/${encodeURIComponent(eventId)}`);
      replace(out, view(trace));
    } catch (error) {
      replace(out, errorBox(error));
    }
  }
  if (initial) void search(initial);
  return () => undefined;
}

function view(trace: Trace): HTMLElement {
  const payload = h('div', { class: 'payload' });
  const show = h('button', { type: 'button', 'data-testid': 'show-payload' }, 'show payload');
  show.addEventListener('click', async () => {
    try {
      const full = await getJson<Trace>(`/api/events/${encodeURIComponent(trace.eventId)}`, {
        include: 'payload',
      });
      replace(payload, h('pre', { 'data-testid': 'payload' }, JSON.stringify(full.payload, null, 2)));
      show.remove();
    } catch (error) {
      replace(payload, errorBox(error));
    }
  });
  return h(
    'section',
    { class: 'trace', 'data-event-id': trace.eventId },
    h('h3', {}, `${trace.eventType} · ${trace.eventId}`),
    h(
      'dl',
      { class: 'facts' },
      ...fact('customer', trace.customerExternalId),
      ...fact('occurred', time(trace.occurredAt)),
      ...fact('received', time(trace.receivedAt)),
      ...fact('idempotency key', trace.idempotencyKey),
      ...(trace.correlationId ? fact('correlation id', trace.correlationId) : []),
    ),
    show,
    payload,
    ...trace.deliveries.map((d) =>
      h(
        'article',
        { class: 'destination', 'data-destination': d.destinationId, 'data-status': d.status },
        h(
          'h4',
          {},
          `${d.destinationId} (${d.type.toLowerCase()}) `,
          h('span', { class: `status status-${d.status}` }, d.status),
        ),
        d.target ? h('p', { class: 'muted' }, d.target) : null,
        d.reason ? h('p', { class: 'reason' }, d.reason) : null,
        d.nextAttemptAt ? h('p', {}, `next attempt ${time(d.nextAttemptAt)}`) : null,
        h(
          'ol',
          { class: 'timeline' },
          ...d.attempts.map((a) =>
            h(
              'li',
              { class: `outcome-${a.outcome}` },
              h('time', { datetime: a.at }, time(a.at)),
              ` ${a.outcome}`,
              a.latencyMs !== undefined ? ` · ${a.latencyMs}ms` : '',
              a.errorCode ? ` · ${a.errorCode}` : '',
              a.reason ? h('span', { class: 'reason' }, ` ${a.reason}`) : null,
            ),
          ),
        ),
      ),
    ),
  );
}

function fact(term: string, value: string): HTMLElement[] {
  return [h('dt', {}, term), h('dd', {}, value)];
}
