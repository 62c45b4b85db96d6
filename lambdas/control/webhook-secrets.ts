import { SECRET_MARK } from '../core/audit-diff.js';
import type { DestinationRecord } from '../core/destination-record.js';
import { HttpError, ValidationError } from '../core/errors.js';
import { generateSigningSecret, rotateSecrets, type SigningSecrets } from '../core/webhook-signing.js';
import type { Destination } from '../destinations/index.js';
import type { DestinationInput } from './destination-input.js';
import { withApiKeySecretArn } from './destination-input.js';

/**
 * The secrets of a WEBHOOK destination that the management API keeps (DESIGN.md "Management API"):
 * the Standard Webhooks signing secret, generated on create and answered once, rotated by
 * `rotate-secret` with 24 h of overlap; and an API key posted as `auth.value`, stored like raw
 * access keys. Neither is ever returned again, logged or audited (the audit shows "(changed)").
 */
export interface WebhookSecretStore {
  /** Stores a posted API key (JSON `{"value"}`): a new owned secret, or a new version of `existingArn`. */
  storeApiKey(destinationId: string, value: string, existingArn?: string): Promise<string>;
  storeSigningSecrets(destinationId: string, value: SigningSecrets): Promise<string>;
  readSigningSecrets(destinationId: string): Promise<SigningSecrets | undefined>;
}

/** The signing secret generator (a seam only in name: always `generateSigningSecret`). */
export const newSigningSecret = generateSigningSecret;

/** What a WEBHOOK create adds: its stored secrets, and the audit lines that say so. */
export async function createWebhookSecrets(
  secrets: WebhookSecretStore,
  input: DestinationInput,
): Promise<
  | {
      destination: Destination;
      owned: Pick<DestinationRecord, 'ownedSecretArn' | 'signingSecretArn'>;
      signingSecret: string;
      changes: { field: string; from: null; to: string }[];
    }
  | undefined
> {
  let { destination } = input;
  if (destination.type !== 'WEBHOOK') return undefined;
  const id = destination.id;
  const changes: { field: string; from: null; to: string }[] = [];
  let owned: Pick<DestinationRecord, 'ownedSecretArn' | 'signingSecretArn'> = {};
  if (input.apiKeyValue !== undefined) {
    const arn = await secrets.storeApiKey(id, input.apiKeyValue);
    destination = withApiKeySecretArn(destination, arn);
    owned = { ownedSecretArn: arn };
    changes.push({ field: 'auth.value', from: null, to: SECRET_MARK });
  }
  const signingSecret = newSigningSecret();
  const signingSecretArn = await secrets.storeSigningSecrets(id, { current: signingSecret });
  changes.push({ field: 'signingSecret', from: null, to: SECRET_MARK });
  return { destination, owned: { ...owned, signingSecretArn }, signingSecret, changes };
}

/** Puts `next` in force, the current secret signing beside it for 24 h. */
export async function rotateSigningSecret(
  secrets: WebhookSecretStore,
  destinationId: string,
  next: string,
  now: Date,
): Promise<void> {
  const stored = await secrets.readSigningSecrets(destinationId);
  await secrets.storeSigningSecrets(destinationId, rotateSecrets(stored, next, now));
}

/**
 * The schema lets a webhook `url` be plain http to loopback (the local runtime's receivers); a
 * deployed management API refuses it, as the sender would refuse to dial it.
 */
export function refusePlainHttp(destination: Destination, allowed: boolean): void {
  if (allowed || destination.type !== 'WEBHOOK' || !destination.url.startsWith('http:')) return;
  throw new ValidationError('invalid destination: 1 field to fix', [
    { field: 'url', message: 'url must be https:// (plain http:// is accepted only by the local runtime)' },
  ]);
}

/** rotate-secret is the webhook's signing secret: other kinds rotate credentials with PUT. */
export function refuseUnlessWebhook(destination: Destination): void {
  if (destination.type === 'WEBHOOK') return;
  throw new HttpError(
    409,
    'CONFLICT',
    `rotate-secret rotates the signing secret of a WEBHOOK destination; "${destination.id}" is ${destination.type}: rotate its credentials with PUT /v1/destinations/{id}`,
    [{ field: 'type', message: `is ${destination.type}, not WEBHOOK` }],
  );
}
