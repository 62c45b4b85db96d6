import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { AuditEntry, AuditPage } from '../../lambdas/adapters/audit-log.js';
import { DestinationExistsError, VersionConflictError } from '../../lambdas/adapters/destination-store.js';
import type { AccessKeyPair } from '../../lambdas/adapters/owned-secrets.js';
import type { DestinationRecord } from '../../lambdas/core/destination-record.js';
import type { SigningSecrets } from '../../lambdas/core/webhook-signing.js';
import {
  type Caller,
  type FunctionIdentity,
  lambdaContext,
  proxyEvent,
} from '../../local/api-gateway-event.js';

/** The access key id the local runtime's SigV4 check puts in `identity.accessKey`. */
export const OPERATOR_KEY_ID = 'AKIAOPERATOR00000001';

const CALLER: Caller = { apiKey: 'producer-key', apiKeyId: 'producer-key-id', accountId: '123456789012' };
const FUNCTION: FunctionIdentity = {
  functionName: 'management',
  region: 'us-east-1',
  accountId: '123456789012',
};

export interface RequestOptions {
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /**
   * Who signs: an access key id (local runtime), `{ userArn }` (AWS IAM auth), or null for nobody
   * (a producer's API key alone).
   * @default OPERATOR_KEY_ID
   */
  readonly as?: string | { readonly userArn: string } | null;
}

/** An API Gateway proxy event for a management request, built as the local API server builds it. */
export function managementEvent(
  method: string,
  url: string,
  options: RequestOptions = {},
): APIGatewayProxyEvent {
  const body =
    options.body === undefined
      ? ''
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const headers: Record<string, string> = {
    Host: '127.0.0.1:3000',
    ...(body ? { 'Content-Type': 'application/json' } : {}),
    ...options.headers,
  };
  const event = proxyEvent(
    {
      method,
      url,
      rawHeaders: Object.entries(headers).flat(),
      body,
      sourceIp: '127.0.0.1',
      httpVersion: '1.1',
    },
    CALLER,
  );
  const as = options.as === undefined ? OPERATOR_KEY_ID : options.as;
  const identity = event.requestContext.identity;
  event.requestContext.identity = {
    ...identity,
    apiKey: null,
    apiKeyId: null,
    accessKey: typeof as === 'string' ? as : null,
    userArn: as !== null && typeof as === 'object' ? as.userArn : null,
  };
  return event;
}

export function context(): Context {
  return lambdaContext(FUNCTION, Date.now() + 29_000);
}

export type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface Answer {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers and bodies, read and edited by path in assertions
  readonly body: Record<string, any>;
  readonly raw: string;
}

/** Calls the handler and parses its JSON answer. */
export async function call(
  handler: Handler,
  method: string,
  url: string,
  options?: RequestOptions,
): Promise<Answer> {
  const result = await handler(managementEvent(method, url, options), context());
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
  );
  return { statusCode: result.statusCode, headers, body: JSON.parse(result.body), raw: result.body };
}

/** An in-memory destinations table with the DestinationStore's conditional semantics. */
export class MemoryStore {
  public readonly records = new Map<string, DestinationRecord>();
  /** Every extra transaction item, unmarshalled (the audit entries). */
  public readonly transacted: Record<string, unknown>[] = [];

  public async get(id: string) {
    return structuredClone(this.records.get(id));
  }
  public async list() {
    return [...this.records.values()].map((r) => structuredClone(r));
  }
  public async create(record: DestinationRecord, also: readonly TransactWriteItem[] = []) {
    if (this.records.has(record.destination.id)) throw new DestinationExistsError(record.destination.id);
    this.commit(record, also);
  }
  public async replace(
    record: DestinationRecord,
    expectedVersion: number,
    also: readonly TransactWriteItem[] = [],
  ) {
    if (this.records.get(record.destination.id)?.version !== expectedVersion) {
      throw new VersionConflictError(record.destination.id, expectedVersion);
    }
    this.commit(record, also);
  }
  private commit(record: DestinationRecord, also: readonly TransactWriteItem[]) {
    this.records.set(record.destination.id, structuredClone(record));
    for (const item of also) if (item.Put?.Item) this.transacted.push(unmarshall(item.Put.Item));
  }
}

/** An in-memory audit log: entries land in the store's transaction, as with DynamoDB. */
export class MemoryAudit {
  public constructor(private readonly store: MemoryStore) {}
  public putItem(entry: AuditEntry): TransactWriteItem {
    return { Put: { TableName: 'audit', Item: { entry: { S: JSON.stringify(entry) } } } };
  }
  /** Entries written alone (`append`), as a test send's. */
  public readonly appended: AuditEntry[] = [];
  public async append(entry: AuditEntry): Promise<void> {
    this.appended.push(structuredClone(entry));
  }
  public entries(): AuditEntry[] {
    return [
      ...this.store.transacted.map((i) => JSON.parse(String(i.entry)) as AuditEntry),
      ...this.appended,
    ].sort((a, b) => a.at.localeCompare(b.at));
  }
  public async query(): Promise<AuditPage> {
    return { entries: this.entries().reverse() };
  }
}

export class MemorySecrets {
  public readonly values = new Map<string, AccessKeyPair>();
  public async store(destinationId: string, keys: AccessKeyPair, existingArn?: string): Promise<string> {
    const arn =
      existingArn ??
      `arn:aws:secretsmanager:us-east-1:123456789012:secret:pushrail/test/${destinationId}-AbCdEf`;
    this.values.set(arn, keys);
    return arn;
  }

  public readonly apiKeys = new Map<string, string>();
  public async storeApiKey(destinationId: string, value: string, existingArn?: string): Promise<string> {
    const arn =
      existingArn ??
      `arn:aws:secretsmanager:us-east-1:123456789012:secret:pushrail/test/${destinationId}-AbCdEf`;
    this.apiKeys.set(arn, value);
    return arn;
  }

  public readonly signing = new Map<string, SigningSecrets>();
  public async storeSigningSecrets(destinationId: string, value: SigningSecrets): Promise<string> {
    this.signing.set(destinationId, value);
    return `arn:aws:secretsmanager:us-east-1:123456789012:secret:pushrail/test/${destinationId}/webhook-signing-AbCdEf`;
  }

  public async readSigningSecrets(destinationId: string): Promise<SigningSecrets | undefined> {
    return this.signing.get(destinationId);
  }
}
