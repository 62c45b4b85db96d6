import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { tableDeliveryEnvironment } from '../lambdas/core/function-env.js';
import { type DestinationType, KINDS } from '../lambdas/destinations/index.js';
import { type FunctionNetwork, PushrailFunction } from './pushrail-function.js';
import { nagResource, type RuntimeResources } from './runtime-resources.js';

/**
 * What a consumer's function may do with each table, from the calls its adapters make
 * (lambdas/adapters). Explicit actions rather than `grantReadWriteData`: no Scan, Query or
 * BatchWriteItem that no code path uses.
 */
export const DELIVERY_TABLE_ACTIONS = {
  /** adapters/event-store.ts `getRecords`: stored records of a sealed part's members. */
  events: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'],
  /**
   * adapters/attempt-log.ts: one PutItem per attempt, and one UpdateItem of its health rollup
   * (adapters/health-rollups.ts); adapters/trace-log.ts: the trace's receipts and event attempts
   * (BatchWriteItem). Nothing reads the audit trail here.
   */
  attempts: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'],
  /** adapters/seal-store.ts: seals and parts are read, claimed, transitioned and released. */
  seals: [
    'dynamodb:BatchGetItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ],
  /**
   * adapters/destination-source.ts: a batch's destination (`get`) and the catalog version
   * (`catalogVersion`), both GetItem; it never lists the table.
   */
  destinations: ['dynamodb:GetItem'],
  /**
   * control/auto-pause.ts (HTTPS kinds: a webhook's 410): the record replaced and the catalog version
   * bumped in one TransactWriteItems with the audit entry.
   */
  pauses: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  /** The audit entry of a pause Pushrail makes itself, in the same transaction. */
  audit: ['dynamodb:PutItem'],
} as const;

/**
 * What a consumer's event source mappings and its own backoff need on the destination queues
 * (ChangeMessageVisibility is how a transient failure waits). SendMessage (which covers
 * SendMessageBatch) is allowed on the DLQs only: a consumer never re-sends to a work queue.
 */
export const DELIVERY_QUEUE_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
] as const;

/** What every consumer is wired to: the tables, the runtime resources and config-wide settings. */
export interface DeliveryFunctionProps {
  /** The kind this function delivers (its `delivery` descriptor in lambdas/destinations). */
  readonly type: DestinationType;
  /** The vendor of the config (`VENDOR`). */
  readonly vendor: string;
  /** Prefix of the queue names (`NAME_PREFIX`) and the patterns built from it. */
  readonly resources: RuntimeResources;
  /** The destinations at runtime (`TABLES.destinations`): each batch's destination is read here. */
  readonly destinationsTable: ITable;
  /** The event store (`TABLES.events`): its name is in every consumer's environment. */
  readonly eventsTable: ITable;
  /** The S3 seals table (`TABLES.seals`): its name is in every consumer's environment. */
  readonly sealsTable: ITable;
  /** The per-attempt audit trail (`TABLES.attempts`): write only. */
  readonly attemptsTable: ITable;
  /** The audit trail (`TABLES.audit`): HTTPS kinds write the entry of a pause they make themselves. */
  readonly auditTable: ITable;
  /** Days attempt records and seals are kept (DynamoDB TTL). */
  readonly retentionDays: number;
  /**
   * Secrets of ACCESS_KEY destinations that are not Pushrail's own (a `secretArn` given in a
   * destination), as an ARN pattern: the consumer may read these besides the secrets the management
   * API stores under `pushrail/<namePrefix>/`.
   * @default - none: only Pushrail's own secrets
   */
  readonly customerSecretsArnPattern?: string;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * The VPC subnets to deliver from (the egress setting, README "Egress IP").
   * @default - no VPC: AWS's shared addresses
   */
  readonly network?: FunctionNetwork;
}

/**
 * The consumer of one destination kind: one function serves every destination of that kind, each
 * through an event source mapping the provisioner creates on the destination's queue. A batch finds
 * its destination in the destinations table by the queue it came from (`eventSourceARN`).
 *
 * Its role is as tight as destinations known only at run time allow:
 * - Queues: `DELIVERY_QUEUE_ACTIONS` on the stack's queues (by name prefix), SendMessage on its DLQs.
 * - Tables: the actions of `DELIVERY_TABLE_ACTIONS` on the tables its kind uses, and no others.
 * - Customer access: `sts:AssumeRole` on any role (ASSUME_ROLE; the customer's trust policy and the
 *   ExternalId are the guard) and `secretsmanager:GetSecretValue` on Pushrail's own secrets plus
 *   `customerSecretsArnPattern` (ACCESS_KEY). The customer's bucket or bus is reached with those
 *   credentials only, so the role itself holds no S3 or EventBridge permission.
 */
