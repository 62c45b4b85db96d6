/** What `poll` hands back: run the work now (and restart the wait after it), or stop for good. */
export interface Poll {
  readonly now: () => void;
  readonly stop: () => void;
}

/**
 * Runs `work` whenever `now()` is called and again `intervalMs` after each run ends, until `stop()`.
 * Each run first cancels the pending wait, so a run asked for mid-request (a filter changed) never
 * leaves two loops going. `work` reports its own errors. The console's pages share it: live, health,
 * and the replay picker's DLQ depth.
 */
export function poll(work: () => Promise<void>, intervalMs: number): Poll {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    await work();
    if (!stopped) timer = setTimeout(() => void run(), intervalMs);
  };
  return {
    now: () => void run(),
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
