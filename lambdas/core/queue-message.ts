import { canonicalJson } from './canonical.js';
import { type EventRecord, EventRecordSchema } from './event.js';
import type { ClassifiedFailure } from './failure-classification.js';

/**
 * The queue message, written by ingest and replay and read by the consumers and replay: the body is
 * the event record's canonical JSON, byte for byte as stored (so every copy of an event, and the S3
 * part sealed from it, has the same bytes), and the `eventId` attribute names the event even when the
 * body cannot be read.
 */

/** A message attribute as SQS takes it; the SDK's MessageAttributeValue accepts this shape. */
export interface MessageAttribute {
  readonly DataType: 'String' | 'Number';
  readonly StringValue: string;
}

export type MessageAttributes = Readonly<Record<string, MessageAttribute>>;

export interface QueueMessage {
  readonly body: string;
  readonly attributes: MessageAttributes;
}

/** The attribute that names the message's event. */
export const EVENT_ID_ATTRIBUTE = 'eventId';

/** Names of the attributes a dead-lettered message carries: the reason, never a secret. */
export const DLQ_ATTRIBUTES = {
  failureClass: 'pushrail.failureClass',
  errorCode: 'pushrail.errorCode',
  reason: 'pushrail.reason',
  destinationId: 'pushrail.destinationId',
  failedAt: 'pushrail.failedAt',
  firstAttemptAt: 'pushrail.firstAttemptAt',
  attempts: 'pushrail.attempts',
  eventId: EVENT_ID_ATTRIBUTE,
} as const;

const text = (value: string): MessageAttribute => ({ DataType: 'String', StringValue: value });

/**
 * The message for an event: from its record, or from the canonical JSON the event store holds. Pass
 * the stored string whenever there is one: it is sent as it is, never re-serialized.
 */
export function toMessage(record: EventRecord): QueueMessage;
export function toMessage(canonical: string, eventId: string): QueueMessage;
export function toMessage(source: EventRecord | string, eventId?: string): QueueMessage {
  const body = typeof source === 'string' ? source : canonicalJson(source);
  const id = typeof source === 'string' ? (eventId as string) : source.eventId;
  return { body, attributes: { [EVENT_ID_ATTRIBUTE]: text(id) } };
}

/**
 * A message as received: from ReceiveMessage (the SDK's PascalCase) or in a Lambda SQS event
 * (camelCase). Only what the format needs, so core stays free of AWS types.
 */
export type ReceivedMessage =
  | {
      readonly body: string;
      readonly messageAttributes?: Readonly<Record<string, { readonly stringValue?: string }>>;
    }
  | {
      readonly Body?: string;
      readonly MessageAttributes?: Readonly<Record<string, { readonly StringValue?: string }>>;
    };

export interface ReadMessage {
  /** The body exactly as received: what a DLQ move or a replay sends again. */
  readonly body: string;
  /** The event record, when the body is one; undefined for a malformed body. */
  readonly record: EventRecord | undefined;
  /**
   * The event the message is about: the record's id when the body is a record, otherwise the
   * `eventId` attribute, otherwise an event id the body names. Undefined when none is known.
   */
  readonly eventId: string | undefined;
}

/** Reads a received message; never throws, since a malformed body must still be dead-lettered. */
export function fromMessage(message: ReceivedMessage): ReadMessage {
  const [body, attributeId] =
    'body' in message
      ? [message.body, message.messageAttributes?.[EVENT_ID_ATTRIBUTE]?.stringValue]
      : [message.Body ?? '', message.MessageAttributes?.[EVENT_ID_ATTRIBUTE]?.StringValue];
  const json = parseJson(body);
  const parsed = EventRecordSchema.safeParse(json);
  const record = parsed.success ? (parsed.data as EventRecord) : undefined;
  return { body, record, eventId: record?.eventId ?? attributeId ?? namedEventId(json) };
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Only a well-formed id: a malformed body's field could be any size, and it becomes an attribute. */
function namedEventId(json: unknown): string | undefined {
  if (json === null || typeof json !== 'object') return undefined;
  const id = EventRecordSchema.shape.eventId.safeParse((json as { eventId?: unknown }).eventId);
  return id.success ? id.data : undefined;
}

/** Why and when a message was dead-lettered: what its DLQ copy carries as attributes. */
export interface DeadLetterReason {
  readonly failure: Pick<ClassifiedFailure, 'failureClass' | 'code' | 'message'>;
  readonly destinationId: string;
  readonly failedAt: Date;
  readonly firstAttemptAt: Date;
  /** Receives so far (SQS's ApproximateReceiveCount). */
  readonly attempts: number;
  readonly eventId: string | undefined;
}

export function deadLetterAttributes(reason: DeadLetterReason): MessageAttributes {
  const { failure } = reason;
  return {
    [DLQ_ATTRIBUTES.failureClass]: text(failure.failureClass),
    [DLQ_ATTRIBUTES.errorCode]: text(failure.code),
    [DLQ_ATTRIBUTES.reason]: text(failure.message || failure.code),
    [DLQ_ATTRIBUTES.destinationId]: text(reason.destinationId),
    [DLQ_ATTRIBUTES.failedAt]: text(reason.failedAt.toISOString()),
    [DLQ_ATTRIBUTES.firstAttemptAt]: text(reason.firstAttemptAt.toISOString()),
    [DLQ_ATTRIBUTES.attempts]: { DataType: 'Number', StringValue: String(reason.attempts) },
    ...(reason.eventId ? { [DLQ_ATTRIBUTES.eventId]: text(reason.eventId) } : {}),
  };
}
