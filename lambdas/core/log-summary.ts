/**
 * The shape of Pushrail's one log line per request (ingest, management) and per delivery batch: ids,
 * counts and codes, never a payload. A batch can hold up to 10,000 events, so its event ids are capped
 * to keep the line under CloudWatch Logs' 256 KB event limit; the trace (GET /v1/events/{id}) has
 * every event.
 */

/** Event ids one line lists at most; the rest are counted in `eventIdsOmitted`. */
export const MAX_LOGGED_EVENT_IDS = 500;

export interface EventIdsField {
  readonly eventIds: readonly string[];
  readonly eventIdsOmitted?: number;
}

/** The event ids of a line, capped (duplicates of one event are listed once). */
export function eventIdsField(ids: Iterable<string | undefined>): EventIdsField {
  const unique = [...new Set([...ids].filter((id): id is string => id !== undefined))];
  if (unique.length <= MAX_LOGGED_EVENT_IDS) return { eventIds: unique };
  return {
    eventIds: unique.slice(0, MAX_LOGGED_EVENT_IDS),
    eventIdsOmitted: unique.length - MAX_LOGGED_EVENT_IDS,
  };
}

/** The distinct correlation ids of the events of a line (producers set them; many have none). */
export function correlationIdsOf(ids: Iterable<string | undefined>): string[] {
  return [...new Set([...ids].filter((id): id is string => id !== undefined && id !== ''))];
}
