import { Aws, Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { REPLAY_ENV } from '../lambdas/core/function-env.js';
import { PushrailFunction } from './pushrail-function.js';
import { nagResource, type RuntimeResources } from './runtime-resources.js';

/**
 * What the replay function may do, from the calls lambdas/replay makes, and nothing more:
 * - on the DLQs: receive (hiding messages for the run), delete what was moved, un-hide the rest;
 * - on the destination queues: send (SendMessage covers SendMessageBatch);
 * - events table: BatchGetItem (replay by event ids) and Scan (replay of a receivedAt window);
 * - attempts table: GetItem and PutItem of the replay journal, PutItem of the `replayed` records,
 *   BatchWriteItem of the trace's per-event `replayed` items (adapters/trace-log.ts);
 * - destinations table: read a destination (GetItem) or all of them (Scan, DestinationStore.list);
 * - audit table: the replay.started and replay.finished entries (PutItem).
 * No GetQueueUrl or GetQueueAttributes: queue URLs are built from QUEUE_URL_BASE and the queue names.
 * Queues are runtime data, so they are scoped by the stack's name prefix (RuntimeResources).
 */
export const REPLAY_PERMISSIONS = {
  dlq: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
  queue: ['sqs:SendMessage'],
  events: ['dynamodb:BatchGetItem', 'dynamodb:Scan'],
  /** The replay journal, the attempt records with their health rollup (UpdateItem), and the trace's records. */
  attempts: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'],
  destinations: ['dynamodb:GetItem', 'dynamodb:Scan'],
  audit: ['dynamodb:PutItem'],
} as const;

/** Lambda's longest timeout: a long DLQ move stops 20 s before it, checkpoints, and is invoked again. */
export const REPLAY_TIMEOUT = Duration.minutes(15);
export const REPLAY_MEMORY_MB = 512;

export interface ReplayProps {
  /** Prefix of the physical queue names (`NAME_PREFIX`) and the patterns built from it. */
  readonly resources: RuntimeResources;
  /** The destinations at runtime (`TABLES.destinations`): which destinations exist, and their kinds. */
  readonly destinationsTable: ITable;
  /** The event store (`TABLES.events`): read by id or scanned by receivedAt window. */
  readonly eventsTable: ITable;
  /** The attempt records (`TABLES.attempts`): the replay journal and the `replayed` records. */
  readonly attemptsTable: ITable;
  /** The audit trail of changes (`TABLES.audit`): replay.started and replay.finished. */
  readonly auditTable: ITable;
  /** Days the journal and attempt records are kept (DynamoDB TTL). */
  readonly retentionDays: number;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The on-call replay function (DESIGN.md "Replay"), one per stack, serving every destination. It is
 * invoked directly (`npx pushrail replay`, or `aws lambda invoke` with the JSON request): no trigger,
 * no URL. Its name is the stack output `ReplayFunctionName`.
 */
export class Replay extends Construct {
  public readonly replayFunction: PushrailFunction;

  public constructor(scope: Construct, id: string, props: ReplayProps) {
    super(scope, id);
    const { resources } = props;
    this.replayFunction = new PushrailFunction(this, 'ReplayFunction', {
      entry: 'lambdas/replay/handler.ts',
      serviceName: 'pushrail-replay',
      description:
        "Pushrail replay: moves a destination's DLQ, a time window or single events back to its queue",
      timeout: REPLAY_TIMEOUT,
      memorySize: REPLAY_MEMORY_MB,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      environment: {
        [REPLAY_ENV.eventsTable]: props.eventsTable.tableName,
        [REPLAY_ENV.attemptsTable]: props.attemptsTable.tableName,
        [REPLAY_ENV.destinationsTable]: props.destinationsTable.tableName,
        [REPLAY_ENV.auditTable]: props.auditTable.tableName,
        // As the ingest function's: a destination's queue URL is this plus its name (core/resources.ts).
        [REPLAY_ENV.queueUrlBase]: `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/`,
        [REPLAY_ENV.namePrefix]: resources.namePrefix,
        [REPLAY_ENV.retentionDays]: String(props.retentionDays),
      },
    });
    const fn = this.replayFunction.function;

    props.eventsTable.grant(fn, ...REPLAY_PERMISSIONS.events);
    props.attemptsTable.grant(fn, ...REPLAY_PERMISSIONS.attempts);
    props.destinationsTable.grant(fn, ...REPLAY_PERMISSIONS.destinations);
    props.auditTable.grant(fn, ...REPLAY_PERMISSIONS.audit);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...REPLAY_PERMISSIONS.dlq],
        resources: [resources.deadLetterQueues.arn],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({ actions: [...REPLAY_PERMISSIONS.queue], resources: [resources.queues.arn] }),
    );

    NagSuppressions.addResourceSuppressions(
      this.replayFunction.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Destinations are runtime data, so their queues are known by the stack's name prefix only: replay " +
            'moves messages out of the DLQs (<prefix>-*-dlq) and sends them to the work queues (<prefix>-*).',
          appliesTo: [nagResource(resources.deadLetterQueues), nagResource(resources.queues)],
        },
      ],
      true,
    );
  }
}
