import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import { HttpError } from '../../lambdas/core/errors.js';
import { parseIngestRequest } from '../../lambdas/core/ingest-request.js';
import { MAX_EVENT_TYPE_LENGTH, MAX_ID_LENGTH } from '../../lambdas/core/limits.js';
import { seedEvent } from '../support/seed-event.js';

/**
 * The canonical event schema as a producer meets it: through parseIngestRequest, i.e. the JSON text
 * of POST /v1/events. Every violation must be a 400 whose details name the offending field (and the
 * event's index in a batch) — invariant 10, DESIGN.md "Canonical event".
 */

type Json = Record<string, unknown>;

const MISSING = Symbol('missing');
const NUM_RUNS = 200;

const seed = (): Json => structuredClone(seedEvent) as unknown as Json;

/** Sets (or removes) a field as an own, enumerable property — also for keys such as `__proto__`. */
function setField(event: Json, field: string, value: unknown): Json {
  if (value === MISSING) delete event[field];
  else Object.defineProperty(event, field, { value, enumerable: true, writable: true, configurable: true });
  return event;
}

function post(body: unknown) {
  return parseIngestRequest({ contentType: 'application/json', body: JSON.stringify(body) });
}

/** The HttpError a request body (JSON text) is rejected with; fails the test when it is accepted. */
function rejectionOfText(body: string): HttpError {
  try {
    parseIngestRequest({ contentType: 'application/json', body });
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw new Error(`expected an HttpError (a 4xx), got ${String(error)}`, { cause: error });
  }
  throw new Error('expected the request to be rejected, but it was accepted');
}
const rejectionOf = (body: unknown): HttpError => rejectionOfText(JSON.stringify(body));

/** Asserts a 400 whose details all point at `field` (and `index`, for a batch) — and nothing else. */
function expectRejectedAt(error: HttpError, field: string, index?: number): void {
  expect(error.statusCode).toBe(400);
  expect(error.details.length).toBeGreaterThan(0);
  for (const detail of error.details) {
    expect(detail.field).toBe(field);
    if (index === undefined) expect(detail).not.toHaveProperty('index');
    else expect(detail.index).toBe(index);
  }
}

describe('the seed event', () => {
  it('is accepted unchanged as a single event', () => {
    const parsed = post(seedEvent);
    expect(parsed.batch).toBe(false);
    expect(parsed.events).toHaveLength(1);
    expect(parsed.events[0]?.event).toStrictEqual(seed());
    expect(parsed.events[0]?.canonical).toBe(canonicalJson(seedEvent));
  });

  it('is accepted without its optional correlationId and metadata', () => {
    const event = setField(setField(seed(), 'correlationId', MISSING), 'metadata', MISSING);
    expect(post(event).events[0]?.event).toStrictEqual(event);
  });
});

