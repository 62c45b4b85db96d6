import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { HttpError } from '../../lambdas/core/errors.js';
import { parseIngestRequest, type RawRequest } from '../../lambdas/core/ingest-request.js';
import {
  KiB,
  MAX_EVENT_BYTES,
  MAX_EVENTS_PER_REQUEST,
  MAX_REQUEST_BYTES,
} from '../../lambdas/core/limits.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The envelope of POST /v1/events: media type, body shape, size limits, base64 bodies
 * (DESIGN.md "Canonical event"; invariant 10).
 */

type Json = Record<string, unknown>;

const JSON_TYPE = 'application/json';
const SEED_JSON = JSON.stringify(seedEvent);

const event = (n: number): Json => ({ ...structuredClone(seedEvent), idempotencyKey: `order_${n}` });
const batchOf = (count: number): Json[] => Array.from({ length: count }, (_, i) => event(i));

/** The HttpError a request is rejected with; fails the test when the request is accepted. */
function rejectionOf(request: RawRequest): HttpError {
  try {
    parseIngestRequest(request);
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw new Error(`expected an HttpError (a 4xx), got ${String(error)}`, { cause: error });
  }
  throw new Error('expected the request to be rejected, but it was accepted');
}
const jsonRequest = (body: string): RawRequest => ({ contentType: JSON_TYPE, body });

/** The seed event with a payload field padded so that its canonical JSON is exactly `bytes` long. */
function eventOfCanonicalBytes(bytes: number, idempotencyKey = 'order_padded'): Json {
  const padded: Json = { ...event(0), idempotencyKey, payload: { ...seedEvent.payload, padding: '' } };
  const overhead = Buffer.byteLength(canonicalJson(padded), 'utf8');
  (padded.payload as Json).padding = 'x'.repeat(bytes - overhead);
  expect(Buffer.byteLength(canonicalJson(padded), 'utf8')).toBe(bytes);
  return padded;
}

describe('content type', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['a missing content-type', undefined],
    ['an empty content-type', ''],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
    ['multipart/form-data', 'multipart/form-data; boundary=x'],
    ['application/jsonp', 'application/jsonp'],
  ])('answers 415 for %s, naming content-type', (_description, contentType) => {
    const error = rejectionOf({ contentType, body: SEED_JSON });
    expect(error.statusCode).toBe(415);
    expect(error.details.map((d) => d.field)).toEqual(['content-type']);
  });

  it('says which content type it received in the 415 message', () => {
    expect(rejectionOf({ contentType: 'text/plain', body: SEED_JSON }).message).toMatch(/"text\/plain"/);
    expect(rejectionOf({ contentType: undefined, body: SEED_JSON }).message).toMatch(/none/);
  });

  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'Application/JSON',
    'application/cloudevents+json',
    'application/vnd.pushrail.event+json; charset=utf-8',
  ])('accepts %s', (contentType) => {
    const parsed = parseIngestRequest({ contentType, body: SEED_JSON });
    expect(parsed.events[0]?.event).toStrictEqual(seedEvent);
  });
});

