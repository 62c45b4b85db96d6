import { DescribeEventBusCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type ClassifiedFailure, classifyFailure, sanitizeReason } from '../core/failure-classification.js';

export type BusCheck = { readonly ok: true } | { readonly ok: false; readonly failure: ClassifiedFailure };

/** How long a "this bus cannot be used" answer is kept, so a bus the customer creates is picked up soon. */
export const NEGATIVE_TTL_MS = 60 * 1000;

/**
 * Checks that a destination's bus exists before the first PutEvents to it. Real EventBridge answers
 * PutEvents to a bus that does not exist with success, so without this check every entry would be
 * dropped silently (invariant 1).
 *
 * The check is DescribeEventBus (Name = the bus ARN) with the destination's own credentials, so it
 * also proves those credentials reach the bus. Answers are cached per (destination, bus,
 * credentials): a positive one for the life of the container — new credentials (a rotation, an
 * assumed-role refresh) check again — a negative one for `NEGATIVE_TTL_MS`. Transient errors
 * (throttling, 5xx, network) are not cached.
 */
export class EventBusVerifier {
  private readonly cache = new Map<string, { check: BusCheck; until: number }>();

  public constructor(
    private readonly now: () => number = Date.now,
    private readonly negativeTtlMs: number = NEGATIVE_TTL_MS,
  ) {}

  public async verify(
    client: EventBridgeClient,
    target: { readonly destinationId: string; readonly busArn: string; readonly credentialsKey: string },
  ): Promise<BusCheck> {
    const key = `${target.destinationId}\u0000${target.busArn}\u0000${target.credentialsKey}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > this.now()) return cached.check;

    let check: BusCheck;
    try {
      await client.send(new DescribeEventBusCommand({ Name: target.busArn }));
      check = { ok: true };
    } catch (error) {
      const failure = classifyFailure('EVENTBRIDGE', error);
      if (failure.failureClass === 'transient') return { ok: false, failure };
      check = { ok: false, failure: explain(failure, target.busArn) };
    }
    this.cache.set(key, {
      check,
      until: check.ok ? Number.POSITIVE_INFINITY : this.now() + this.negativeTtlMs,
    });
    return check;
  }
}

function explain(failure: ClassifiedFailure, busArn: string): ClassifiedFailure {
  if (failure.code === 'ResourceNotFoundException') {
    return {
      failureClass: 'permanent',
      code: 'EventBusNotFound',
      message: sanitizeReason(
        `event bus ${busArn} does not exist (DescribeEventBus: ResourceNotFoundException); create it or fix busArn`,
      ),
    };
  }
  if (failure.code === 'AccessDeniedException') {
    return {
      ...failure,
      message: sanitizeReason(
        `the destination's credentials may not call events:DescribeEventBus on ${busArn}; Pushrail needs it (with events:PutEvents) to tell a missing bus from a delivered entry: ${failure.message}`,
      ),
    };
  }
  return failure;
}
