import { createHash } from 'node:crypto';
import type { DestinationType } from '../../../lambdas/destinations/index.js';
import { type InjectedResponse, jsonError, s3Error } from '../fault-proxy.js';
import type { ChaosProxy, ProxiedRequest, UpstreamResponse, Verdict } from './chaos-proxy.js';

/**
 * The faults of the suite, as one policy for the ChaosProxy plus crash triggers the test arms for a
 * single consumer invocation. Everything random comes from the suite's seeded PRNG.
 *
 * A crash is the function dying at a step boundary: from the trigger until the invocation ends, every
 * request of that destination's function is answered with a non-retryable error and never reaches
 * moto — nothing it still tries has an effect. (A non-retryable answer rather than a dropped
 * connection, so the SDK does not spend seconds retrying on behalf of a process that no longer
 * exists.) Consumers run concurrently, so a crash is scoped to the destination (see `scopeOf`).
 *
 * Transient faults (always on, outside crashes):
 * - S3 PutObject of a part: `s3ErrorRate` of the requests are answered 503 SlowDown or 500
 *   InternalError; a third of those keys also fail their next two requests, so the SDK's three
 *   attempts are used up and the batcher itself sees the failure (→ backoff through the queue).
 * - PutEvents: `ebThrottleRate` of the calls are answered with a whole-call ThrottlingException (a
 *   third of them "sticky" for the SDK's three attempts); `ebPartialRate` of the calls get a partial
 *   answer: a random subset of the entries is marked ThrottlingException / InternalFailure and is NOT
 *   forwarded (not delivered), the rest is forwarded to moto and the real EventIds are merged back.
 *
 * Crash triggers (one per invocation, armed by the test; see CRASH_POINTS).
 *
 * It also checks what the handlers sent, on every request, and keeps the violations:
 * - S3 PUTs carry ExpectedBucketOwner and If-None-Match: *, and the key's hash is the SHA-256 of the body;
 * - PutEvents calls hold 1..10 entries, for the destination's bus ARN, with Source pushrail.<vendor>;
 * - after a partial failure, the next PutEvents to that bus in the same invocation (the publisher's
 *   retry) re-sends none of the entries that call accepted (invariant 6).
 */

export type CrashPoint =
  | 'mid-seal'
  | 'before-put'
  | 'after-put'
  | 'before-putevents'
  | 'after-putevents'
  | 'before-delete';

/** Which step boundary each crash point stands for, per destination type. */
export const CRASH_POINTS: Readonly<Record<DestinationType, readonly CrashPoint[]>> = {
  S3: ['mid-seal', 'before-put', 'after-put', 'before-delete'],
  EVENTBRIDGE: ['before-putevents', 'after-putevents', 'before-delete'],
  WEBHOOK: ['before-delete'],
};

export interface FaultSettings {
  readonly s3ErrorRate: number;
  readonly ebThrottleRate: number;
  readonly ebPartialRate: number;
}

export interface FaultTargets {
  readonly destinationIds: readonly string[];
  /** Bucket name → destination id. */
  readonly buckets: ReadonlyMap<string, string>;
  /** Bus ARN → destination id. */
  readonly buses: ReadonlyMap<string, string>;
  readonly sealsTable: string;
  /** Bucket name → the account that must own it (ExpectedBucketOwner). */
  readonly bucketOwners: ReadonlyMap<string, string>;
  readonly entrySource: string;
}

interface Armed {
  readonly point: CrashPoint;
  /** mid-seal: the claim (1-based) at which the function dies. */
  readonly atClaim: number;
  claims: number;
  fired: boolean;
}

export class FaultPlan {
  /** What was injected, by kind. */
  public readonly injected = new Map<string, number>();
  /** Crashes that happened, by `destinationId:point`. */
  public readonly crashes = new Map<string, number>();
  /** What the handlers' calls got back, by kind (`s3.put412`: an identical part written again). */
  public readonly observed = new Map<string, number>();
  public readonly violations: string[] = [];
  /** Crash armed for the invocation in progress, by destination id. */
  private readonly armed = new Map<string, Armed>();
  private readonly sticky = new Map<string, number>();
  /** Bus ARN → eventIds a partial-failure answer accepted, until the next PutEvents to that bus. */
  private readonly acceptedInPartial = new Map<string, Set<string>>();

