import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

/** What a status change announces (DESIGN.md "Trace, health, audit"). */
export interface HealthChange {
  readonly destinationId: string;
  readonly customerExternalId: string;
  readonly from: string;
  readonly to: string;
  readonly at: string;
  readonly lastError: { readonly at: string; readonly errorCode: string; readonly reason: string } | null;
}

export const HEALTH_EVENT_SOURCE = 'pushrail';
export const HEALTH_EVENT_DETAIL_TYPE = 'Destination Health Changed';

/**
 * Puts a status change on the vendor account's default event bus, where the vendor routes it to a
 * pager with a rule (README "Operating Pushrail" → "Health"). Throws when the entry was not accepted,
 * so the caller leaves the change unannounced and a later evaluation puts it again.
 */
export class HealthAnnouncer {
  public constructor(private readonly events: EventBridgeClient) {}

  public async announce(change: HealthChange): Promise<void> {
    const res = await this.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'default',
            Source: HEALTH_EVENT_SOURCE,
            DetailType: HEALTH_EVENT_DETAIL_TYPE,
            Resources: [],
            Time: new Date(change.at),
            Detail: JSON.stringify(change),
          },
        ],
      }),
    );
    if ((res.FailedEntryCount ?? 0) > 0) {
      const entry = res.Entries?.[0];
      throw new Error(`PutEvents refused the health change: ${entry?.ErrorCode ?? 'unknown'}`);
    }
  }
}
