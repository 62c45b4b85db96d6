/**
 * The one retry schedule for transient delivery failures (invariant 7): exponential from 30 s, full
 * jitter, each delay at most 12 h (SQS's visibility-timeout ceiling), until 24 h after the first
 * attempt; after that the message goes to the DLQ.
 */
export const BACKOFF = {
  baseSeconds: 30,
  // SQS refuses a visibility timeout ending more than 12 h after the message was received, and the
  // delay is set while the function runs (at most a few minutes after receipt): keep that much spare.
  maxDelaySeconds: 12 * 60 * 60 - 10 * 60,
  retryHorizonSeconds: 24 * 60 * 60,
} as const;

export type RetryDecision =
  | { readonly action: 'retry'; readonly delaySeconds: number }
  | { readonly action: 'dead-letter'; readonly reason: string };

export interface RetryInput {
  /** When the message was first received (SQS ApproximateFirstReceiveTimestamp): the 24 h clock starts here. */
  readonly firstAttemptAt: Date;
  readonly now: Date;
  /** 1 for the first attempt (SQS ApproximateReceiveCount). */
  readonly attempt: number;
  /** A number in [0, 1); injectable so tests can pin the jitter. */
  readonly random?: () => number;
  /**
   * The receiver's own `Retry-After` (a webhook's 429 or 503), in seconds: the next attempt is no
   * earlier than that, within the same 12 h delay cap and the same 24 h horizon.
   */
  readonly retryAfterSeconds?: number;
}

/**
 * Decides what happens after a transient failure. Full jitter ("AWS Architecture Blog: Exponential
 * Backoff And Jitter"): delay = random(0, min(cap, base · 2^(attempt-1))), so clients that failed
 * together do not retry together. The delay is clipped so the next attempt is no later than the
 * horizon; the attempt at or after the horizon dead-letters.
 */
export function decideRetry(input: RetryInput): RetryDecision {
  const elapsed = (input.now.getTime() - input.firstAttemptAt.getTime()) / 1000;
  const remaining = BACKOFF.retryHorizonSeconds - elapsed;
  if (remaining <= 0) {
    return {
      action: 'dead-letter',
      reason: `transient failures for ${Math.round(elapsed / 3600)} h; retries exhausted after 24 h`,
    };
  }
  const exponent = Math.min(Math.max(input.attempt - 1, 0), 30);
  const ceiling = Math.min(BACKOFF.maxDelaySeconds, BACKOFF.baseSeconds * 2 ** exponent);
  const jittered = Math.floor((input.random ?? Math.random)() * (ceiling + 1));
  const asked = Math.min(Math.max(input.retryAfterSeconds ?? 0, 0), BACKOFF.maxDelaySeconds);
  return { action: 'retry', delaySeconds: Math.min(Math.max(jittered, asked), Math.ceil(remaining)) };
}