  public constructor(
    proxy: ChaosProxy,
    private readonly random: () => number,
    private readonly targets: FaultTargets,
    private readonly settings: FaultSettings,
  ) {
    proxy.policy = (request) => this.decide(request);
    proxy.onResponse((request, response) => this.afterResponse(request, response));
  }

  /** Arms a crash for the next invocation of a destination's consumer. */
  public arm(destinationId: string, point: CrashPoint, batchSize: number): void {
    this.armed.set(destinationId, {
      point,
      atClaim: 1 + Math.floor(this.random() * Math.max(1, Math.floor(batchSize / 2))),
      claims: 0,
      fired: point === 'before-delete',
    });
  }

  /** Ends a destination's invocation; answers the crash point when its armed crash happened. */
  public endInvocation(destinationId: string): CrashPoint | undefined {
    const armed = this.armed.get(destinationId);
    this.disarm(destinationId);
    if (!armed?.fired) return undefined;
    this.bump(this.crashes, `${destinationId}:${armed.point}`);
    return armed.point;
  }

  /** Forgets a destination's armed crash (also when the invocation did not happen: the queue was empty). */
  public disarm(destinationId: string): void {
    this.armed.delete(destinationId);
    for (const [bus, id] of this.targets.buses) if (id === destinationId) this.acceptedInPartial.delete(bus);
  }

  private bump(map: Map<string, number>, key: string, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }

  /**
   * The destination whose function made a request: its bucket, its bus, or its id in the request
   * (queue URLs, seal and part keys, attempt records and role session names all carry it). Event-store
   * reads carry none; they are reads, so letting them through during a crash changes nothing.
   */
  private scopeOf(request: ProxiedRequest): string | undefined {
    const put = request.operation.startsWith('S3.') ? bucketOf(request) : undefined;
    if (put) return this.targets.buckets.get(put);
    const text = `${request.path} ${request.body.toString('utf8')}`;
    for (const [bus, id] of this.targets.buses) if (text.includes(bus)) return id;
    for (const id of this.targets.destinationIds) if (text.includes(id)) return id;
    return undefined;
  }

  private decide(request: ProxiedRequest): Verdict | undefined {
    const scope = this.scopeOf(request);
    const armed = scope === undefined ? undefined : this.armed.get(scope);
    const fire = (): Verdict => {
      (armed as Armed).fired = true;
      return crashed(request, (armed as Armed).point);
    };
    if (armed?.fired && armed.point !== 'before-delete') return crashed(request, armed.point);

    if (request.operation === 'S3.PUT') {
      const put = partPut(request);
      if (!put || !this.targets.buckets.has(put.bucket)) return undefined;
      this.checkPut(request, put);
      if (armed?.point === 'before-put') return fire();
      return this.s3Fault(put.key);
    }
    if (request.operation === 'DynamoDB.PutItem' && armed?.point === 'mid-seal') {
      const body = request.body.toString('utf8');
      if (body.includes(`"${this.targets.sealsTable}"`) && body.includes(`seal#${scope}#`)) {
        armed.claims += 1;
        if (armed.claims === armed.atClaim) return fire();
      }
      return undefined;
    }
    if (request.operation === 'AWSEvents.PutEvents') {
      const entries = this.checkPutEvents(request);
      if (!entries) return undefined;
      if (armed?.point === 'before-putevents') return fire();
      return this.putEventsFault(request, entries);
    }
    return undefined;
  }