describe('body shape', () => {
  it.each([
    ['truncated JSON', '{"eventType":'],
    ['a trailing comma', `${SEED_JSON.slice(0, -1)},}`],
    ['an empty body', ''],
    ['single quotes', "{'eventType':'order.completed'}"],
  ])('answers 400 for invalid JSON (%s)', (_description, body) => {
    const error = rejectionOf(jsonRequest(body));
    expect(error.statusCode).toBe(400);
    expect(error.message).toMatch(/not valid JSON/);
  });

  it('answers 400 for a request without a body', () => {
    expect(rejectionOf({ contentType: JSON_TYPE, body: undefined }).statusCode).toBe(400);
  });

  it.each([
    ['a JSON array of events', JSON.stringify([seedEvent])],
    ['a JSON number', '42'],
    ['a JSON string', '"order.completed"'],
    ['JSON null', 'null'],
    ['JSON true', 'true'],
  ])('answers 400 for %s as the body, at (root)', (_description, body) => {
    const error = rejectionOf(jsonRequest(body));
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.field)).toEqual(['(root)']);
  });

  it('answers 400 for {"events": []}, naming events', () => {
    const error = rejectionOf(jsonRequest('{"events": []}'));
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.field)).toEqual(['events']);
  });

  it.each([
    ['an object', '{"events": {"0": {}}}'],
    ['null', '{"events": null}'],
    ['a string', '{"events": "[]"}'],
  ])('answers 400 when events is %s, naming events', (_description, body) => {
    const error = rejectionOf(jsonRequest(body));
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.field)).toEqual(['events']);
  });

  it(`answers 400 for ${MAX_EVENTS_PER_REQUEST + 1} events, naming events and the limit`, () => {
    const error = rejectionOf(jsonRequest(JSON.stringify({ events: batchOf(MAX_EVENTS_PER_REQUEST + 1) })));
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.field)).toEqual(['events']);
    expect(error.details[0]?.message).toMatch(
      new RegExp(`${MAX_EVENTS_PER_REQUEST + 1}.*${MAX_EVENTS_PER_REQUEST}`),
    );
  });

  it('answers 400 for a batch body with a field besides events, naming that field', () => {
    const error = rejectionOf(jsonRequest(JSON.stringify({ events: [seedEvent], extra: 1 })));
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.field)).toEqual(['extra']);
  });

  it(`accepts a batch of exactly ${MAX_EVENTS_PER_REQUEST} events, in request order`, () => {
    const events = batchOf(MAX_EVENTS_PER_REQUEST);
    const parsed = parseIngestRequest(jsonRequest(JSON.stringify({ events })));
    expect(parsed.batch).toBe(true);
    expect(parsed.events).toHaveLength(MAX_EVENTS_PER_REQUEST);
    expect(parsed.events.map((e) => e.event.idempotencyKey)).toEqual(events.map((e) => e.idempotencyKey));
  });

  it('sets batch only for {"events": [...]}, also for a batch of one', () => {
    expect(parseIngestRequest(jsonRequest(SEED_JSON)).batch).toBe(false);
    const one = parseIngestRequest(jsonRequest(JSON.stringify({ events: [seedEvent] })));
    expect(one.batch).toBe(true);
    expect(one.events).toHaveLength(1);
  });

  it('returns each event with its RFC 8785 canonical JSON', () => {
    const [parsed] = parseIngestRequest(jsonRequest(SEED_JSON)).events;
    expect(parsed?.canonical).toBe(canonicalJson(seedEvent));
    expect(parsed?.canonical.startsWith('{"correlationId":"req_4f30b2","customerExternalId":')).toBe(true);
  });
});

describe('size limits', () => {
  it(`answers 413 for a body over ${MAX_REQUEST_BYTES} bytes, at (body)`, () => {
    // 21 valid events of 250 KiB each: every one is under the per-event limit, the request is not.
    const events = Array.from({ length: 21 }, (_, i) => eventOfCanonicalBytes(250 * KiB, `order_${i}`));
    const body = JSON.stringify({ events });
    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_REQUEST_BYTES);
    const error = rejectionOf(jsonRequest(body));
    expect(error.statusCode).toBe(413);
    expect(error.details.map((d) => d.field)).toEqual(['(body)']);
    expect(error.message).toContain(String(MAX_REQUEST_BYTES));
  });

  it(`accepts a body of exactly ${MAX_REQUEST_BYTES} bytes and rejects one more byte`, () => {
    const compact = JSON.stringify({ events: [seedEvent] });
    const exact = compact.padEnd(MAX_REQUEST_BYTES, ' '); // JSON allows trailing whitespace
    expect(parseIngestRequest(jsonRequest(exact)).events).toHaveLength(1);
    expect(rejectionOf(jsonRequest(`${exact} `)).statusCode).toBe(413);
  });

  it('measures the body in UTF-8 bytes, not characters', () => {
    const compact = JSON.stringify({ events: [seedEvent] });
    // Each "é" is 1 character but 2 bytes: fewer characters than the limit, more bytes.
    const body = compact.replace('"tier":"pro"', `"tier":"${'é'.repeat(MAX_REQUEST_BYTES / 2)}"`);
    expect(body.length).toBeLessThan(MAX_REQUEST_BYTES);
    expect(rejectionOf(jsonRequest(body)).statusCode).toBe(413);
  });

  it(`answers 413 for a single 300 KiB event, naming the ${MAX_EVENT_BYTES}-byte limit`, () => {
    const big = { ...event(0), payload: { ...seedEvent.payload, notes: 'x'.repeat(300 * KiB) } };
    const error = rejectionOf(jsonRequest(JSON.stringify(big)));
    expect(error.statusCode).toBe(413);
    expect(error.message).toContain('262144');
    expect(error.details.map((d) => d.field)).toEqual(['(event)']);
    expect(error.details[0]?.message).toContain('262144');
    expect(error.details[0]).not.toHaveProperty('index');
  });

  it(`accepts an event of exactly ${MAX_EVENT_BYTES} canonical bytes and rejects one of ${MAX_EVENT_BYTES + 1}`, () => {
    const exact = eventOfCanonicalBytes(MAX_EVENT_BYTES);
    const [parsed] = parseIngestRequest(jsonRequest(JSON.stringify(exact))).events;
    expect(Buffer.byteLength(parsed?.canonical ?? '', 'utf8')).toBe(MAX_EVENT_BYTES);

    const over = eventOfCanonicalBytes(MAX_EVENT_BYTES + 1);
    const error = rejectionOf(jsonRequest(JSON.stringify(over)));
    expect(error.statusCode).toBe(413);
    expect(error.details[0]?.message).toContain(String(MAX_EVENT_BYTES + 1));
  });

  it('measures an event on its canonical JSON, not on how the producer formatted it', () => {
    const exact = eventOfCanonicalBytes(MAX_EVENT_BYTES);
    const pretty = JSON.stringify(exact, null, 8); // well over the limit as sent, exactly at it canonically
    expect(Buffer.byteLength(pretty)).toBeGreaterThan(MAX_EVENT_BYTES);
    expect(parseIngestRequest(jsonRequest(pretty)).events).toHaveLength(1);
  });

  it('measures an event in UTF-8 bytes, not characters', () => {
    const event = eventOfCanonicalBytes(MAX_EVENT_BYTES);
    const payload = event.payload as Json;
    // Swap one 1-byte "x" for a 2-byte "é": as many characters as the accepted event, one byte more.
    payload.padding = `${(payload.padding as string).slice(1)}é`;
    expect(canonicalJson(event).length).toBe(MAX_EVENT_BYTES);
    expect(Buffer.byteLength(canonicalJson(event), 'utf8')).toBe(MAX_EVENT_BYTES + 1);
    expect(rejectionOf(jsonRequest(JSON.stringify(event))).statusCode).toBe(413);
  });

  it("names the oversized event's index in a batch", () => {
    const events = [event(0), eventOfCanonicalBytes(MAX_EVENT_BYTES + 1), event(2)];
    const error = rejectionOf(jsonRequest(JSON.stringify({ events })));
    expect(error.statusCode).toBe(413);
    expect(error.details.map((d) => [d.index, d.field])).toEqual([[1, '(event)']]);
  });

  it('answers 413 for an oversized event even when another is invalid, and lists both', () => {
    const events = [{ ...event(0), eventType: 'a/b' }, eventOfCanonicalBytes(MAX_EVENT_BYTES + 1)];
    const error = rejectionOf(jsonRequest(JSON.stringify({ events })));
    expect(error.statusCode).toBe(413);
    expect(error.details.map((d) => [d.index, d.field])).toEqual([
      [1, '(event)'],
      [0, 'eventType'],
    ]);
  });
});

