import uPlot from 'uplot';
import { type Delivery, destinations, getJson, type Health, postJson } from './api.js';
import { bucketDeadLetters, type ReplayWindow, selectedWindow, type Timeline } from './buckets.js';
import { errorBox, h, replace } from './dom.js';
import { poll } from './poll.js';

interface ReplayCounts {
  readonly matched: number;
  readonly replayed: number;
  readonly skipped: number;
  readonly failed: number;
  readonly complete?: boolean;
}

interface ReplayJob {
  readonly id: string;
  readonly state: 'running' | 'done' | 'failed';
  readonly invocations: number;
  readonly total?: ReplayCounts;
  readonly error?: string;
}

const SPANS = [
  { label: 'last hour', ms: 60 * 60_000 },
  { label: 'last 6 hours', ms: 6 * 60 * 60_000 },
  { label: 'last 24 hours', ms: 24 * 60 * 60_000 },
];
/** Feed pages read for the chart at most (200 records each). */
const MAX_PAGES = 10;
/** How often the picker re-reads the destination's DLQ depth (one health call). */
const DLQ_REFRESH_MS = 3000;

/**
 * The replay picker: one destination's dead-letters per time bucket as a bar chart (uPlot), a window
 * chosen on it (drag across the bars, or the two range inputs), the dry-run count of that window
 * from the DLQ itself, then the replay, after a confirmation, with its progress.
 */
