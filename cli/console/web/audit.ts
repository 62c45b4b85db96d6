import { AUDIT_ACTIONS } from '../../../lambdas/core/audit-actions.js';
import { getJson } from './api.js';
import { errorBox, h, replace, time } from './dom.js';

interface AuditEntry {
  readonly at: string;
  readonly who: string;
  readonly action: string;
  readonly destinationId: string;
  readonly customerExternalId: string;
  readonly version?: number;
  readonly changes?: readonly { field: string; from: unknown; to: unknown }[];
  readonly details?: Record<string, unknown>;
}

/** The audit trail: every change to a destination and every replay, newest first, page by page. */
export function mountAudit(root: HTMLElement): () => void {
  const destination = h('input', {
    name: 'destinationId',
    placeholder: 'destination id',
    'aria-label': 'destination',
  });
  const action = h(
    'select',
    { name: 'action', 'aria-label': 'action' },
    h('option', { value: '' }, 'any action'),
    ...AUDIT_ACTIONS.map((a) => h('option', { value: a }, a)),
  );
  const body = h('tbody', { 'data-testid': 'audit' });
  const more = h('button', { type: 'button', hidden: true }, 'more');
  const status = h('p', { class: 'muted' });
  const form = h(
    'form',
    { class: 'filters' },
    destination,
    action,
    h('button', { type: 'submit' }, 'Filter'),
  );
  root.append(
    h('h2', {}, 'Audit trail'),
    form,
    h(
      'table',
      { class: 'grid' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['at', 'who', 'action', 'destination', 'customer', 'changes'].map((c) => h('th', {}, c)),
        ),
      ),
      body,
    ),
    more,
    status,
  );
  let cursor: string | undefined;
  async function load(reset: boolean): Promise<void> {
    if (reset) {
      cursor = undefined;
      body.replaceChildren();
    }
    try {
      const page = await getJson<{ entries: AuditEntry[]; cursor?: string }>('/api/audit', {
        destinationId: destination.value.trim(),
        action: action.value,
        cursor,
      });
      body.append(...page.entries.map(row));
      cursor = page.cursor;
      more.hidden = cursor === undefined;
      replace(status, body.children.length === 0 ? 'no entries' : '');
    } catch (error) {
      replace(status, errorBox(error));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load(true);
  });
  more.addEventListener('click', () => void load(false));
  void load(true);
  return () => undefined;
}

function row(e: AuditEntry): HTMLElement {
  const changes = e.changes
    ?.map((c) => `${c.field}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`)
    .join('; ');
  const details = e.details ? JSON.stringify(e.details) : '';
  return h(
    'tr',
    {},
    h('td', {}, time(e.at)),
    h('td', { class: 'who' }, e.who),
    h('td', {}, e.action),
    h('td', {}, e.destinationId),
    h('td', {}, e.customerExternalId),
    h(
      'td',
      { class: 'reason' },
      changes || details || (e.version !== undefined ? `version ${e.version}` : ''),
    ),
  );
}
