import { Aws, Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { encodeDestinationList, REPLAY_ENV } from '../lambdas/core/function-env.js';
import type { DestinationType } from '../lambdas/destinations/index.js';
import { PushrailFunction } from './pushrail-function.js';

/**
 * What the replay function may do, from the calls lambdas/replay makes, and nothing more:
 * - on each DLQ: receive (hiding messages for the run), delete what was moved, un-hide the rest;
 * - on each destination queue: send (SendMessage covers SendMessageBatch);
 * - events table: BatchGetItem (replay by event ids) and Scan (replay of a receivedAt window);
 * - attempts table: GetItem and PutItem of the replay journal, PutItem of the `replayed` records.
 * No GetQueueUrl or GetQueueAttributes: queue URLs are built from QUEUE_URL_BASE and the queue names.
 */
export const REPLAY_PERMISSIONS = {
  dlq: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
  queue: ['sqs:SendMessage'],
  events: ['dynamodb:BatchGetItem', 'dynamodb:Scan'],
  attempts: ['dynamodb:GetItem', 'dynamodb:PutItem'],
} as const;

/** Lambda's longest timeout: a long DLQ move stops 20 s before it, checkpoints, and is invoked again. */
export const REPLAY_TIMEOUT = Duration.minutes(15);
export const REPLAY_MEMORY_MB = 512;

/** A destination as the replay function sees it: its id and type, and its two queues. */
export interface ReplayDestination {
  readonly id: string;
  readonly type: DestinationType;
  readonly queue: IQueue;
  readonly dlq: IQueue;
}

export interface ReplayProps {
  /** Prefix of the physical queue names (`NAME_PREFIX`): the stack name. */
  readonly namePrefix: string;
  /** Every destination of the stack; the function replays to these and no other. */
  readonly destinations: readonly ReplayDestination[];
  /** The event store (`TABLES.events`): read by id or scanned by receivedAt window. */
  readonly eventsTable: ITable;
  /** The audit trail (`TABLES.attempts`): the replay journal and the `replayed` records. */
  readonly attemptsTable: ITable;
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
        // As the ingest function's: a destination's queue URL is this plus its name (core/resources.ts).
        [REPLAY_ENV.queueUrlBase]: `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/`,
        [REPLAY_ENV.namePrefix]: props.namePrefix,
        [REPLAY_ENV.destinations]: encodeDestinationList(props.destinations),
        [REPLAY_ENV.retentionDays]: String(props.retentionDays),
      },
    });
    const fn = this.replayFunction.function;

    props.eventsTable.grant(fn, ...REPLAY_PERMISSIONS.events);
    props.attemptsTable.grant(fn, ...REPLAY_PERMISSIONS.attempts);
    if (props.destinations.length > 0) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: [...REPLAY_PERMISSIONS.dlq],
          resources: props.destinations.map((d) => d.dlq.queueArn),
        }),
      );
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: [...REPLAY_PERMISSIONS.queue],
          resources: props.destinations.map((d) => d.queue.queueArn),
        }),
      );
    }
  }
}