describe('field violations give 400 naming the field', () => {
  const long = (n: number) => 'a'.repeat(n);
  const cases: [description: string, field: string, value: unknown][] = [
    ['a missing eventType', 'eventType', MISSING],
    ['an eventType that is a number', 'eventType', 42],
    ['an empty eventType', 'eventType', ''],
    ['an eventType with "/"', 'eventType', 'order/completed'],
    ['an eventType starting with "."', 'eventType', '.order.completed'],
    ['an eventType starting with "_"', 'eventType', '_order'],
    ['an eventType starting with "-"', 'eventType', '-order'],
    ['an eventType with a space', 'eventType', 'order completed'],
    ['an eventType with "=" (it is an S3 partition value)', 'eventType', 'event_type=x'],
    ['an eventType with a non-ASCII letter', 'eventType', 'commande.réglée'],
    ['an eventType with a control character', 'eventType', 'order\ncompleted'],
    [`an eventType over ${MAX_EVENT_TYPE_LENGTH} characters`, 'eventType', long(MAX_EVENT_TYPE_LENGTH + 1)],
    ['a missing occurredAt', 'occurredAt', MISSING],
    ['an occurredAt that is epoch millis', 'occurredAt', 1779805268493],
    ['an occurredAt without an offset', 'occurredAt', '2026-05-26T14:21:08.493'],
    ['an occurredAt that is only a date', 'occurredAt', '2026-05-26'],
    ['an occurredAt without seconds', 'occurredAt', '2026-05-26T14:21Z'],
    ['an occurredAt with an offset without a colon', 'occurredAt', '2026-05-26T14:21:08+0530'],
    ['an occurredAt with an hours-only offset', 'occurredAt', '2026-05-26T14:21:08+05'],
    ['an occurredAt with a space instead of "T"', 'occurredAt', '2026-05-26 14:21:08Z'],
    ['an occurredAt on 2026-02-30', 'occurredAt', '2026-02-30T14:21:08Z'],
    ['an occurredAt on 2025-02-29 (not a leap year)', 'occurredAt', '2025-02-29T00:00:00Z'],
    ['an occurredAt on 2026-04-31', 'occurredAt', '2026-04-31T00:00:00Z'],
    ['an occurredAt in month 13', 'occurredAt', '2026-13-01T00:00:00Z'],
    ['an occurredAt at hour 24', 'occurredAt', '2026-05-26T24:00:00Z'],
    ['an occurredAt with a leap second', 'occurredAt', '2026-06-30T23:59:60Z'],
    ['an occurredAt in prose', 'occurredAt', 'Tue, 26 May 2026 14:21:08 GMT'],
    ['an empty occurredAt', 'occurredAt', ''],
  ];
  for (const field of ['source', 'customerExternalId', 'idempotencyKey'] as const) {
    cases.push([`a missing ${field}`, field, MISSING]);
  }
  for (const field of ['source', 'customerExternalId', 'idempotencyKey', 'correlationId'] as const) {
    cases.push(
      [`a ${field} that is a number`, field, 42],
      [`a ${field} that is null`, field, null],
      [`a ${field} that is an object`, field, { id: 'x' }],
      [`an empty ${field}`, field, ''],
      [`a ${field} over ${MAX_ID_LENGTH} characters`, field, long(MAX_ID_LENGTH + 1)],
      [`a ${field} with a NUL`, field, 'abc\u0000def'],
      [`a ${field} with a newline`, field, 'abc\n'],
      [`a ${field} with a tab`, field, '\tabc'],
      [`a ${field} with DEL`, field, 'abc\u007f'],
      [`a ${field} with a C1 control character`, field, 'abc\u0085def'],
    );
  }
  cases.push(
    ['a missing payload', 'payload', MISSING],
    ['a payload that is an array', 'payload', [{ orderId: 'ord_38a91f' }]],
    ['a payload that is null', 'payload', null],
    ['a payload that is a string', 'payload', '{"orderId":"ord_38a91f"}'],
    ['a payload that is a number', 'payload', 12900],
    ['a payload that is a boolean', 'payload', true],
    ['a metadata that is an array', 'metadata', ['pro']],
    ['a metadata that is null', 'metadata', null],
    ['a metadata that is a string', 'metadata', 'pro'],
    ['a metadata that is a number', 'metadata', 1],
    ['an unknown top-level field', 'eventTypo', 'order.completed'],
    ['a producer-supplied eventId (Pushrail assigns it)', 'eventId', 'evt_0123456789abcdefghjkmnpqrs'],
    ['a producer-supplied receivedAt (Pushrail assigns it)', 'receivedAt', '2026-05-26T14:21:09Z'],
    ['an unknown top-level field named __proto__', '__proto__', { eventType: 'x' }],
  );

  it.each(cases)('rejects %s with its path', (_description, field, value) => {
    expectRejectedAt(rejectionOf(setField(seed(), field, value)), field);
  });

  it('names the field in a message a producer can act on', () => {
    const error = rejectionOf(setField(seed(), 'occurredAt', '2026-05-26T14:21:08.493'));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details[0]?.message).toMatch(/occurredAt/);
    expect(error.toBody().error.details).toEqual(error.details);
  });

  it('lists every invalid field of one event, not just the first', () => {
    const event = setField(setField(seed(), 'eventType', 'a/b'), 'payload', null);
    const error = rejectionOf(event);
    expect(error.statusCode).toBe(400);
    expect(new Set(error.details.map((d) => d.field))).toEqual(new Set(['eventType', 'payload']));
  });
});

