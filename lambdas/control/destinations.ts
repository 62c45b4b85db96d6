import type { Logger } from '@aws-lambda-powertools/logger';
import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import type { AuditEntry, AuditLog } from '../adapters/audit-log.js';
import {
  DestinationExistsError,
  type DestinationStore,
  VersionConflictError,
} from '../adapters/destination-store.js';
import type { AccessKeyPair } from '../adapters/owned-secrets.js';
import { type AuditChange, auditDiff, SECRET_MARK, secretChange } from '../core/audit-diff.js';
import type { DesiredState, DestinationRecord, DestinationStatus } from '../core/destination-record.js';
import {
  DependencyUnavailableError,
  DestinationConflictError,
  HttpError,
  NotFoundError,
  PreconditionFailedError,
  TestSendUnavailableError,
  ValidationError,
} from '../core/errors.js';
import type { TestAttempt } from '../core/test-send.js';
import type { Destination } from '../destinations/index.js';
import { type CustomerSetup, customerSetup } from './customer-setup.js';
import {
  generateExternalId,
  maskAccessKeyId,
  parseDestinationInput,
  postedKeyFields,
  withApiKeySecretArn,
  withSecretArn,
} from './destination-input.js';
import {
  createWebhookSecrets,
  newSigningSecret,
  refusePlainHttp,
  refuseUnlessWebhook,
  rotateSigningSecret,
  type WebhookSecretStore,
} from './webhook-secrets.js';

/**
 * The management API's use cases over the destinations table (DESIGN.md "Management API"): every
 * operator change bumps the version (the ETag), is written in one transaction with its audit entry
 * (so no change is ever without one, invariant 11), and is then announced to the provisioner.
 *
 * Rotation: an update that changes anything under `auth`, or posts new keys, is recorded as ONE entry
 * with action `destination.credentials-rotated` (not `destination.updated`); its `changes` still list
 * every field it changed, so a rotation that also moved keyPrefix shows both. Filtering the audit
 * trail by `destination.credentials-rotated` thus finds every rotation, and one change is one entry.
 */

/**
 * The test send's port: runs one synthetic event through the destination's real delivery path and
 * answers the attempt. On AWS the kind's consumer function invoked synchronously
 * (adapters/lambda-test-sender.ts); locally the kind's handler in-process (local/local-test-sender.ts).
 * Throws TestSendUnavailableError when the delivery path itself could not run.
 */
export type TestSender = (record: DestinationRecord) => Promise<TestAttempt>;

/** Statuses a test send runs in: the destination is provisioned and not on its way out. */
const TESTABLE: readonly DestinationStatus[] = ['ACTIVE', 'PAUSED'];

export interface ManagementDeps {
  readonly store: Pick<DestinationStore, 'get' | 'list' | 'create' | 'replace'>;
  readonly audit: Pick<AuditLog, 'putItem' | 'append'>;
  /** @default a sender that answers 503 (not configured) */
  readonly testSend?: TestSender;
  readonly secrets: {
    store(destinationId: string, keys: AccessKeyPair, existingArn?: string): Promise<string>;
  } & WebhookSecretStore;
  /** The provisioner's trigger: converge this destination now. Failures are logged, not answered. */
  readonly notify: (destinationId: string) => Promise<void> | void;
  /** The account whose role assumes customers' roles (the trust policy's principal). */
  readonly vendorAccountId: string;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default generateExternalId */
  readonly newExternalId?: () => string;
  /** The local runtime alone: a webhook `url` may be plain http (to loopback). @default false */
  readonly allowPlainHttp?: boolean;
}

/** A destination as the API answers it (GET, list, and after every change). */
export type DestinationView = Destination & {
  readonly status: DestinationStatus;
  readonly statusReason?: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly updatedBy: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
};

export interface ChangeResult {
  readonly view: DestinationView;
  /** WEBHOOK create and rotate-secret: the new signing secret (`whsec_…`), answered this once. */
  readonly signingSecret?: string;
  /** For ASSUME_ROLE bodies without externalId: the policies to hand the customer. */
  readonly customerSetup?: CustomerSetup;
}

/** How often a change without `If-Match` re-reads and re-applies after losing a race (last writer wins). */
const MAX_ATTEMPTS = 3;