export function mountReplay(root: HTMLElement): () => void {
  const destination = h('select', { name: 'destination', 'aria-label': 'destination' });
  const span = h(
    'select',
    { name: 'span', 'aria-label': 'span' },
    ...SPANS.map((s, i) => h('option', { value: i }, s.label)),
  );
  const chartEl = h('div', { class: 'chart', 'data-testid': 'chart' });
  const start = h('input', {
    type: 'range',
    name: 'start',
    min: 0,
    max: 0,
    value: 0,
    'aria-label': 'window start',
  });
  const end = h('input', {
    type: 'range',
    name: 'end',
    min: 0,
    max: 0,
    value: 0,
    'aria-label': 'window end',
  });
  const selection = h('p', { class: 'summary', 'data-testid': 'selection' }, '…');
  const dryRunButton = h('button', { type: 'button', 'data-testid': 'dry-run' }, 'Dry run');
  const dryRunOut = h('p', { 'data-testid': 'dry-run-result' });
  const replayButton = h('button', { type: 'button', 'data-testid': 'replay', disabled: true }, 'Replay…');
  const progress = h('p', { 'data-testid': 'replay-progress' });
  const dlq = h('p', { 'data-testid': 'dlq-depth', class: 'muted' });
  const question = h('p', {});
  const confirmButton = h(
    'button',
    { type: 'button', 'data-testid': 'confirm-replay', class: 'danger' },
    'Replay',
  );
  const cancelButton = h('button', { type: 'button' }, 'Cancel');
  const dialog = h(
    'dialog',
    { 'data-testid': 'confirm-dialog' },
    question,
    h('div', { class: 'actions' }, cancelButton, confirmButton),
  );
  root.append(
    h('h2', {}, 'Replay'),
    h(
      'form',
      { class: 'filters', onsubmit: (e) => e.preventDefault() },
      destination,
      span,
      h('button', { type: 'button', onclick: () => void load() }, 'Reload'),
    ),
    chartEl,
    h('div', { class: 'range' }, h('label', {}, 'from ', start), h('label', {}, 'to ', end)),
    selection,
    h('div', { class: 'actions' }, dryRunButton, replayButton),
    dryRunOut,
    progress,
    dlq,
    dialog,
  );

  let timeline: Timeline | undefined;
  let plot: uPlot | undefined;
  let windowChosen: ReplayWindow | undefined;
  /** The dry run's count of the window now chosen; the replay button needs one. */
  let dryRunCount: number | undefined;
  let stopped = false;
  const dlqPoll = poll(refreshDlq, DLQ_REFRESH_MS);

  const invalidate = () => {
    dryRunCount = undefined;
    replayButton.disabled = true;
    replayButton.textContent = 'Replay…';
    replace(dryRunOut);
  };

  // A load superseded by a later one (another destination, span or Reload) drops its answer: the
  // first page load and the operator's choice race, and the older answer must not win.
  let loads = 0;
  async function load(): Promise<void> {
    const mine = ++loads;
    invalidate();
    replace(progress);
    const id = destination.value;
    if (!id) return;
    const spanMs = (SPANS[Number(span.value)] ?? SPANS[0])?.ms ?? 3_600_000;
    const to = Date.now();
    const from = to - spanMs;
    try {
      const records: Delivery[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const answer = await getJson<{ deliveries: Delivery[]; cursor?: string }>('/api/deliveries', {
          destinationId: id,
          outcome: 'dead-lettered',
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          limit: '200',
          cursor,
        });
        if (mine !== loads) return;
        records.push(...answer.deliveries);
        cursor = answer.cursor;
        if (!cursor) break;
      }
      timeline = bucketDeadLetters(
        records
          .filter((r) => !r.test)
          .map((r) => ({ at: r.at, eventCount: r.eventCount ?? r.eventIds.length })),
        from,
        to,
      );
      const last = timeline.buckets.length - 1;
      for (const input of [start, end]) input.max = String(last);
      start.value = '0';
      end.value = String(last);
      draw();
      choose();
    } catch (error) {
      if (mine !== loads) return;
      replace(selection, errorBox(error));
    }
    dlqPoll.now();
  }

  function draw(): void {
    if (!timeline) return;
    const xs = timeline.buckets.map((b) => b.start / 1000);
    const [lo, hi] = range();
    // Empty buckets draw no bar at all (a zero-height bar would still draw its outline).
    const inside = timeline.buckets.map((b, i) => (i >= lo && i <= hi && b.count > 0 ? b.count : null));
    const outside = timeline.buckets.map((b, i) => ((i >= lo && i <= hi) || b.count === 0 ? null : b.count));
    const data: uPlot.AlignedData = [xs, outside, inside];
    if (plot) {
      plot.setData(data);
      return;
    }
    const bars = uPlot.paths.bars?.({ size: [0.9, 40], align: 1 });
    plot = new uPlot(
      {
        width: Math.max(320, chartEl.clientWidth || 720),
        height: 220,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { show: false },
        series: [
          {},
          {
            label: 'dead-lettered',
            stroke: '#9aa5b1',
            fill: '#cbd2d9',
            ...(bars ? { paths: bars } : {}),
            points: { show: false },
          },
          {
            label: 'selected',
            stroke: '#c0392b',
            fill: '#e57373',
            ...(bars ? { paths: bars } : {}),
            points: { show: false },
          },
        ],
        hooks: {
          // A drag across the bars selects those buckets, as the range inputs do.
          setSelect: [
            (u) => {
              if (!timeline || u.select.width < 2) return;
              const left = u.posToVal(u.select.left, 'x') * 1000;
              const right = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              start.value = String(indexAt(left));
              end.value = String(indexAt(right));
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              choose();
            },
          ],
        },
      },
      data,
      chartEl,
    );
  }

  function indexAt(ms: number): number {
    if (!timeline) return 0;
    const i = Math.floor((ms - timeline.from) / timeline.bucketMs);
    return Math.max(0, Math.min(timeline.buckets.length - 1, i));
  }

  function range(): [number, number] {
    const a = Number(start.value);
    const b = Number(end.value);
    return [Math.min(a, b), Math.max(a, b)];
  }

  function choose(): void {
    if (!timeline) return;
    const [lo, hi] = range();
    windowChosen = selectedWindow(timeline, lo, hi);
    const hhmm = (iso: string) =>
      new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
    replace(
      selection,
      `${windowChosen.count.toLocaleString()} failures selected, ${hhmm(windowChosen.from)} … ${windowChosen.to ? hhmm(windowChosen.to) : 'now'}`,
    );
    invalidate();
    draw();
  }
  for (const input of [start, end]) input.addEventListener('input', choose);

  function request(dryRun: boolean) {
    return {
      destinationId: destination.value,
      ...(windowChosen ? { from: windowChosen.from } : {}),
      ...(windowChosen?.to ? { to: windowChosen.to } : {}),
      dryRun,
    };
  }

  dryRunButton.addEventListener('click', async () => {
    if (!destination.value) return;
    replace(dryRunOut, 'counting the DLQ…');
    try {
      const job = await postJson<ReplayJob>('/api/replay', request(true));
      dryRunCount = job.total?.matched ?? 0;
      replace(
        dryRunOut,
        `Dry run: ${dryRunCount} dead letter(s) in the DLQ match this window (received in it).`,
      );
      replayButton.disabled = dryRunCount === 0;
      replayButton.textContent = `Replay ${dryRunCount}…`;
    } catch (error) {
      replace(dryRunOut, errorBox(error));
    }
  });

  replayButton.addEventListener('click', () => {
    if (dryRunCount === undefined) return;
    replace(
      question,
      `Replay ${dryRunCount} dead letter(s) of ${destination.value}? They move from its DLQ back to its queue and are delivered again through the same path.`,
    );
    dialog.showModal();
  });
  cancelButton.addEventListener('click', () => dialog.close());
  confirmButton.addEventListener('click', async () => {
    dialog.close();
    replayButton.disabled = true;
    replace(progress, 'replaying…');
    try {
      let job = await postJson<ReplayJob>('/api/replay', request(false));
      while (job.state === 'running' && !stopped) {
        replace(progress, progressText(job));
        await new Promise((r) => setTimeout(r, 1000));
        job = { ...(await getJson<ReplayJob>(`/api/replay/${job.id}`)), id: job.id };
      }
      replace(
        progress,
        job.state === 'failed' ? errorBox(new Error(job.error ?? 'replay failed')) : progressText(job),
      );
      invalidate();
      dlqPoll.now();
    } catch (error) {
      replace(progress, errorBox(error));
    }
  });

  async function refreshDlq(): Promise<void> {
    const id = destination.value;
    if (id) {
      try {
        const health = await getJson<Health>(`/api/destinations/${encodeURIComponent(id)}/health`);
        replace(dlq, `DLQ depth: ${health.dlqDepth ?? 0} · status ${health.status}`);
        dlq.dataset.depth = String(health.dlqDepth ?? 0);
      } catch (error) {
        replace(dlq, errorBox(error));
      }
    }
  }

  destination.addEventListener('change', () => void load());
  span.addEventListener('change', () => {
    plot?.destroy();
    plot = undefined;
    void load();
  });
  void destinations()
    .then((all) => {
      destination.append(
        ...all.map((d) => h('option', { value: d.id }, `${d.id} (${d.type.toLowerCase()})`)),
      );
      const wanted = new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('destination');
      if (wanted && all.some((d) => d.id === wanted)) destination.value = wanted;
      void load();
    })
    .catch((error: unknown) => replace(selection, errorBox(error)));
  return () => {
    stopped = true;
    dlqPoll.stop();
    plot?.destroy();
  };
}

function progressText(job: ReplayJob): string {
  const t = job.total;
  const counts = t
    ? `matched ${t.matched}, replayed ${t.replayed}, skipped ${t.skipped}, failed ${t.failed}`
    : 'starting';
  return job.state === 'done'
    ? `Replay done: ${counts}`
    : `Replaying (invocation ${job.invocations}): ${counts}`;
}
