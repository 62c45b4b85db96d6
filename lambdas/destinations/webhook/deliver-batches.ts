import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AttemptLog } from '../../adapters/attempt-log.js';
import type { DeliveryOutcome, QueuedEvent } from '../../adapters/delivery-batch.js';
import type { TestDelivery } from '../../adapters/delivery-runtime.js';
import type { WebhookHttpResponse } from '../../adapters/webhook-http.js';
import { canonicalJson } from '../../core/canonical.js';
import { chunkBy } from '../../core/chunks.js';
import type { EventRecord } from '../../core/event.js';
import {
  type ClassifiedFailure,
  classifyFailure,
  sanitizeReason,
} from '../../core/failure-classification.js';
import { signingHeaders, webhookId } from '../../core/webhook-signing.js';
import { classifyResponse, RESPONSE_BODY_BYTES, targetOf } from './responses.js';
import type { WebhookDestinationConfig } from './schema.js';

/** What a batch signs and authenticates with, read from Secrets Manager at its start. */
export interface WebhookSecrets {
  /** The signing secrets in force (two for 24 h after a rotation). */
  readonly signing: readonly string[];
  /** The value of `auth.header`, with auth mode API_KEY. */
  readonly apiKey?: string;
}

export interface WebhookDeliveryDeps {
  readonly destination: WebhookDestinationConfig;
  readonly http: {
    send(
      request: {
        url: URL;
        method: 'POST' | 'PUT';
        headers: Record<string, string>;
        body: string;
        timeoutMs: number;
      },
      target: string,
    ): Promise<WebhookHttpResponse>;
  };
  readonly secrets: WebhookSecrets;
  readonly attempts: Pick<AttemptLog, 'record'>;
  readonly logger: Pick<Logger, 'warn' | 'info'>;
  /**
   * A 410 Gone: the destination is paused with the reason (status PAUSED, an audit entry by Pushrail).
   * Best effort: a failure is logged, and the 410's events are dead-lettered anyway.
   */
  readonly onGone: (reason: string) => Promise<void>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** `{"events":[` and `]}`: what a body adds around its events. */
const BODY_OVERHEAD = '{"events":[]}'.length;

interface Item {
  readonly eventId: string;
  readonly json: string;
  readonly bytes: number;
}

/**
 * Delivers a batch of queued events to one webhook (DESIGN.md "Webhook requests"):
 *
 * 1. each event becomes its canonical JSON (the S3 line, the EventBridge Detail); one over
 *    `batchSizeKb` on its own fails alone with `EventTooLarge`;
 * 2. the rest go out in requests of at most `maxEvents` events and `batchSizeKb` bytes of body,
 *    `{"events":[...]}`, one request at a time (the mapping's MaximumConcurrency = `maxConcurrency`
 *    bounds what the receiver sees), each signed per Standard Webhooks with a `webhook-id` from its
 *    eventIds, so a retry of the same events carries the same id;
 * 3. a transient failure (408, 425, 429, 5xx, timeout, network) stops the batch: the requests not sent
 *    yet get the same failure and come back through the queue's backoff (with the receiver's
 *    Retry-After); a 410 pauses the destination, and the requests not sent wait in the queue
 *    (`DestinationPaused`) for the resume; another permanent answer fails that request only.
 *
 * Every request leaves one attempt record: status, latency, the first 1 KiB of the answer (sanitized)
 * and the URL without its query string.
 */
export async function deliverBatches(
  events: readonly QueuedEvent[],
  deps: WebhookDeliveryDeps,
): Promise<Map<string, DeliveryOutcome>> {
  const { destination } = deps;
  const now = deps.now ?? (() => new Date());
  const outcomes = new Map<string, DeliveryOutcome>();
  const maxBytes = destination.batchSizeKb * 1024;
  // A redelivered duplicate shares its event's outcome: send the event once.
  const records = [...new Map(events.map((e) => [e.record.eventId, e.record])).values()];
  const items: Item[] = [];
  for (const record of records) {
    const json = canonicalJson(record);
    const bytes = Buffer.byteLength(json);
    if (bytes + BODY_OVERHEAD > maxBytes) {
      outcomes.set(record.eventId, {
        ok: false,
        failure: {
          failureClass: 'permanent',
          code: 'EventTooLarge',
          message: `event ${record.eventId} is ${bytes} bytes; a request of this destination carries at most batchSizeKb ${destination.batchSizeKb} KiB`,
        },
      });
    } else items.push({ eventId: record.eventId, json, bytes });
  }
  // Each event after the first adds a comma.
  const chunks = chunkBy(
    items,
    { maxCount: destination.maxEvents, maxBytes: maxBytes - BODY_OVERHEAD + 1 },
    (i) => i.bytes + 1,
  );
  const target = targetOf(destination.url);
  for (const [n, chunk] of chunks.entries()) {
    const ids = chunk.map((c) => c.eventId);
    const result = await sendChunk(chunk, target, `${destination.method}#${n + 1}`, deps, now);
    for (const id of ids) outcomes.set(id, result);
    if (result.ok) continue;
    const rest = chunks.slice(n + 1).flatMap((c) => c.map((i) => i.eventId));
    if (result.failure.failureClass === 'transient') {
      // Not sent: they share the failure, not the request's status, time or target.
      for (const id of rest) outcomes.set(id, { ok: false, failure: result.failure });
      break;
    }
    if (result.failure.code === 'HTTP410') {
      await deps
        .onGone(result.failure.message)
        .catch((error: unknown) =>
          deps.logger.warn('could not pause the destination after a 410', { error }),
        );
      const paused: ClassifiedFailure = {
        failureClass: 'transient',
        code: 'DestinationPaused',
        message: sanitizeReason(`not sent: the destination was paused after ${result.failure.message}`),
      };
      for (const id of rest) outcomes.set(id, { ok: false, failure: paused });
      break;
    }
  }
  return outcomes;
}

/**
 * One request: build, sign, send, classify, record. The outcome says where its events went for the
 * trace: the URL without its query and the answer's status (`https://host/path 200`), the request
 * (`POST#n`), its time and latency, and the SHA-256 of the body sent.
 */
async function sendChunk(
  chunk: readonly Item[],
  target: string,
  call: string,
  deps: WebhookDeliveryDeps,
  now: () => Date,
): Promise<DeliveryOutcome & ({ ok: true } | { ok: false; failure: ClassifiedFailure })> {
  const { destination } = deps;
  const ids = chunk.map((c) => c.eventId);
  const body = `{"events":[${chunk.map((c) => c.json).join(',')}]}`;
  const id = webhookId(ids);
  const started = now();
  const headers: Record<string, string> = {
    ...destination.headers,
    'content-type': 'application/json',
    ...signingHeaders(deps.secrets.signing, id, Math.floor(started.getTime() / 1000), body),
    ...(destination.auth && deps.secrets.apiKey !== undefined
      ? { [destination.auth.header]: deps.secrets.apiKey }
      : {}),
  };
  let status: number | undefined;
  let responseBody: string | undefined;
  let result: { ok: true } | { ok: false; failure: ClassifiedFailure };
  try {
    const response = await deps.http.send(
      {
        url: new URL(destination.url),
        method: destination.method,
        headers,
        body,
        timeoutMs: destination.timeoutSec * 1000,
      },
      target,
    );
    status = response.status;
    responseBody = response.body ? sanitizeReason(response.body, RESPONSE_BODY_BYTES) : undefined;
    result = classifyResponse(response.status, response.retryAfter, response.body, target, now());
  } catch (error) {
    result = { ok: false, failure: classifyFailure('WEBHOOK', error) };
  }
  const latencyMs = now().getTime() - started.getTime();
  const made = {
    call,
    at: started,
    latencyMs,
    target: status === undefined ? target : `${target} ${status}`,
  };
  await deps.attempts
    .record({
      destinationId: destination.id,
      destinationType: 'WEBHOOK',
      eventIds: ids,
      outcome: result.ok ? 'delivered' : 'failed',
      latencyMs,
      target,
      ...(status === undefined ? {} : { httpStatus: status }),
      ...(responseBody ? { responseBody } : {}),
      ...(result.ok
        ? {}
        : {
            failureClass: result.failure.failureClass,
            errorCode: result.failure.code,
            errorMessage: result.failure.message,
          }),
    })
    .catch((error: unknown) => deps.logger.warn('could not record the attempt', { error }));
  return result.ok
    ? { ok: true, ...made, sha256: createHash('sha256').update(body).digest('hex') }
    : { ...result, ...made };
}

/**
 * The test send of a webhook: the synthetic event through `deliverBatches` itself (signed, with the
 * API key, the SSRF check), in one request; the target is the URL without its query string.
 */
export async function sendTestRequest(record: EventRecord, deps: WebhookDeliveryDeps): Promise<TestDelivery> {
  const queued: QueuedEvent = { messageId: record.eventId, receiptHandle: '', body: '', record };
  // A test send never pauses the destination: the 410 is in the answer for the operator to act on.
  const outcomes = await deliverBatches([queued], { ...deps, onGone: async () => undefined });
  return (
    outcomes.get(record.eventId) ?? {
      ok: false,
      failure: {
        failureClass: 'transient',
        code: 'NotDelivered',
        message: 'the webhook request gave no result',
      },
    }
  );
}
