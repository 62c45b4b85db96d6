import { mountAudit } from './audit.js';
import { h, replace } from './dom.js';
import { mountHealth } from './health.js';
import { mountLive } from './live.js';
import { mountReplay } from './replay.js';
import { mountTrace } from './trace.js';

/**
 * The operator console's page: five views behind hash links (#live, #health, #trace, #audit,
 * #replay), each mounted when shown and stopped (its timers) when left.
 */

const VIEWS: Record<string, { title: string; mount: (root: HTMLElement, arg?: string) => () => void }> = {
  live: { title: 'Live', mount: mountLive },
  health: { title: 'Health', mount: mountHealth },
  trace: { title: 'Trace', mount: mountTrace },
  audit: { title: 'Audit', mount: mountAudit },
  replay: { title: 'Replay', mount: mountReplay },
};

const nav = document.querySelector('nav') as HTMLElement;
const main = document.querySelector('main') as HTMLElement;
replace(nav, ...Object.entries(VIEWS).map(([id, v]) => h('a', { href: `#${id}`, 'data-view': id }, v.title)));

let stop: () => void = () => undefined;
function show(): void {
  stop();
  // `#trace/evt_…`, `#replay?destination=…`: the view, then its argument or parameters.
  const [id = 'live', arg] = (window.location.hash.replace(/^#/, '').split('?')[0] ?? '').split('/');
  const name = VIEWS[id] ? id : 'live';
  const view = VIEWS[name] as (typeof VIEWS)[string];
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.view === name);
  main.replaceChildren();
  main.dataset.view = name;
  stop = view.mount(main, arg ? decodeURIComponent(arg) : undefined);
}
window.addEventListener('hashchange', show);
show();