export function createDestinationUseCases(deps: ManagementDeps) {
  const now = deps.now ?? (() => new Date());
  const newExternalId = deps.newExternalId ?? generateExternalId;

  async function announce(destinationId: string): Promise<void> {
    try {
      await deps.notify(destinationId);
    } catch (error) {
      // The change is stored; the provisioner's periodic reconcile converges it anyway.
      deps.logger.warn('provisioner notification failed', { destinationId, error });
    }
  }

  function entry(
    record: DestinationRecord,
    who: string,
    action: AuditEntry['action'],
    changes: readonly AuditChange[],
    details?: AuditEntry['details'],
  ): TransactWriteItem {
    return deps.audit.putItem({
      at: record.updatedAt,
      who,
      action,
      destinationId: record.destination.id,
      customerExternalId: record.destination.customerExternalId,
      version: record.version,
      ...(changes.length > 0 ? { changes } : {}),
      ...(details ? { details } : {}),
    });
  }

  async function existing(id: string): Promise<DestinationRecord> {
    const record = await deps.store.get(id);
    if (!record) throw new NotFoundError(`no destination "${id}"`, [{ field: 'id', message: 'not found' }]);
    return record;
  }

  function checkIfMatch(record: DestinationRecord, ifMatch: number | undefined): void {
    if (ifMatch !== undefined && ifMatch !== record.version) {
      throw new PreconditionFailedError(record.destination.id, ifMatch, record.version);
    }
  }

  function refuseWhileDeleting(record: DestinationRecord): void {
    if (record.desired === 'DELETED') {
      throw new HttpError(409, 'CONFLICT', `destination "${record.destination.id}" is being deleted`, [
        { field: 'id', message: 'being deleted' },
      ]);
    }
  }

  /**
   * Applies `change` to the current record with a conditional write. With If-Match a lost race is a
   * 412; without it the change is re-read and re-applied (last writer wins, but never on a stale read).
   */
  async function conditionally<T>(
    id: string,
    ifMatch: number | undefined,
    change: (current: DestinationRecord) => Promise<{ write?: () => Promise<void>; result: T }>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const current = await existing(id);
      checkIfMatch(current, ifMatch);
      const { write, result } = await change(current);
      if (!write) return result;
      try {
        await write();
        await announce(id);
        return result;
      } catch (error) {
        if (!(error instanceof VersionConflictError)) throw error;
        if (ifMatch !== undefined) {
          const latest = await existing(id);
          throw new PreconditionFailedError(id, ifMatch, latest.version, { cause: error });
        }
        if (attempt >= MAX_ATTEMPTS) {
          throw new DependencyUnavailableError(
            `destination "${id}" kept changing under this request; retry`,
            { cause: error },
          );
        }
      }
    }
  }

  async function create(body: unknown, who: string): Promise<ChangeResult> {
    const input = parseDestinationInput(body, newExternalId());
    refusePlainHttp(input.destination, deps.allowPlainHttp === true);
    const id = input.destination.id;
    if (await deps.store.get(id)) throw new DestinationConflictError(id);
    let destination = input.destination;
    let owned: Pick<DestinationRecord, 'ownedSecretArn' | 'maskedAccessKeyId'> = {};
    if (input.accessKeys) {
      // The secret's ARN has a random suffix: it must exist before the record can name it.
      const secretArn = await deps.secrets.store(id, input.accessKeys);
      destination = withSecretArn(destination, secretArn);
      owned = { ownedSecretArn: secretArn, maskedAccessKeyId: maskAccessKeyId(input.accessKeys.accessKeyId) };
    }
    const webhook = await createWebhookSecrets(deps.secrets, input);
    if (webhook) {
      destination = webhook.destination;
      owned = { ...owned, ...webhook.owned };
    }
    const at = now().toISOString();
    const record: DestinationRecord = {
      destination,
      version: 1,
      desired: 'ACTIVE',
      status: 'PROVISIONING',
      createdAt: at,
      updatedAt: at,
      updatedBy: who,
      ...owned,
    };
    const changes = [
      ...auditDiff(undefined, destination),
      ...(input.accessKeys
        ? postedKeyFields(input.accessKeys).map((field) => ({ field, from: null, to: SECRET_MARK }))
        : []),
      ...(webhook?.changes ?? []),
    ];
    try {
      await deps.store.create(record, [entry(record, who, 'destination.created', changes)]);
    } catch (error) {
      if (error instanceof DestinationExistsError) {
        throw new DestinationConflictError(id, { cause: error });
      }
      throw error;
    }
    deps.logger.info('destination created', { destinationId: id, version: 1, who });
    await announce(id);
    const setup = input.externalIdFilled ? customerSetup(destination, deps.vendorAccountId) : undefined;
    return {
      view: viewOf(record),
      ...(setup ? { customerSetup: setup } : {}),
      ...(webhook ? { signingSecret: webhook.signingSecret } : {}),
    };
  }

  async function update(id: string, body: unknown, who: string, ifMatch?: number): Promise<ChangeResult> {
    return conditionally(id, ifMatch, async (current) => {
      refuseWhileDeleting(current);
      checkImmutable(current.destination, body);
      // A body without externalId keeps the one the customer's trust policy already names.
      const keptExternalId =
        current.destination.auth?.mode === 'ASSUME_ROLE' ? current.destination.auth.externalId : undefined;
      const input = parseDestinationInput(body, keptExternalId ?? newExternalId());
      refusePlainHttp(input.destination, deps.allowPlainHttp === true);
      let destination = input.destination;
      let owned: Pick<DestinationRecord, 'ownedSecretArn' | 'maskedAccessKeyId'> = {
        ...(current.ownedSecretArn ? { ownedSecretArn: current.ownedSecretArn } : {}),
        ...(current.maskedAccessKeyId ? { maskedAccessKeyId: current.maskedAccessKeyId } : {}),
      };
      // New keys into the secret Pushrail already owns for this destination: written after the record
      // (same ARN), so a lost race never rotates keys without the entry that records it.
      let rotateAfterWrite: AccessKeyPair | undefined;
      let apiKeyAfterWrite: string | undefined;
      if (input.apiKeyValue !== undefined) {
        // As for keys: into the secret Pushrail owns for it, after the record; or a new one first.
        if (current.ownedSecretArn) {
          apiKeyAfterWrite = input.apiKeyValue;
          destination = withApiKeySecretArn(destination, current.ownedSecretArn);
        } else {
          const secretArn = await deps.secrets.storeApiKey(id, input.apiKeyValue);
          destination = withApiKeySecretArn(destination, secretArn);
          owned = { ...owned, ownedSecretArn: secretArn };
        }
      }
      if (input.accessKeys) {
        if (current.ownedSecretArn) {
          rotateAfterWrite = input.accessKeys;
          destination = withSecretArn(destination, current.ownedSecretArn);
        } else {
          const secretArn = await deps.secrets.store(id, input.accessKeys);
          destination = withSecretArn(destination, secretArn);
          owned = { ownedSecretArn: secretArn };
        }
        owned = { ...owned, maskedAccessKeyId: maskAccessKeyId(input.accessKeys.accessKeyId) };
      } else if (
        destination.auth?.mode !== 'ACCESS_KEY' ||
        destination.auth.secretArn !== current.ownedSecretArn
      ) {
        // The owned secret stays recorded (the provisioner deletes it with the destination), but no
        // key of it is in use any more.
        const { maskedAccessKeyId: _unused, ...rest } = owned;
        owned = rest;
      }
      const changes = [
        ...auditDiff(current.destination, destination),
        ...(input.accessKeys ? postedKeyFields(input.accessKeys).map(secretChange) : []),
        ...(input.apiKeyValue === undefined ? [] : [secretChange('auth.value')]),
      ];
      const setup = input.externalIdFilled ? customerSetup(destination, deps.vendorAccountId) : undefined;
      if (changes.length === 0) {
        // Nothing differs (an `apply` of an unchanged file): no new version, no entry, no provisioning.
        return { result: { view: viewOf(current), ...(setup ? { customerSetup: setup } : {}) } };
      }
      const record: DestinationRecord = {
        ...withoutOwned(current),
        destination,
        version: current.version + 1,
        updatedAt: now().toISOString(),
        updatedBy: who,
        ...owned,
      };
      const rotated =
        input.accessKeys !== undefined ||
        input.apiKeyValue !== undefined ||
        changes.some((c) => c.field.startsWith('auth.'));
      const action = rotated ? 'destination.credentials-rotated' : 'destination.updated';
      return {
        result: { view: viewOf(record), ...(setup ? { customerSetup: setup } : {}) },
        write: async () => {
          await deps.store.replace(record, current.version, [entry(record, who, action, changes)]);
          if (rotateAfterWrite) await deps.secrets.store(id, rotateAfterWrite, current.ownedSecretArn);
          if (apiKeyAfterWrite !== undefined)
            await deps.secrets.storeApiKey(id, apiKeyAfterWrite, current.ownedSecretArn);
          deps.logger.info('destination changed', {
            destinationId: id,
            version: record.version,
            action,
            who,
          });
        },
      };
    });
  }

  function setDesired(
    desired: DesiredState,
    action: 'destination.paused' | 'destination.resumed',
  ): (id: string, who: string, ifMatch?: number) => Promise<DestinationView> {
    return (id, who, ifMatch) =>
      conditionally(id, ifMatch, async (current) => {
        refuseWhileDeleting(current);
        if (current.desired === desired) return { result: viewOf(current) };
        // A resume ends a pause Pushrail made itself: its reason goes with it.
        const { pauseReason: _pauseReason, ...kept } = current;
        const record: DestinationRecord = {
          ...(desired === 'ACTIVE' ? kept : current),
          desired,
          version: current.version + 1,
          updatedAt: now().toISOString(),
          updatedBy: who,
        };
        const changes = [{ field: 'desired', from: current.desired, to: desired }];
        return {
          result: viewOf(record),
          write: async () => {
            await deps.store.replace(record, current.version, [entry(record, who, action, changes)]);
            deps.logger.info('destination changed', {
              destinationId: id,
              version: record.version,
              action,
              who,
            });
          },
        };
      });
  }

  /** Stops routing at once; the provisioner drains (or, forced, dead-letters) and removes. Idempotent. */
  async function remove(id: string, who: string, force: boolean, ifMatch?: number): Promise<DestinationView> {
    return conditionally(id, ifMatch, async (current) => {
      const forceDelete = force || current.forceDelete === true;
      if (current.desired === 'DELETED' && forceDelete === (current.forceDelete === true)) {
        return { result: viewOf(current) };
      }
      const record: DestinationRecord = {
        ...current,
        desired: 'DELETED',
        ...(forceDelete ? { forceDelete: true } : {}),
        version: current.version + 1,
        updatedAt: now().toISOString(),
        updatedBy: who,
      };
      const changes =
        current.desired === 'DELETED' ? [] : [{ field: 'desired', from: current.desired, to: 'DELETED' }];
      return {
        result: viewOf(record),
        write: async () => {
          await deps.store.replace(record, current.version, [
            entry(record, who, 'destination.deleted', changes, { force: forceDelete }),
          ]);
          deps.logger.info('destination deleted', { destinationId: id, version: record.version, force, who });
        },
      };
    });
  }

  async function get(id: string): Promise<DestinationView> {
    return viewOf(await existing(id));
  }

  async function list(customerExternalId?: string): Promise<DestinationView[]> {
    const records = await deps.store.list();
    return records
      .filter(
        (r) => customerExternalId === undefined || r.destination.customerExternalId === customerExternalId,
      )
      .sort((a, b) => a.destination.id.localeCompare(b.destination.id))
      .map(viewOf);
  }

  /**
   * `POST /v1/destinations/{id}/test`: one synthetic event through the real delivery path, answered
   * with the attempt, and a `destination.tested` entry (outcome and error code only: the reason may
   * quote the customer's side at length, and it is in the answer and the attempts table anyway).
   *
   * Only ACTIVE and PAUSED destinations are tested (409 otherwise): before the provisioner has made
   * one ACTIVE its record may still change under the test, a FAILED one has a fault on Pushrail's
   * side that no customer setup fixes, and a deleted one is leaving. PAUSED is tested on purpose:
   * checking a customer's fix before resuming is what the test is for.
   */
  async function test(id: string, who: string): Promise<TestAttempt> {
    const record = await existing(id);
    refuseWhileDeleting(record);
    if (!TESTABLE.includes(record.status)) {
      const reason = record.status === 'FAILED' && record.statusReason ? `: ${record.statusReason}` : '';
      throw new HttpError(
        409,
        'CONFLICT',
        `destination "${id}" is ${record.status}${reason}; a test send needs it ACTIVE or PAUSED` +
          (record.status === 'PROVISIONING' ? ' (retry in a few seconds)' : ''),
        [{ field: 'status', message: `is ${record.status}` }],
      );
    }
    const attempt = await (deps.testSend ?? notConfigured)(record);
    await deps.audit.append({
      at: now().toISOString(),
      who,
      action: 'destination.tested',
      destinationId: id,
      customerExternalId: record.destination.customerExternalId,
      version: record.version,
      details: {
        outcome: attempt.outcome,
        ...(attempt.errorCode ? { errorCode: attempt.errorCode } : {}),
        ...(attempt.failureClass ? { failureClass: attempt.failureClass } : {}),
      },
    });
    deps.logger.info('destination tested', {
      destinationId: id,
      who,
      outcome: attempt.outcome,
      ...(attempt.errorCode ? { errorCode: attempt.errorCode } : {}),
    });
    return attempt;
  }

  /**
   * `POST /v1/destinations/{id}/rotate-secret`: a new signing secret for a WEBHOOK destination,
   * answered once; the old one keeps signing beside it for 24 h (control/webhook-secrets.ts). One
   * `destination.credentials-rotated` entry, the secrets shown as "(changed)". Other kinds: 409.
   */
  async function rotateSecret(id: string, who: string, ifMatch?: number): Promise<ChangeResult> {
    return conditionally(id, ifMatch, async (current) => {
      refuseWhileDeleting(current);
      refuseUnlessWebhook(current.destination);
      const record: DestinationRecord = {
        ...current,
        version: current.version + 1,
        updatedAt: now().toISOString(),
        updatedBy: who,
      };
      const signingSecret = newSigningSecret();
      return {
        result: { view: viewOf(record), signingSecret },
        write: async () => {
          // The record first: a lost race rotates nothing. The sender rebuilds its connection on the new
          // version and reads the secrets afresh; meanwhile the old secret signs, as it does for 24 h.
          await deps.store.replace(record, current.version, [
            entry(record, who, 'destination.credentials-rotated', [secretChange('signingSecret')], {
              previousSigningHours: 24,
            }),
          ]);
          await rotateSigningSecret(deps.secrets, id, signingSecret, now());
          deps.logger.info('destination changed', {
            destinationId: id,
            version: record.version,
            action: 'destination.credentials-rotated',
            who,
          });
        },
      };
    });
  }

  return {
    create,
    get,
    list,
    test,
    update,
    rotateSecret,
    pause: setDesired('PAUSED', 'destination.paused'),
    resume: setDesired('ACTIVE', 'destination.resumed'),
    remove,
  };
}

