import type { AuditLog } from '../adapters/audit-log.js';
import { type DestinationStore, VersionConflictError } from '../adapters/destination-store.js';
import type { DestinationRecord } from '../core/destination-record.js';
import { sanitizeReason } from '../core/failure-classification.js';

/** The audit's `who` of changes Pushrail makes itself (a 410 pausing a webhook), not an operator. */
export const PUSHRAIL_ITSELF = 'pushrail';

export interface AutoPauseDeps {
  readonly store: Pick<DestinationStore, 'get' | 'replace'>;
  readonly audit: Pick<AuditLog, 'putItem'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * Pauses a destination on Pushrail's own decision (a webhook receiver answered 410 Gone): the same
 * change as `POST /pause` — desired PAUSED, a new version, one `destination.paused` entry in the same
 * transaction — with `who` Pushrail itself and the reason as the record's statusReason, which the
 * provisioner keeps while the destination stays paused. Events wait in the queue until an operator
 * resumes it (invariant 11). A destination already paused or being deleted is left as it is.
 */
export async function pauseDestination(
  deps: AutoPauseDeps,
  destinationId: string,
  reason: string,
): Promise<boolean> {
  const statusReason = sanitizeReason(`paused by Pushrail: ${reason}`);
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const current = await deps.store.get(destinationId);
    if (current?.desired !== 'ACTIVE') return false;
    const at = (deps.now ?? (() => new Date()))().toISOString();
    const record: DestinationRecord = {
      ...current,
      desired: 'PAUSED',
      statusReason,
      pauseReason: statusReason,
      version: current.version + 1,
      updatedAt: at,
      updatedBy: PUSHRAIL_ITSELF,
    };
    try {
      await deps.store.replace(record, current.version, [
        deps.audit.putItem({
          at,
          who: PUSHRAIL_ITSELF,
          action: 'destination.paused',
          destinationId,
          customerExternalId: current.destination.customerExternalId,
          version: record.version,
          changes: [{ field: 'desired', from: current.desired, to: 'PAUSED' }],
          details: { reason: statusReason },
        }),
      ]);
      return true;
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
    }
  }
  return false;
}
