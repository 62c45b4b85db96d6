import { Duration, Token } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deliveryEnvironment } from '../lambdas/core/function-env.js';
import type { Destination } from '../lambdas/destinations/index.js';
import { deliverySettings, kindOf } from '../lambdas/destinations/index.js';
import { PushrailFunction } from './pushrail-function.js';

/**
 * What a consumer's function may do with each table, from the calls its adapters make
 * (lambdas/adapters). Explicit actions rather than `grantReadWriteData`: no Scan, Query or
 * BatchWriteItem that no code path uses.
 */
export const DELIVERY_TABLE_ACTIONS = {
  /** adapters/event-store.ts `getRecords`: stored records of a sealed part's members. */
  events: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'],
  /** adapters/attempt-log.ts: one PutItem per attempt; nothing reads the audit trail here. */
  attempts: ['dynamodb:PutItem'],
  /** adapters/seal-store.ts: seals and parts are read, claimed, transitioned and released. */
  seals: [
    'dynamodb:BatchGetItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ],
} as const;

/** Lambda's limit on a function's environment: every name and value together. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * Bytes counted for a value only known at deploy time (a table name, a queue URL): more than either
 * can take (a queue URL is `https://sqs.<region>.amazonaws.com/<account>/` plus at most 80 characters).
 */
const DEPLOY_TIME_VALUE_BYTES = 160;

/** Per variable, room for the quotes and separators of the JSON the limit may be measured on. */
const PER_VARIABLE_BYTES = 6;

/** The variables the house function adds (see PushrailFunction), the service name at 64 bytes. */
const HOUSE_VARIABLES_BYTES =
  'NODE_OPTIONS'.length +
  '--enable-source-maps'.length +
  'POWERTOOLS_SERVICE_NAME'.length +
  64 +
  2 * PER_VARIABLE_BYTES;

/** An upper bound of the deployed size of an environment whose values may be tokens. */
function environmentBytes(environment: Readonly<Record<string, string>>): number {
  let bytes = HOUSE_VARIABLES_BYTES;
  for (const [name, value] of Object.entries(environment)) {
    bytes += Buffer.byteLength(name) + PER_VARIABLE_BYTES;
    // JSON.stringify: a config entry's quotes and backslashes are escaped once more in that JSON.
    bytes += Token.isUnresolved(value) ? DEPLOY_TIME_VALUE_BYTES : Buffer.byteLength(JSON.stringify(value));
  }
  return bytes;
}

/** What every destination consumer is wired to: its queues, the tables, and config-wide settings. */
export interface DeliveryFunctionResources {
  /** The vendor of the config (`VENDOR`). */
  readonly vendor: string;
  /** The destination's work queue, consumed through the event source mapping. */
  readonly queue: IQueue;
  /** The destination's dead-letter queue: the only queue the function sends to. */
  readonly dlq: IQueue;
  /** The event store (`TABLES.events`): its name is in every consumer's environment. */
  readonly eventsTable: ITable;
  /** The S3 seals table (`TABLES.seals`): its name is in every consumer's environment. */
  readonly sealsTable: ITable;
  /** The per-attempt audit trail (`TABLES.attempts`): write only. */
  readonly attemptsTable: ITable;
  /** Days attempt records and seals are kept (DynamoDB TTL). */
  readonly retentionDays: number;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

export interface DeliveryFunctionProps extends DeliveryFunctionResources {
  /**
   * The validated config entry of the destination (passed whole to the function as `DESTINATION`).
   * Its kind (lambdas/destinations/index.ts) gives the handler, timeout, memory, table access and
   * the event source mapping's batching.
   */
  readonly destination: Destination;
}

/**
 * One destination's consumer: a house function on the destination queue, reporting partial batch
 * failures, with a role that can do exactly what delivery to that one destination needs.
 *
 * - Queue: what the event source mapping needs on the work queue (receive, delete, and change
 *   visibility, which the consumer also uses to back off); `sqs:SendMessage` on its own DLQ only.
 * - Tables: the actions of `DELIVERY_TABLE_ACTIONS` on the tables the consumer uses, and no others.
 * - Customer access: `sts:AssumeRole` on the destination's role ARN (ASSUME_ROLE) or
 *   `secretsmanager:GetSecretValue` on its secret ARN (ACCESS_KEY), never both and never a wildcard.
 *   The customer's bucket or bus is reached with those credentials only, so the role itself holds no
 *   S3 or EventBridge permission.
 */
export class DeliveryFunction extends Construct {
  public readonly lambda: PushrailFunction;
  public readonly eventSource: SqsEventSource;

  public constructor(scope: Construct, id: string, props: DeliveryFunctionProps) {
    super(scope, id);
    const { destination } = props;

    const environment = deliveryEnvironment({
      destination,
      vendor: props.vendor,
      eventsTable: props.eventsTable.tableName,
      sealsTable: props.sealsTable.tableName,
      attemptsTable: props.attemptsTable.tableName,
      sourceQueueUrl: props.queue.queueUrl,
      dlqUrl: props.dlq.queueUrl,
      retentionDays: props.retentionDays,
    });
    // The config schema allows entries (100 eventTypes, long ARNs) whose JSON would overflow the
    // environment; failing here names the destination, instead of a rollback halfway through a deploy.
    const bytes = environmentBytes(environment);
    if (bytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
      throw new Error(
        `destination ${destination.id}: its consumer's environment would take up to ${bytes} bytes, over ` +
          `Lambda's ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit; its config entry alone is ` +
          `${Buffer.byteLength(JSON.stringify(destination))} bytes: shorten eventTypes (use "prefix*" patterns)`,
      );
    }

    const { delivery } = kindOf(destination);
    const settings = deliverySettings(destination);
    this.lambda = new PushrailFunction(this, delivery.functionId, {
      entry: delivery.entry,
      serviceName: delivery.serviceName,
      description: delivery.describe(destination),
      timeout: Duration.seconds(settings.timeoutSeconds),
      memorySize: settings.memoryMb,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      environment,
    });
    const fn = this.lambda.function;

    if (delivery.readsStoredEvents) props.eventsTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.events);
    props.attemptsTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.attempts);
    if (delivery.usesSeals) props.sealsTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.seals);

    // Binding grants the consume permissions on this queue only (ReceiveMessage, DeleteMessage,
    // ChangeMessageVisibility, GetQueueAttributes, GetQueueUrl).
    this.eventSource = new SqsEventSource(props.queue, {
      batchSize: settings.batchSize,
      maxBatchingWindow: Duration.seconds(settings.windowSeconds),
      reportBatchItemFailures: true,
      ...(settings.maxConcurrency !== undefined ? { maxConcurrency: settings.maxConcurrency } : {}),
    });
    fn.addEventSource(this.eventSource);

    // SendMessage covers SendMessageBatch. No GetQueueUrl: the DLQ URL is in the environment.
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.dlq.queueArn] }),
    );

    // The secret's complete ARN (with the 6-character suffix Secrets Manager appends) is what IAM
    // matches; the config's secretArn is used as given, so it must be the complete ARN.
    const { auth } = destination;
    fn.addToRolePolicy(
      auth.mode === 'ASSUME_ROLE'
        ? new PolicyStatement({ actions: ['sts:AssumeRole'], resources: [auth.roleArn] })
        : new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [auth.secretArn] }),
    );
  }
}
