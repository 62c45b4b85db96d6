import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { PushrailConfig } from '../lambdas/core/config.js';
import { deadLetterQueueAttributes, destinationQueueAttributes } from '../lambdas/core/destination-queues.js';
import { localTableName, queueNames, TABLE_LIST, type TableDescription } from '../lambdas/core/resources.js';
import type { Destination, ProvisionedDestination } from '../lambdas/destinations/index.js';
import { clientConfig, type EmulatorTarget } from './aws-clients.js';
import { customerAccess } from './customer-credentials.js';
import { accountMismatch, ensureAccessKeySecret } from './customer-resources.js';
import { loadCustomerSideModule } from './kind-modules.js';
import { ensureNotificationsInbox } from './notifications.js';
import { ensureQueue, queueArn } from './queues.js';

/**
 * Idempotent provisioning of everything a config needs, against an emulator endpoint: Pushrail's own
 * tables and queues, built from the same description (core/resources.ts) as the CDK stack, and each
 * destination's customer side. Running it again against the same endpoint changes nothing and keeps
 * the data.
 */

export interface Provisioned {
  /** The account Pushrail's own resources are in (the emulator's account for the ambient keys). */
  readonly accountId: string;
  /** Queue URL base ending in `/`; a queue's URL is this plus its name (INGEST_ENV.queueUrlBase). */
  readonly queueUrlBase: string;
  /** Table name by role. */
  readonly tables: Readonly<Record<string, string>>;
  readonly destinations: Readonly<Record<string, ProvisionedDestination>>;
  /**
   * The inbox of the vendor's default bus: health changes land here (local/notifications.ts). Always
   * set by `provision`; optional for the tests that describe a provisioned runtime by hand.
   */
  readonly notificationsQueueUrl?: string;
  /** Things that did not go as configured but do not stop the local runtime. */
  readonly warnings: readonly string[];
}

export interface ProvisionOptions {
  readonly config: PushrailConfig;
  readonly namePrefix: string;
  /** The emulator, with Pushrail's (the vendor's) region and credentials. */
  readonly target: EmulatorTarget;
}

export async function provision(options: ProvisionOptions): Promise<Provisioned> {
  const { config, namePrefix, target } = options;
  const accountId = await callerAccount(target);
  const warnings: string[] = [];

  const dynamodb = new DynamoDBClient(clientConfig(target));
  const sqs = new SQSClient(clientConfig(target));
  try {
    const tables = Object.fromEntries(
      await Promise.all(
        TABLE_LIST.map(
          async (table) => [table.role, await ensureTable(dynamodb, namePrefix, table)] as const,
        ),
      ),
    );
    const destinations = Object.fromEntries(
      await Promise.all(
        config.destinations.map(
          async (d) => [d.id, await provisionDestination(d, namePrefix, target, sqs, warnings)] as const,
        ),
      ),
    );
    const notificationsQueueUrl = await ensureNotificationsInbox(namePrefix, target);
    return {
      accountId,
      notificationsQueueUrl,
      queueUrlBase: `${target.endpoint.replace(/\/+$/, '')}/${accountId}/`,
      tables,
      destinations,
      warnings,
    };
  } finally {
    dynamodb.destroy();
    sqs.destroy();
  }
}

async function callerAccount(target: EmulatorTarget): Promise<string> {
  const sts = new STSClient(clientConfig(target));
  try {
    const { Account } = await sts.send(new GetCallerIdentityCommand({}));
    if (!Account) throw new Error(`STS at ${target.endpoint} returned no account`);
    return Account;
  } finally {
    sts.destroy();
  }
}

/** Creates the table if it is missing, checks an existing one has the same key, and enables TTL. */
async function ensureTable(
  dynamodb: DynamoDBClient,
  namePrefix: string,
  table: TableDescription,
): Promise<string> {
  const TableName = localTableName(namePrefix, table);
  const keys = [
    { AttributeName: table.partitionKey, KeyType: 'HASH' as const },
    ...(table.sortKey ? [{ AttributeName: table.sortKey, KeyType: 'RANGE' as const }] : []),
  ];
  const indexes = (table.globalIndexes ?? []).map(
    (index): GlobalSecondaryIndex => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projected] },
    }),
  );
  const attributes = [
    ...new Set([
      ...keys.map((k) => k.AttributeName),
      ...indexes.flatMap((i) => (i.KeySchema ?? []).map((k) => k.AttributeName as string)),
    ]),
  ].map((AttributeName) => ({ AttributeName, AttributeType: 'S' as const }));
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: keys,
        AttributeDefinitions: attributes,
        ...(indexes.length > 0 ? { GlobalSecondaryIndexes: indexes } : {}),
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName }));
    const existing = JSON.stringify(Table?.KeySchema?.map((k) => [k.AttributeName, k.KeyType]));
    const wanted = JSON.stringify(keys.map((k) => [k.AttributeName, k.KeyType]));
    if (existing !== wanted) {
      throw new Error(
        `table ${TableName} exists with key ${existing}, but Pushrail needs ${wanted}: delete it or use another PUSHRAIL_NAME_PREFIX`,
      );
    }
    // A table made by an older version keeps its data and gets the indexes it lacks.
    const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
    for (const index of indexes.filter((i) => !present.has(i.IndexName))) {
      await dynamodb.send(
        new UpdateTableCommand({
          TableName,
          AttributeDefinitions: attributes,
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        }),
      );
    }
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60 }, { TableName });

  const { TimeToLiveDescription: ttl } = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName }));
  // UpdateTimeToLive fails when TTL is already on, so only ask when it is not.
  if (ttl?.TimeToLiveStatus !== 'ENABLED' && ttl?.TimeToLiveStatus !== 'ENABLING') {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName,
        TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
      }),
    );
  }
  return TableName;
}

async function provisionDestination(
  destination: Destination,
  namePrefix: string,
  target: EmulatorTarget,
  sqs: SQSClient,
  warnings: string[],
): Promise<ProvisionedDestination> {
  const names = queueNames(namePrefix, destination.id);
  const dlqUrl = await ensureQueue(sqs, names.dlq, deadLetterQueueAttributes());
  const queueUrl = await ensureQueue(
    sqs,
    names.queue,
    destinationQueueAttributes(destination, await queueArn(sqs, dlqUrl)),
  );

  if (destination.auth?.mode === 'ACCESS_KEY') {
    // Best effort: the secret only matters once a destination Lambda reads it, and a failure here
    // should not keep the API from starting.
    try {
      await ensureAccessKeySecret(destination.auth.secretArn, target);
    } catch (error) {
      warnings.push(
        `destination ${destination.id}: could not create the local secret for ${destination.auth.secretArn}: ${(error as Error).message}`,
      );
    }
  }

  const customer = await customerAccess(destination, target);
  if (destination.auth?.mode === 'ASSUME_ROLE') {
    const mismatch = accountMismatch(destination.id, destination.auth.roleArn, customer);
    if (mismatch) warnings.push(mismatch);
  }

  const { provisionCustomerSide } = await loadCustomerSideModule(destination);
  const fields = await provisionCustomerSide(destination, {
    customer,
    target,
    warn: (message) => warnings.push(message),
  });
  // The kind's customer side answers exactly its descriptor's `local.fields`.
  return { type: destination.type, queueUrl, dlqUrl, ...fields } as ProvisionedDestination;
}
