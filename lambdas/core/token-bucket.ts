/**
 * A token bucket: `take()` resolves when a token is free, so calls through it run at most
 * `ratePerSecond` on average, with bursts of up to `burst`. The provisioner paces its event source
 * mapping changes with it: Lambda's control plane allows about 15 CreateEventSourceMapping and
 * UpdateEventSourceMapping requests per second per account and Region, shared with deploys.
 */
export interface TokenBucket {
  take(): Promise<void>;
}

export interface TokenBucketOptions {
  readonly ratePerSecond: number;
  /** @default ratePerSecond (at least 1) */
  readonly burst?: number;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  if (!(options.ratePerSecond > 0)) throw new Error('ratePerSecond must be above 0');
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const burst = Math.max(1, options.burst ?? Math.floor(options.ratePerSecond));
  const msPerToken = 1000 / options.ratePerSecond;
  let tokens = burst;
  let at = now();
  // Callers queue in order: each waits for the one before it, so a burst of callers cannot overdraw.
  let queue: Promise<void> = Promise.resolve();

  const refill = () => {
    const t = now();
    tokens = Math.min(burst, tokens + (t - at) / msPerToken);
    at = t;
  };

  return {
    take() {
      const turn = queue.then(async () => {
        refill();
        while (tokens < 1) {
          await sleep(Math.ceil((1 - tokens) * msPerToken));
          refill();
        }
        tokens -= 1;
      });
      queue = turn;
      return turn;
    },
  };
}