describe('values at the edge of the rules are accepted', () => {
  const accepted: [description: string, field: string, value: unknown][] = [
    [
      `an eventType of exactly ${MAX_EVENT_TYPE_LENGTH} characters`,
      'eventType',
      'e'.repeat(MAX_EVENT_TYPE_LENGTH),
    ],
    ['a one-character eventType', 'eventType', '7'],
    ['an eventType with ".", "_" and "-"', 'eventType', 'Order_v2.completed-late'],
    ['an occurredAt with a positive offset', 'occurredAt', '2026-05-26T19:51:08.493+05:30'],
    ['an occurredAt with a negative offset', 'occurredAt', '2026-05-26T06:21:08-08:00'],
    ['an occurredAt with +00:00', 'occurredAt', '2026-05-26T14:21:08+00:00'],
    ['an occurredAt without fractional seconds', 'occurredAt', '2026-05-26T14:21:08Z'],
    ['an occurredAt with nanoseconds', 'occurredAt', '2026-05-26T14:21:08.493123456Z'],
    ['an occurredAt on a leap day', 'occurredAt', '2024-02-29T23:59:59Z'],
    [`a source of exactly ${MAX_ID_LENGTH} characters`, 'source', 's'.repeat(MAX_ID_LENGTH)],
    ['an idempotencyKey with spaces and non-ASCII text', 'idempotencyKey', 'commande 38a91f — réglée 🚀'],
    ['an empty payload', 'payload', {}],
    ['an empty metadata', 'metadata', {}],
    ['a deeply nested payload', 'payload', { a: { b: { c: [1, [2, { d: null }], 'x'] } } }],
  ];
  it.each(accepted)('accepts %s unchanged', (_description, field, value) => {
    const event = setField(seed(), field, value);
    expect(post(event).events[0]?.event).toStrictEqual(event);
  });

  // Core bug: isRealInstant() probes the calendar with Date.UTC(year, ...), which maps years 0-99 to
  // 1900-1999, so every date in the years 0000-0099 is called "not a real calendar date-time".
  it('accepts a real date in the years 0000-0099 (ISO-8601 allows them)', () => {
    for (const occurredAt of ['0001-01-01T00:00:00Z', '0050-03-01T12:00:00+01:00', '0099-12-31T23:59:59Z']) {
      const event = setField(seed(), 'occurredAt', occurredAt);
      expect(() => post(event), occurredAt).not.toThrow();
    }
  });

  // Core bug: payload and metadata are copied key by key by zod's z.record(), and
  // `copy["__proto__"] = v` sets the copy's prototype instead of a field, so the key is silently
  // dropped from the stored event (and from its canonical JSON). Same for metadata.
  it('keeps a payload key named "__proto__" instead of silently dropping it', () => {
    const body = `{"eventType":"a","occurredAt":"2026-05-26T14:21:08Z","source":"s","customerExternalId":"c","idempotencyKey":"k","payload":{"__proto__":{"x":1},"y":2}}`;
    const parsed = parseIngestRequest({ contentType: 'application/json', body });
    expect(parsed.events[0]?.event).toEqual(JSON.parse(body));
    expect(parsed.events[0]?.canonical).toBe(canonicalJson(JSON.parse(body)));
  });
});

describe('text that cannot be stored as UTF-8', () => {
  // Core bug: JSON.parse turns "\ud800" into a lone UTF-16 surrogate; the schema lets it through and
  // canonicalJson() then throws a plain Error ("Lone surrogate is not allowed"), so the producer gets a
  // 5xx (and retries forever) instead of a 400 naming the field.
  it('rejects a lone surrogate in idempotencyKey with 400 and its path', () => {
    const body = JSON.stringify(seed()).replace('"order_38a91f-completed"', '"order_\\ud800"');
    const error = rejectionOfText(body);
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => d.field)).toContain('idempotencyKey');
  });

  it('rejects a lone surrogate inside the payload with 400 at payload (or the path inside it)', () => {
    const body = JSON.stringify(seed()).replace('"ord_38a91f"', '"ord_\\udc00"');
    const error = rejectionOfText(body);
    expect(error.statusCode).toBe(400);
    expect(error.details.some((d) => d.field === 'payload' || d.field.startsWith('payload.'))).toBe(true);
  });
});