export class DeliveryFunction extends Construct {
  public readonly lambda: PushrailFunction;
  public readonly type: DestinationType;

  public constructor(scope: Construct, id: string, props: DeliveryFunctionProps) {
    super(scope, id);
    this.type = props.type;
    const kind = KINDS[props.type];
    const { delivery } = kind;
    const { resources } = props;

    this.lambda = new PushrailFunction(this, 'Function', {
      entry: delivery.entry,
      serviceName: delivery.serviceName,
      description: `Pushrail ${delivery.label}: delivers every ${kind.title} destination, from its queue`,
      timeout: Duration.seconds(delivery.timeoutSeconds),
      memorySize: delivery.memoryMb,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.network ? { network: props.network } : {}),
      environment: tableDeliveryEnvironment({
        destinationsTable: props.destinationsTable.tableName,
        namePrefix: resources.namePrefix,
        vendor: props.vendor,
        eventsTable: props.eventsTable.tableName,
        sealsTable: props.sealsTable.tableName,
        attemptsTable: props.attemptsTable.tableName,
        retentionDays: props.retentionDays,
        ...(delivery.customerAccess === 'HTTPS' ? { auditTable: props.auditTable.tableName } : {}),
      }),
    });
    const fn = this.lambda.function;

    if (delivery.readsStoredEvents) props.eventsTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.events);
    props.attemptsTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.attempts);
    if (delivery.usesSeals) props.sealsTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.seals);
    const https = delivery.customerAccess === 'HTTPS';
    props.destinationsTable.grant(
      fn,
      ...(https ? DELIVERY_TABLE_ACTIONS.pauses : DELIVERY_TABLE_ACTIONS.destinations),
    );
    if (https) props.auditTable.grant(fn, ...DELIVERY_TABLE_ACTIONS.audit);

    fn.addToRolePolicy(
      new PolicyStatement({ actions: [...DELIVERY_QUEUE_ACTIONS], resources: [resources.queues.arn] }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [resources.deadLetterQueues.arn] }),
    );
    // IAM matches a secret's complete ARN (with the 6-character suffix Secrets Manager appends); the
    // trailing `*` of the patterns covers it.
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [
          resources.ownedSecrets.arn,
          ...(props.customerSecretsArnPattern ? [props.customerSecretsArnPattern] : []),
        ],
      }),
    );
    // An HTTPS kind (webhooks) never enters a customer's account: no role to assume.
    if (delivery.customerAccess === 'AWS') {
      fn.addToRolePolicy(
        new PolicyStatement({ actions: ['sts:AssumeRole'], resources: [resources.customerRoles.arn] }),
      );
    }

    this.acknowledgeNagFindings(props);
  }

  private acknowledgeNagFindings(props: DeliveryFunctionProps): void {
    const { resources } = props;
    const secrets = [nagResource(resources.ownedSecrets)];
    if (props.customerSecretsArnPattern) secrets.push(nagResource(props.customerSecretsArnPattern));
    NagSuppressions.addResourceSuppressions(
      this.lambda.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Destinations are runtime data (the destinations table), so their queues are known by name prefix ' +
            'only: the consumer may consume the queues of its stack (<prefix>-*, which its event source ' +
            'mappings read) and send to the DLQs of its stack (<prefix>-*-dlq), nothing else on SQS.',
          appliesTo: [nagResource(resources.queues), nagResource(resources.deadLetterQueues)],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ACCESS_KEY destinations keep their keys (webhooks: their API key and signing secrets) in Secrets Manager under the prefix Pushrail owns ' +
            '(pushrail/<prefix>/<destination id>, written by the management API), plus the pattern the ' +
            'vendor gave for secrets it keeps itself (customerSecretsArnPattern), if any; read only.',
          appliesTo: secrets,
        },
        ...(KINDS[props.type].delivery.customerAccess === 'AWS'
          ? [
              {
                id: 'AwsSolutions-IAM5',
                reason:
                  'ASSUME_ROLE destinations name the role of their customer at run time, in any account, so no role ' +
                  'ARN can be listed at deploy time. The guard is on the customer side: the trust policy of the role ' +
                  'names the vendor account and requires the ExternalId of the destination (generated by Pushrail, ' +
                  'per AWS confused-deputy guidance), which the consumer sends with every AssumeRole.',
                appliesTo: [nagResource(resources.customerRoles)],
              },
            ]
          : []),
      ],
      true,
    );
  }
}