describe('base64 bodies (API Gateway isBase64Encoded)', () => {
  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

  it('decodes a base64 single event', () => {
    const parsed = parseIngestRequest({
      contentType: JSON_TYPE,
      body: base64(SEED_JSON),
      isBase64Encoded: true,
    });
    expect(parsed.batch).toBe(false);
    expect(parsed.events[0]?.event).toStrictEqual(seedEvent);
  });

  it('decodes a base64 batch with non-ASCII text intact', () => {
    const events = [event(0), { ...event(1), metadata: { note: 'réglé — 注文 🚀' } }];
    const body = base64(JSON.stringify({ events }));
    const parsed = parseIngestRequest({ contentType: JSON_TYPE, body, isBase64Encoded: true });
    expect(parsed.batch).toBe(true);
    expect(parsed.events.map((e) => e.event)).toStrictEqual(events);
  });

  it('does not decode a body that is not flagged as base64', () => {
    expect(
      rejectionOf({ contentType: JSON_TYPE, body: base64(SEED_JSON), isBase64Encoded: false }).statusCode,
    ).toBe(400);
  });

  it('applies the size limit to the decoded bytes, not to the base64 text', () => {
    // 4.5 MiB of JSON is about 6 MiB of base64: accepted, because the decoded body is under 5 MiB.
    const events = Array.from({ length: 18 }, (_, i) => eventOfCanonicalBytes(250 * KiB, `order_${i}`));
    const json = JSON.stringify({ events });
    expect(Buffer.byteLength(json)).toBeLessThan(MAX_REQUEST_BYTES);
    const body = base64(json);
    expect(body.length).toBeGreaterThan(MAX_REQUEST_BYTES);
    expect(parseIngestRequest({ contentType: JSON_TYPE, body, isBase64Encoded: true }).events).toHaveLength(
      18,
    );

    const tooBig = base64(json.padEnd(MAX_REQUEST_BYTES + 1, ' '));
    expect(rejectionOf({ contentType: JSON_TYPE, body: tooBig, isBase64Encoded: true }).statusCode).toBe(413);
  });
});
