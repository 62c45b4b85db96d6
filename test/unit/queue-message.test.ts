import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lambdas/core/canonical.js';
import type { EventRecord } from '../../lambdas/core/event.js';
import { deriveEventId } from '../../lambdas/core/event-id.js';
import {
  DLQ_ATTRIBUTES,
  deadLetterAttributes,
  fromMessage,
  type QueueMessage,
  toMessage,
} from '../../lambdas/core/queue-message.js';
import { seedEvent } from '../support/seed-event.js';

const eventId = deriveEventId(seedEvent.customerExternalId, seedEvent.idempotencyKey);
const record: EventRecord = { ...seedEvent, eventId, receivedAt: '2026-05-26T14:21:09.000Z' };
const otherId = deriveEventId('acct_other', 'key-2');

/** As ReceiveMessage returns it (the SDK's PascalCase). */
const asSdk = (m: QueueMessage) => ({ Body: m.body, MessageAttributes: m.attributes });
/** As a Lambda SQS event record carries it (camelCase). */
const asLambda = (m: QueueMessage) => ({
  body: m.body,
  messageAttributes: Object.fromEntries(
    Object.entries(m.attributes).map(([name, v]) => [
      name,
      { dataType: v.DataType, stringValue: v.StringValue },
    ]),
  ),
});

describe('toMessage', () => {
  it('writes a record as its canonical JSON, with the eventId attribute', () => {
    expect(toMessage(record)).toEqual({
      body: canonicalJson(record),
      attributes: { eventId: { DataType: 'String', StringValue: eventId } },
    });
  });

  it('sends a stored record byte for byte, never re-serialized', () => {
    // Key order and escapes as stored; re-serializing would change the bytes S3 parts are sealed from.
    const stored = `{"receivedAt":"2026-05-26T14:21:09.000Z","eventId":"${eventId}","payload":{"note":"caf\\u00e9"}}`;
    expect(toMessage(stored, eventId).body).toBe(stored);
  });
});

describe('fromMessage', () => {
  it.each([
    ['ReceiveMessage', asSdk],
    ['a Lambda SQS event', asLambda],
  ])('reads back what toMessage wrote, as %s gives it', (_, shape) => {
    const message = toMessage(record);
    expect(fromMessage(shape(message))).toEqual({ body: message.body, record, eventId });
  });

  it.each([
    ['ReceiveMessage', asSdk],
    ['a Lambda SQS event', asLambda],
  ])('keeps the eventId attribute of a malformed body, as %s gives it', (_, shape) => {
    for (const body of [
      'not json',
      '',
      'null',
      '[1]',
      '{}',
      JSON.stringify({ ...record, eventId: 'nope' }),
    ]) {
      expect(fromMessage(shape(toMessage(body, eventId)))).toEqual({ body, record: undefined, eventId });
    }
  });

  it('falls back to a well-formed event id the body names, and to none otherwise', () => {
    const named = JSON.stringify({ eventId: otherId });
    expect(fromMessage({ body: named })).toEqual({ body: named, record: undefined, eventId: otherId });
    for (const body of [
      JSON.stringify({ eventId: 'x'.repeat(10_000) }),
      JSON.stringify({ eventId: 7 }),
      'oops',
    ])
      expect(fromMessage({ body }).eventId).toBeUndefined();
    expect(fromMessage({}).body).toBe(''); // a ReceiveMessage answer without a body
  });

  it("prefers the body's record over the attribute: the body is what gets delivered", () => {
    const message = { ...toMessage(record), attributes: toMessage('', otherId).attributes };
    expect(fromMessage(asSdk(message)).eventId).toBe(eventId);
  });
});

describe('deadLetterAttributes', () => {
  const reason = {
    failure: { failureClass: 'transient', code: 'SlowDown', message: '' },
    destinationId: 'archive',
    failedAt: new Date('2026-05-27T12:00:00.000Z'),
    firstAttemptAt: new Date('2026-05-26T12:00:00.000Z'),
    attempts: 14,
    eventId: undefined,
  } as const;

  it('names the reason, the code when there is no message, and no eventId it does not know', () => {
    const attributes = deadLetterAttributes(reason);
    expect(attributes[DLQ_ATTRIBUTES.reason]).toEqual({ DataType: 'String', StringValue: 'SlowDown' });
    expect(attributes[DLQ_ATTRIBUTES.attempts]).toEqual({ DataType: 'Number', StringValue: '14' });
    expect(attributes).not.toHaveProperty(DLQ_ATTRIBUTES.eventId);
    expect(deadLetterAttributes({ ...reason, eventId })[DLQ_ATTRIBUTES.eventId]?.StringValue).toBe(eventId);
  });
});