export type DestinationUseCases = ReturnType<typeof createDestinationUseCases>;

const notConfigured: TestSender = async () => {
  throw new TestSendUnavailableError('the test send is not configured on this deployment; retry later');
};

/** `type` and `id` name the destination's resources and its queue: they never change in place. */
function checkImmutable(current: Destination, body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return; // the schema says why
  const fields = body as Record<string, unknown>;
  for (const field of ['id', 'type'] as const) {
    if (fields[field] !== undefined && fields[field] !== current[field]) {
      throw new ValidationError(`${field} cannot change: delete the destination and create a new one`, [
        { field, message: `is immutable (is ${JSON.stringify(current[field])})` },
      ]);
    }
  }
}

function withoutOwned(record: DestinationRecord): DestinationRecord {
  const { ownedSecretArn: _a, maskedAccessKeyId: _m, ...rest } = record;
  return rest;
}

/** The answer for a record: the destination (keys masked) and its state. */
export function viewOf(record: DestinationRecord): DestinationView {
  const { destination } = record;
  const auth =
    destination.auth?.mode === 'ACCESS_KEY' &&
    record.maskedAccessKeyId &&
    destination.auth.secretArn === record.ownedSecretArn
      ? { ...destination.auth, accessKeyId: record.maskedAccessKeyId }
      : destination.auth;
  return {
    ...destination,
    auth,
    // A requested delete shows as DELETING at once, until the provisioner removes the record.
    status: record.desired === 'DELETED' ? 'DELETING' : record.status,
    ...(record.statusReason ? { statusReason: record.statusReason } : {}),
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    updatedBy: record.updatedBy,
    ...(record.queueUrl ? { queueUrl: record.queueUrl } : {}),
    ...(record.dlqUrl ? { dlqUrl: record.dlqUrl } : {}),
  } as DestinationView;
}