  private afterResponse(request: ProxiedRequest, response: UpstreamResponse): void {
    if (request.operation === 'S3.PUT' && partPut(request))
      this.bump(this.observed, `s3.put${response.status}`);
    const scope = this.scopeOf(request);
    const armed = scope === undefined ? undefined : this.armed.get(scope);
    if (!armed || armed.fired) return;
    if (armed.point === 'after-put' && request.operation === 'S3.PUT' && partPut(request)) {
      // 412: the object was already there (the key is the hash of the bytes): a completed PUT too.
      if (response.status < 300 || response.status === 412) armed.fired = true;
    }
    if (armed.point === 'after-putevents' && request.operation === 'AWSEvents.PutEvents') {
      if (response.status === 200) armed.fired = true;
    }
  }

  private failTimes(key: string): boolean {
    const left = this.sticky.get(key) ?? 0;
    if (left > 0) {
      this.sticky.set(key, left - 1);
      return true;
    }
    return false;
  }

  private s3Fault(key: string): Verdict | undefined {
    const stuck = this.failTimes(`s3:${key}`);
    if (!stuck && this.random() >= this.settings.s3ErrorRate) return undefined;
    if (!stuck && this.random() < 1 / 3) {
      this.sticky.set(`s3:${key}`, 2);
      this.bump(this.injected, 's3.exhausting');
    }
    const slowDown = this.random() < 0.5;
    this.bump(this.injected, slowDown ? 's3.503' : 's3.500');
    return {
      kind: 'respond',
      response: slowDown
        ? s3Error(503, 'SlowDown', 'Please reduce your request rate.')
        : s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.'),
    };
  }

  private putEventsFault(request: ProxiedRequest, sent: SentEntries): Verdict | undefined {
    const callKey = `eb:${createHash('sha256').update(request.body).digest('hex')}`;
    const stuck = this.failTimes(callKey);
    if (stuck || this.random() < this.settings.ebThrottleRate) {
      if (!stuck && this.random() < 1 / 3) {
        this.sticky.set(callKey, 2);
        this.bump(this.injected, 'eb.throttleExhausting');
      }
      this.bump(this.injected, 'eb.throttle');
      return { kind: 'respond', response: jsonError(400, 'ThrottlingException', 'Rate exceeded') };
    }
    if (this.random() >= this.settings.ebPartialRate) return undefined;

    const failing = new Map<number, string>();
    sent.entries.forEach((_, i) => {
      if (this.random() < 0.4)
        failing.set(i, this.random() < 0.5 ? 'ThrottlingException' : 'InternalFailure');
    });
    if (failing.size === 0) failing.set(Math.floor(this.random() * sent.entries.length), 'InternalFailure');
    this.bump(this.injected, 'eb.partialCalls');
    this.bump(this.injected, 'eb.partialEntries', failing.size);
    const failedEntry = (code: string) => ({
      ErrorCode: code,
      ErrorMessage: code === 'ThrottlingException' ? 'Rate exceeded' : 'Internal failure (injected)',
    });
    const kept = sent.entries.filter((_, i) => !failing.has(i));
    if (kept.length === 0) {
      const body = {
        FailedEntryCount: failing.size,
        Entries: sent.entries.map((_, i) => failedEntry(failing.get(i) as string)),
      };
      return {
        kind: 'respond',
        response: {
          status: 200,
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/x-amz-json-1.1' },
        },
      };
    }
    const original = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    return {
      kind: 'forward',
      body: Buffer.from(JSON.stringify({ ...original, Entries: kept.map((e) => e.raw) })),
      rewrite: (upstream) => {
        if (upstream.status !== 200) return upstream;
        const answer = JSON.parse(upstream.body.toString('utf8')) as {
          FailedEntryCount?: number;
          Entries?: Record<string, unknown>[];
        };
        const real = [...(answer.Entries ?? [])];
        const accepted = new Set<string>();
        const merged = sent.entries.map((entry, i) => {
          const code = failing.get(i);
          if (code) return failedEntry(code);
          const result = real.shift() ?? {};
          if (result.EventId) accepted.add(entry.eventId);
          return result;
        });
        this.acceptedInPartial.set(sent.bus, accepted);
        const body = { FailedEntryCount: (answer.FailedEntryCount ?? 0) + failing.size, Entries: merged };
        return { status: 200, body: Buffer.from(JSON.stringify(body)) };
      },
    };
  }

