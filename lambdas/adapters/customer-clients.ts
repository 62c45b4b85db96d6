import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import type { DestinationAuth } from '../core/config-fields.js';
import { CredentialProvider, type CustomerCredentials } from './credentials.js';
import type { DeliveryOutcome } from './delivery-batch.js';

/** Seams for tests: the clock the assumed-role cache runs on, and the backoff's jitter. */
export interface DeliveryOptions {
  /** Epoch milliseconds; default `Date.now`. The secret cache (Powertools) runs on the system clock. */
  readonly now?: () => number;
  /** A number in [0, 1); default `Math.random`. */
  readonly random?: () => number;
}

/**
 * A destination's SDK client in the customer's account (S3 or EventBridge), for one batch at a time.
 * Each batch asks once, at its start, and keeps what it got: one client per set of credentials, so a
 * rotation reaches the next batch while a batch in flight finishes on the credentials it started with.
 */
export class CustomerClients<C> {
  private readonly credentials: CredentialProvider;
  private current: { credentials: CustomerCredentials; client: C } | undefined;

  public constructor(
    private readonly destinationId: string,
    private readonly auth: DestinationAuth,
    private readonly create: (credentials: CustomerCredentials) => C,
    options: DeliveryOptions = {},
  ) {
    this.credentials = new CredentialProvider(
      new STSClient({}),
      (region) => new SecretsManagerClient(region ? { region } : {}),
      options.now ?? Date.now,
    );
  }

  /** The client for the batch about to start, and the credentials it carries. */
  public async forBatch(): Promise<{ client: C; credentials: CustomerCredentials }> {
    const credentials = await this.credentials.forDestination(this.destinationId, this.auth);
    if (this.current?.credentials !== credentials)
      this.current = { credentials, client: this.create(credentials) };
    return this.current;
  }

  /** After a batch: credentials the customer side called expired are dropped, so the retry gets fresh ones. */
  public afterBatch(outcomes: ReadonlyMap<string, DeliveryOutcome>): void {
    if ([...outcomes.values()].some((o) => !o.ok && o.failure.code.startsWith('ExpiredToken'))) {
      this.credentials.invalidate(this.destinationId);
    }
  }
}