describe('batches are all-or-nothing and list every invalid event', () => {
  const good = (n: number): Json => setField(seed(), 'idempotencyKey', `order_${n}`);

  it('accepts a batch of valid events in request order', () => {
    const events = [good(0), good(1), good(2)];
    const parsed = post({ events });
    expect(parsed.batch).toBe(true);
    expect(parsed.events.map((e) => e.event)).toStrictEqual(events);
  });

  it("rejects a batch with one bad event among good ones, naming that event's index and field", () => {
    const events = [good(0), setField(good(1), 'occurredAt', '2026-05-26T14:21:08'), good(2)];
    expectRejectedAt(rejectionOf({ events }), 'occurredAt', 1);
  });

  it('lists every invalid event, with its own index and field', () => {
    const events = [
      setField(good(0), 'payload', []),
      good(1),
      setField(good(2), 'eventType', '.hidden'),
      good(3),
      setField(good(4), 'source', MISSING),
    ];
    const error = rejectionOf({ events });
    expect(error.statusCode).toBe(400);
    expect(error.details.map((d) => [d.index, d.field])).toEqual([
      [0, 'payload'],
      [2, 'eventType'],
      [4, 'source'],
    ]);
    expect(error.message).toMatch(/3 invalid event/);
  });

  it('names the index of an event that is not an object at all', () => {
    const error = rejectionOf({ events: [good(0), 'order.completed', null] });
    expect(error.statusCode).toBe(400);
    expect(new Set(error.details.map((d) => d.index))).toEqual(new Set([1, 2]));
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------

const CONTROL = /\p{Cc}/u;
const KNOWN_FIELDS = new Set([
  'eventType',
  'occurredAt',
  'source',
  'customerExternalId',
  'idempotencyKey',
  'correlationId',
  'payload',
  'metadata',
]);

const eventTypeArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);

const printableAscii = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const idArb = fc
  .oneof(
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
    fc.string({ unit: printableAscii, minLength: MAX_ID_LENGTH, maxLength: MAX_ID_LENGTH }),
    fc.constantFrom('acct_8K2zRq', 'order_38a91f-completed', 'billing-service'),
  )
  .filter((s) => s.length >= 1 && s.length <= MAX_ID_LENGTH && !CONTROL.test(s));

/**
 * occurredAt as producers write it: `Z` or a ±hh:mm offset, with no, milli- or nanosecond fractions.
 * The wall-clock part is the instant shifted by the offset, so it always names a real date. (Years
 * before 0100 are covered by their own example above.)
 */
const occurredAtArb = fc
  .record({
    instant: fc.date({
      min: new Date('1000-01-02T00:00:00.000Z'),
      max: new Date('9998-12-30T23:59:59.999Z'),
      noInvalidDate: true,
    }),
    offset: fc.oneof(fc.constant('Z' as const), fc.integer({ min: -12 * 60, max: 14 * 60 })),
    fraction: fc.constantFrom('none', 'millis', 'nanos'),
  })
  .map(({ instant, offset, fraction }) => {
    const minutes = offset === 'Z' ? 0 : offset;
    const wall = new Date(instant.getTime() + minutes * 60_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    let text = wall.slice(0, 19);
    if (fraction === 'millis') text += wall.slice(19, 23);
    if (fraction === 'nanos') text += `${wall.slice(19, 23)}042917`;
    if (offset === 'Z') return `${text}Z`;
    const abs = Math.abs(offset);
    const hh = String(Math.floor(abs / 60)).padStart(2, '0');
    const mm = String(abs % 60).padStart(2, '0');
    return `${text}${offset < 0 ? '-' : '+'}${hh}:${mm}`;
  });

/**
 * JSON objects with any keys. Keys that are names of Object.prototype members are drawn often on
 * purpose: a copy made with `out[key] = value` mishandles `__proto__`, and that must show every run.
 */
const jsonKeyArb = fc.oneof(
  { weight: 4, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty') },
);
const jsonObjectArb = fc.dictionary(jsonKeyArb, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

const validEventArb: fc.Arbitrary<Json> = fc.record(
  {
    eventType: eventTypeArb,
    occurredAt: occurredAtArb,
    source: idArb,
    customerExternalId: idArb,
    idempotencyKey: idArb,
    correlationId: idArb,
    payload: jsonObjectArb,
    metadata: jsonObjectArb,
  },
  { requiredKeys: ['eventType', 'occurredAt', 'source', 'customerExternalId', 'idempotencyKey', 'payload'] },
);

interface Corruption {
  readonly field: string;
  readonly value: unknown;
}

const controlCharArb = fc
  .oneof(fc.integer({ min: 0x00, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }))
  .map((c) => String.fromCharCode(c));
const notAStringArb = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
);
const notAnObjectArb = fc.oneof(
  fc.constant(null),
  fc.string(),
  fc.integer(),
  fc.boolean(),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
);
const withControlChar = (base: fc.Arbitrary<string>) =>
  fc.tuple(base, controlCharArb, fc.nat()).map(([s, c, at]) => {
    const i = at % (s.length + 1);
    return `${s.slice(0, i)}${c}${s.slice(i)}`;
  });

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();
const unrealDateArb = fc
  .tuple(fc.integer({ min: 1000, max: 9999 }), fc.constantFrom(2, 4, 6, 9, 11))
  .chain(([year, month]) =>
    fc.integer({ min: daysIn(year, month) + 1, max: 31 }).map((day) => {
      const pad = (n: number, w = 2) => String(n).padStart(w, '0');
      return `${pad(year, 4)}-${pad(month)}-${pad(day)}T12:00:00Z`;
    }),
  );
const OFFSET = /(Z|[+-]\d{2}:\d{2})$/;

const eventTypeCorruption = fc.oneof(
  notAStringArb,
  fc.constant(MISSING),
  fc.constant(''),
  fc.tuple(eventTypeArb, eventTypeArb).map(([a, b]) => `${a}/${b}`),
  fc.tuple(fc.constantFrom('.', '_', '-'), eventTypeArb).map(([c, s]) => `${c}${s}`),
  fc
    .tuple(eventTypeArb, fc.constantFrom(' ', ':', '=', '*', '?', '#', 'é', '/', '\\'))
    .map(([s, c]) => `${s}${c}`),
  fc
    .tuple(eventTypeArb, fc.integer({ min: MAX_EVENT_TYPE_LENGTH + 1, max: 400 }))
    .map(([s, n]) => s.padEnd(n, 'x')),
  withControlChar(eventTypeArb),
);
const occurredAtCorruption = fc.oneof(
  notAStringArb,
  fc.constant(MISSING),
  occurredAtArb.map((s) => s.replace(OFFSET, '')),
  occurredAtArb.filter((s) => !s.endsWith('Z')).map((s) => s.replace(/:(\d{2})$/, '$1')),
  occurredAtArb.map((s) => s.replace('T', ' ')),
  occurredAtArb.map((s) => s.slice(0, 10)),
  unrealDateArb,
  fc.string().filter((s) => !/^\d{4}-\d{2}-\d{2}T/.test(s)),
);
const idCorruption = (required: boolean) =>
  fc.oneof(
    notAStringArb,
    fc.constant(required ? MISSING : ''),
    fc.constant(''),
    fc.string({ unit: printableAscii, minLength: MAX_ID_LENGTH + 1, maxLength: MAX_ID_LENGTH + 64 }),
    withControlChar(idArb),
  );

const corruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  eventTypeCorruption.map((value) => ({ field: 'eventType', value })),
  occurredAtCorruption.map((value) => ({ field: 'occurredAt', value })),
  fc
    .tuple(fc.constantFrom('source', 'customerExternalId', 'idempotencyKey'), idCorruption(true))
    .map(([field, value]) => ({ field, value })),
  idCorruption(false).map((value) => ({ field: 'correlationId', value })),
  fc.oneof(notAnObjectArb, fc.constant(MISSING)).map((value) => ({ field: 'payload', value })),
  notAnObjectArb.map((value) => ({ field: 'metadata', value })),
  fc
    .tuple(
      fc.string({ minLength: 1 }).filter((k) => !KNOWN_FIELDS.has(k) && k !== 'events'),
      fc.jsonValue({ maxDepth: 1 }),
    )
    .map(([field, value]) => ({ field, value })),
);

describe('properties', () => {
  it('round-trips any valid event: JSON text -> parseIngestRequest -> the same event', () => {
    fc.assert(
      fc.property(validEventArb, (event) => {
        const text = JSON.stringify(event);
        const parsed = parseIngestRequest({ contentType: 'application/json', body: text });
        const sent = JSON.parse(text) as Json;
        expect(parsed.batch).toBe(false);
        expect(parsed.events).toHaveLength(1);
        // toEqual, not toStrictEqual: the latter compares `.constructor`, which a payload key named
        // "constructor" overrides. The canonical JSON comparison below is exact.
        expect(parsed.events[0]?.event).toEqual(sent);
        expect(parsed.events[0]?.canonical).toBe(canonicalJson(sent));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('round-trips any valid batch, in request order', () => {
    fc.assert(
      fc.property(fc.array(validEventArb, { minLength: 1, maxLength: 5 }), (events) => {
        const text = JSON.stringify({ events });
        const parsed = parseIngestRequest({ contentType: 'application/json', body: text });
        expect(parsed.batch).toBe(true);
        const sent = (JSON.parse(text) as { events: Json[] }).events;
        expect(parsed.events.map((e) => e.canonical)).toEqual(sent.map((e) => canonicalJson(e)));
        expect(parsed.events.map((e) => e.event)).toEqual(sent);
      }),
      { numRuns: NUM_RUNS / 2 },
    );
  });

  it('rejects any valid event with one field corrupted, with 400 and exactly that field path', () => {
    fc.assert(
      fc.property(validEventArb, corruptionArb, (event, { field, value }) => {
        expectRejectedAt(rejectionOf(setField(event, field, value)), field);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("rejects a batch with one corrupted event, naming only that event's index and field", () => {
    fc.assert(
      fc.property(
        fc.array(validEventArb, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        corruptionArb,
        (events, at, { field, value }) => {
          const index = at % events.length;
          const bad = events.map((e, i) => (i === index ? setField({ ...e }, field, value) : e));
          expectRejectedAt(rejectionOf({ events: bad }), field, index);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