  private checkPut(request: ProxiedRequest, put: { bucket: string; key: string }): void {
    const hash = /part-([0-9a-f]{64})\.ndjson$/.exec(put.key)?.[1];
    const problems: string[] = [];
    if (request.headers['x-amz-expected-bucket-owner'] !== this.targets.bucketOwners.get(put.bucket))
      problems.push(`ExpectedBucketOwner ${String(request.headers['x-amz-expected-bucket-owner'])}`);
    if (request.headers['if-none-match'] !== '*') problems.push('no If-None-Match: *');
    if (hash !== createHash('sha256').update(request.body).digest('hex'))
      problems.push('key is not the SHA-256 of the body');
    if (problems.length > 0) this.violations.push(`PUT ${put.bucket}/${put.key}: ${problems.join('; ')}`);
  }

  private checkPutEvents(request: ProxiedRequest): SentEntries | undefined {
    const parsed = JSON.parse(request.body.toString('utf8')) as { Entries?: Record<string, unknown>[] };
    const raw = parsed.Entries ?? [];
    const bus = String(raw[0]?.EventBusName ?? '');
    if (!this.targets.buses.has(bus)) return undefined;
    const entries = raw.map((e) => ({
      raw: e,
      eventId: String((JSON.parse(String(e.Detail ?? '{}')) as { eventId?: string }).eventId),
    }));
    if (raw.length < 1 || raw.length > 10) this.violations.push(`PutEvents with ${raw.length} entries`);
    for (const e of raw) {
      if (e.EventBusName !== bus)
        this.violations.push(`PutEvents mixes buses ${bus} and ${String(e.EventBusName)}`);
      if (e.Source !== this.targets.entrySource)
        this.violations.push(`PutEvents entry with Source ${String(e.Source)}`);
    }
    const accepted = this.acceptedInPartial.get(bus);
    if (accepted) {
      this.acceptedInPartial.delete(bus);
      const resent = entries.filter((e) => accepted.has(e.eventId)).map((e) => e.eventId);
      if (resent.length > 0)
        this.violations.push(
          `PutEvents retry re-sent ${resent.length} entries the partial answer accepted: ${resent.join(', ')}`,
        );
    }
    return { bus, entries };
  }
}

interface SentEntries {
  readonly bus: string;
  readonly entries: readonly { readonly raw: Record<string, unknown>; readonly eventId: string }[];
}

/** Bucket and key of a PutObject of a part (path-style URL), or undefined for any other PUT. */
function partPut(request: ProxiedRequest): { bucket: string; key: string } | undefined {
  const path = request.path.split('?')[0] ?? '';
  const match = /^\/([^/]+)\/(.+)$/.exec(path);
  if (!match || !path.includes('/part-')) return undefined;
  return { bucket: match[1] as string, key: decodeURIComponent(match[2] as string) };
}

/** The bucket of a path-style S3 request. */
function bucketOf(request: ProxiedRequest): string | undefined {
  return /^\/([^/?]+)/.exec(request.path)?.[1];
}
/** A non-retryable answer in the request's protocol, so the SDK gives up at once. */
function crashed(request: ProxiedRequest, reason: string): Verdict {
  return { kind: 'respond', response: crashedAnswer(request, reason) };
}

function crashedAnswer(request: ProxiedRequest, reason: string): InjectedResponse {
  const message = `the function crashed (${reason}); this request never left it`;
  if (request.operation.startsWith('S3.')) {
    return {
      status: 400,
      body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SimulatedCrash</Code><Message>${message}</Message></Error>`,
      headers: { 'content-type': 'application/xml' },
    };
  }
  if (request.headers['x-amz-target']) {
    return {
      status: 400,
      body: JSON.stringify({ __type: 'SimulatedCrash', message }),
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-query-error': 'SimulatedCrash;Sender',
      },
    };
  }
  return {
    status: 400,
    body: `<ErrorResponse><Error><Type>Sender</Type><Code>SimulatedCrash</Code><Message>${message}</Message></Error></ErrorResponse>`,
    headers: { 'content-type': 'text/xml' },
  };
}
